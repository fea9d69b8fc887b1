/* cprovpch.h (Luna layout). */
#ifndef SFM_VENDOR_FM_HSM_CPROVPCH_H
#define SFM_VENDOR_FM_HSM_CPROVPCH_H
#include "../../cprovpch.h"
#endif
