/* CT_SetPrivilegeLevel. */
#ifndef SFM_VENDOR_FM_HSM_PRIVILEGE_H
#define SFM_VENDOR_FM_HSM_PRIVILEGE_H
#include "../../sfm_fm.h"
#endif
