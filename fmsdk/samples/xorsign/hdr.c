/* The xorsign FM's header. */
#include <mkfmhdr.h>

#include "xorsign.h"

DEFINE_FM_HEADER(XORSIGN_FM_NUMBER, FM_MAKE_VERSION(1, 00), 1, "softfm samples", XORSIGN_FM_NAME);
