/* The FM header type. */
#ifndef SFM_VENDOR_FMHDR_H
#define SFM_VENDOR_FMHDR_H
#include "sfm_fm.h"
#endif
