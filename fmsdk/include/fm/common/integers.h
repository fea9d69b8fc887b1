/* Fixed-width integer types. */
#ifndef SFM_VENDOR_FM_COMMON_INTEGERS_H
#define SFM_VENDOR_FM_COMMON_INTEGERS_H
#include <stdint.h>
#endif
