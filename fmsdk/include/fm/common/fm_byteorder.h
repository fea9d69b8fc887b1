/* Byte order helpers (fm_htobe16 ...). */
#ifndef SFM_VENDOR_FM_COMMON_FM_BYTEORDER_H
#define SFM_VENDOR_FM_COMMON_FM_BYTEORDER_H
#include "../../sfm_byteorder.h"
#endif
