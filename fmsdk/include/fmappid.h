/* AppId, Pid and Oid of the caller. */
#ifndef SFM_VENDOR_FMAPPID_H
#define SFM_VENDOR_FMAPPID_H
#include "sfm_fm.h"
#endif
