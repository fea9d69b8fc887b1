/* Luna-style FM entry header. */
#ifndef SFM_VENDOR_FM_HSM_FM_H
#define SFM_VENDOR_FM_HSM_FM_H
#include "../../sfm_fm.h"
#include "../../cryptoki.h"
#endif
