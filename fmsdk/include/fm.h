/* PTK-style FM entry header: the FM interface and Cryptoki. */
#ifndef SFM_VENDOR_FM_H
#define SFM_VENDOR_FM_H
#include "sfm_fm.h"
#include "cryptoki.h"
#endif
