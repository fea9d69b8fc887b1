/* The vendor name for OS_GetCprovFuncTable. */
#ifndef SFM_VENDOR_CPROVPCH_H
#define SFM_VENDOR_CPROVPCH_H
#include "sfm_cprov.h"
#endif
