/* The MD API for host programs. */
#ifndef SFM_VENDOR_MD_H
#define SFM_VENDOR_MD_H
#include "sfm_md.h"
#endif
