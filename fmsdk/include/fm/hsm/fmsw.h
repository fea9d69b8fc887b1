/* Luna-style dispatch registration. */
#ifndef SFM_VENDOR_FM_HSM_FMSW_H
#define SFM_VENDOR_FM_HSM_FMSW_H
#include "../../sfm_fm.h"
#endif
