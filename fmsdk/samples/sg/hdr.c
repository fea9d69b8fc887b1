/* The sg FM's header (PTK style). */
#include <mkfmhdr.h>

#include "sg.h"

DEFINE_FM_HEADER(SG_FM_NUMBER, FM_MAKE_VERSION(1, 0), 1, "softfm samples", SG_FM_NAME);
