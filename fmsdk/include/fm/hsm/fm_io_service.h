/* Luna stream-model I/O (SVC_IO_*). */
#ifndef SFM_VENDOR_FM_HSM_FM_IO_SERVICE_H
#define SFM_VENDOR_FM_HSM_FM_IO_SERVICE_H
#include "../../sfm_fm.h"
#endif
