/* The restrict FM's header. */
#include <mkfmhdr.h>

#include "restrict.h"

DEFINE_FM_HEADER(RESTRICT_FM_NUMBER, FM_MAKE_VERSION(1, 00), 1, "softfm samples", RESTRICT_FM_NAME);
