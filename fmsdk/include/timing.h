/* THR_TIME measurements. */
#ifndef SFM_VENDOR_TIMING_H
#define SFM_VENDOR_TIMING_H
#include "sfm_fm.h"
#endif
