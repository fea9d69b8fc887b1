/* The crypto FM's header. */
#include <mkfmhdr.h>

#include "crypto.h"

DEFINE_FM_HEADER(CRYPTO_FM_NUMBER, FM_MAKE_VERSION(1, 0), 1, "softfm samples", CRYPTO_FM_NAME);
