/* FM_RV codes. */
#ifndef SFM_VENDOR_FM_COMMON_FMERR_H
#define SFM_VENDOR_FM_COMMON_FMERR_H
#include "../../sfm_fm.h"
#endif
