/* MD_RvAsString. */
#ifndef SFM_VENDOR_FM_HOST_MDSTRINGS_H
#define SFM_VENDOR_FM_HOST_MDSTRINGS_H
#include "../../sfm_md.h"
#endif
