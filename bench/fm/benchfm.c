/*
 * The benchmark FM: an echo for message round trips, and a loop of Cryptoki
 * calls timed inside the FM, to set against the same calls from a host.
 */
#include <string.h>

#include <fm.h>
#include <fmappid.h>
#include "fm/common/fm_byteorder.h"

#include "benchfm.h"

static CK_SESSION_HANDLE session;

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return fm_betoh32(v);
}

static void reply2(HI_MsgHandle token, uint32_t a, uint32_t b)
{
    uint8_t *out = SVC_GetReplyBuffer(token, 8);
    if (out) {
        a = fm_htobe32(a);
        b = fm_htobe32(b);
        memcpy(out, &a, 4);
        memcpy(out + 4, &b, 4);
    }
    SVC_SendReply(token, out ? FM_OK : FM_ERR_OUT_OF_MEMORY);
}

static void dispatch(HI_MsgHandle token, void *req, uint32_t len)
{
    const uint8_t *p = req;
    if (len < 4) {
        SVC_SendReply(token, FM_ERR_INVALID_LENGTH);
        return;
    }
    uint32_t cmd = get32(p);
    if (cmd == BENCHFM_ECHO) {
        uint8_t *out = SVC_GetReplyBuffer(token, len - 4);
        if (out && len > 4)
            memcpy(out, p + 4, len - 4);
        SVC_SendReply(token, out || len == 4 ? FM_OK : FM_ERR_OUT_OF_MEMORY);
        return;
    }
    if (len < 8) {
        SVC_SendReply(token, FM_ERR_INVALID_LENGTH);
        return;
    }
    FM_SetCurrentAppId((unsigned long)-1);
    if (cmd == BENCHFM_CK_SETUP) {
        CK_RV rv = C_Initialize(NULL);
        if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
            rv = CKR_OK;
        if (rv == CKR_OK)
            rv = C_OpenSession(get32(p + 4), CKF_SERIAL_SESSION, NULL, NULL, &session);
        reply2(token, (uint32_t)rv, 0);
        return;
    }
    if (cmd == BENCHFM_CK_LOOP) {
        uint32_t n = get32(p + 4);
        CK_BYTE buf[32];
        CK_RV rv = CKR_OK;
        THR_TIME t;
        THR_BeginTiming(&t);
        for (uint32_t i = 0; i < n && rv == CKR_OK; i++)
            rv = C_GenerateRandom(session, buf, sizeof buf);
        THR_UpdateTiming(&t);
        uint64_t ns = (uint64_t)t.secs * 1000000000u + t.ns;
        reply2(token, (uint32_t)rv, n ? (uint32_t)(ns / n) : 0);
        return;
    }
    SVC_SendReply(token, FM_ERR_INVALID_CMD);
}

FM_RV Startup(void)
{
    return FMSW_RegisterDispatch(GetFMID(), dispatch) == FMSW_OK ? FM_OK : FM_UNSUCCESSFUL;
}
