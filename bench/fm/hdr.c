/* The benchmark FM's header. */
#include <mkfmhdr.h>

#include "benchfm.h"

DEFINE_FM_HEADER(BENCHFM_NUMBER, FM_MAKE_VERSION(1, 0), 1, "softfm bench", BENCHFM_NAME);
