/* AppId of the caller. */
#ifndef SFM_VENDOR_FM_HSM_FMAPPID_H
#define SFM_VENDOR_FM_HSM_FMAPPID_H
#include "../../sfm_fm.h"
#endif
