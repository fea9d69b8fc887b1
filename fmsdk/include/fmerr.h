/* FM_RV codes. */
#ifndef SFM_VENDOR_FMERR_H
#define SFM_VENDOR_FMERR_H
#include "sfm_fm.h"
#endif
