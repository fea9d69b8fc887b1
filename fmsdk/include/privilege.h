/* CT_SetPrivilegeLevel. */
#ifndef SFM_VENDOR_PRIVILEGE_H
#define SFM_VENDOR_PRIVILEGE_H
#include "sfm_fm.h"
#endif
