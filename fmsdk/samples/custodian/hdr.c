/* The key custodian FM's header. */
#include <mkfmhdr.h>

#include "custodian.h"

DEFINE_FM_HEADER(CUSTODIAN_FM_NUMBER, FM_MAKE_VERSION(1, 0), 1, "softfm samples",
                 CUSTODIAN_FM_NAME);
