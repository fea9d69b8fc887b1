/* SVC_* service calls on a request. */
#ifndef SFM_VENDOR_CSA8HIFACE_H
#define SFM_VENDOR_CSA8HIFACE_H
#include "sfm_fm.h"
#endif
