/* The stream FM's header (Luna style). */
#include <mkfmhdr.h>

#include "stream.h"

DEFINE_FM_HEADER(STREAM_FM_NUMBER, FM_MAKE_VERSION(1, 0), 1, "softfm samples", STREAM_FM_NAME);
