/* FM numbers. */
#ifndef SFM_VENDOR_CSA8FM_H
#define SFM_VENDOR_CSA8FM_H
#include "sfm_fm.h"
#endif
