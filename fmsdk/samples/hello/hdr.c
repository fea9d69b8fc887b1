/* The hello FM's header: its number, version, serial, maker and name. */
#include <mkfmhdr.h>

#include "hello.h"

DEFINE_FM_HEADER(HELLO_FM_NUMBER, FM_MAKE_VERSION(1, 04), 1, "softfm samples", HELLO_FM_NAME);
