/* The SMFS (Luna layout). */
#ifndef SFM_VENDOR_FM_HSM_FMSMFS_H
#define SFM_VENDOR_FM_HSM_FMSMFS_H
#include "../../fmsmfs.h"
#endif
