/* Trace output. */
#ifndef SFM_VENDOR_FM_HSM_FMDEBUG_H
#define SFM_VENDOR_FM_HSM_FMDEBUG_H
#include "../../sfm_fm.h"
#endif
