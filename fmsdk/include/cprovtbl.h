/* The vendor name for the patchable Cryptoki table's type. */
#ifndef SFM_VENDOR_CPROVTBL_H
#define SFM_VENDOR_CPROVTBL_H
#include "sfm_cprov.h"
#endif
