/* The login FM's header. */
#include <mkfmhdr.h>

#include "login.h"

DEFINE_FM_HEADER(LOGIN_FM_NUMBER, FM_MAKE_VERSION(1, 0), 1, "softfm samples", LOGIN_FM_NAME);
