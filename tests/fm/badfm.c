/*
 * FMs that misbehave, for the tests: one source, several images chosen at
 * build time (BADFM_STARTUP_CRASH, BADFM_STARTUP_FAIL, BADFM_UNDEFINED, or
 * the "misc" FM by default), each with its own header.
 */
#include <string.h>

#include <fm.h>
#include <mkfmhdr.h>
#include "fm/common/fm_byteorder.h"

#if defined(BADFM_STARTUP_CRASH)
DEFINE_FM_HEADER(0x0321, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "badstart");
#elif defined(BADFM_STARTUP_FAIL)
DEFINE_FM_HEADER(0x0322, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "badinit");
#elif defined(BADFM_UNDEFINED)
DEFINE_FM_HEADER(0x0323, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "undefined");
extern void no_such_function(void);
#elif defined(BADFM_NEEDS_LIBC)
DEFINE_FM_HEADER(0x0324, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "needslibc");
#else
DEFINE_FM_HEADER(FMID_ALLOCATE_NORM, FM_MAKE_VERSION(1, 0), 1, "softfm tests", "misc");
#endif

enum { MISC_REPLY_TWICE = 1, MISC_OVERFLOW = 2, MISC_LENGTH = 3, MISC_ALL_CLOSED = 4 };

static uint32_t all_closed;

static void reply32(HI_MsgHandle token, uint32_t v)
{
    uint8_t *out = SVC_GetReplyBuffer(token, 4);
    v = fm_htobe32(v);
    if (out)
        memcpy(out, &v, 4);
    SVC_SendReply(token, out ? FM_OK : FM_ERR_OUT_OF_MEMORY);
}

static void dispatch(HI_MsgHandle token, void *req, uint32_t len)
{
    uint32_t cmd = 0;
    if (len >= 4) {
        memcpy(&cmd, req, 4);
        cmd = fm_betoh32(cmd);
    }
    switch (len >= 4 ? cmd : MISC_LENGTH) {
    case MISC_REPLY_TWICE:
        SVC_SendReply(token, FM_OK);
        SVC_SendReply(token, FM_UNSUCCESSFUL);
        break;
    case MISC_OVERFLOW: {
        volatile uint8_t *out = SVC_GetReplyBuffer(token, 16);
        for (uint32_t i = 0; out; i += 4096)
            out[i] = 0xEE; /* far past the end: the FM's process dies, not the HSM */
        break;
    }
    case MISC_ALL_CLOSED:
        reply32(token, all_closed);
        break;
    default:
        reply32(token, len);
    }
}

static void host_event(FMSW_HostEvent_t event)
{
    if (event == FMSW_EVENT_ALL_APPS_CLOSED)
        all_closed++;
}

FM_RV Startup(void)
{
#if defined(BADFM_STARTUP_CRASH)
    *(volatile int *)(uintptr_t)GetFMID() = 1;
#elif defined(BADFM_STARTUP_FAIL)
    return FM_UNSUCCESSFUL;
#elif defined(BADFM_UNDEFINED)
    no_such_function();
#endif
    if (FMSW_RegisterDispatch(GetFMID(), dispatch) != FMSW_OK ||
        FMSW_RegisterDispatch(GetFMID(), dispatch) != FMSW_ALREADY_REGISTERED ||
        FMSW_RegisterHostNotify(GetFMID(), host_event) != FMSW_OK)
        return FM_UNSUCCESSFUL;
    return FM_OK;
}
