/* Dispatch registration. */
#ifndef SFM_VENDOR_FMSW_H
#define SFM_VENDOR_FMSW_H
#include "sfm_fm.h"
#endif
