/* DEFINE_FM_HEADER and FM_MAKE_VERSION. */
#ifndef SFM_VENDOR_MKFMHDR_H
#define SFM_VENDOR_MKFMHDR_H
#include "sfm_fm.h"
#endif
