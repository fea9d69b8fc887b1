/* HSM states reported by MD_GetHsmState. */
#ifndef SFM_VENDOR_HSMSTATE_H
#define SFM_VENDOR_HSMSTATE_H
#include "sfm_md.h"
#endif
