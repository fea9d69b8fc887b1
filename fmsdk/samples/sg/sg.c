/*
 * The sg FM, written against the PTK-style headers: variable-length
 * records in one reply.
 */
#include <string.h>

#include <csa8hiface.h>
#include <endyn.h>
#include <fm.h>
#include <fmsw.h>

#include "sg.h"

static void dispatch(HI_MsgHandle token, void *req, uint32_t len)
{
    uint32_t n;
    if (len != 4) {
        SVC_SendReply(token, FM_ERR_INVALID_LENGTH);
        return;
    }
    memcpy(&n, req, 4);
    n = ntoh_long(n);
    if (n > SG_MAX_RECORDS) {
        SVC_SendReply(token, FM_ERR_INVALID_LENGTH);
        return;
    }
    uint32_t size = 0;
    for (uint32_t i = 0; i < n; i++)
        size += 2 + i + 1;
    /* The usual idiom: as much as the host offers, then shrink to fit. */
    uint32_t room = SVC_GetUserReplyBufLen(token);
    if (room < size) {
        SVC_SendReply(token, FM_WRN_REPLY_TOO_LONG);
        return;
    }
    uint8_t *out = SVC_GetReplyBuffer(token, room);
    if (!out) {
        SVC_SendReply(token, FM_ERR_OUT_OF_MEMORY);
        return;
    }
    uint8_t *p = out;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t be = hton_short(i + 1);
        memcpy(p, &be, 2);
        memset(p + 2, 'a' + (int)i, i + 1);
        p += 2 + i + 1;
    }
    SVC_ResizeReplyBuffer(token, size);
    SVC_SendReply(token, FM_OK);
}

FM_RV Startup(void)
{
    return FMSW_RegisterDispatch(GetFMID(), dispatch) == FMSW_OK ? FM_OK : FM_UNSUCCESSFUL;
}
