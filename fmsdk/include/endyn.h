/* PTK byte order helpers. */
#ifndef SFM_VENDOR_ENDYN_H
#define SFM_VENDOR_ENDYN_H
#include "sfm_byteorder.h"
#endif
