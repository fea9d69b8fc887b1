/* Trace output: dbg_print, dump, debug(). */
#ifndef SFM_VENDOR_FMDEBUG_H
#define SFM_VENDOR_FMDEBUG_H
#include "sfm_fm.h"
#endif
