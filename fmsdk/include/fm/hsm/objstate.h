/* objstate.h (Luna layout). */
#ifndef SFM_VENDOR_FM_HSM_OBJSTATE_H
#define SFM_VENDOR_FM_HSM_OBJSTATE_H
#include "../../objstate.h"
#endif
