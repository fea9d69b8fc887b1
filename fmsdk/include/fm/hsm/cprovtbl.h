/* cprovtbl.h (Luna layout). */
#ifndef SFM_VENDOR_FM_HSM_CPROVTBL_H
#define SFM_VENDOR_FM_HSM_CPROVTBL_H
#include "../../cprovtbl.h"
#endif
