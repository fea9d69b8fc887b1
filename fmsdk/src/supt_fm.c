/*
 * libfmsupt: the FM services (dispatch registration, the SVC calls on a
 * request, AppId, privilege, trace and timing), each a stub that calls the
 * fmhost through the call table.
 */
#include "../include/sfm_fm.h"
#include "fm_calls.h"

extern const fm_calls_t *softfm_fm_calls;
#define FMC softfm_fm_calls

enum { MODEL_RANDOM = 0, MODEL_STREAM = 1 };

FMSW_STATUS FMSW_RegisterDispatch(FMSW_FmNumber_t fm, FMSW_DispatchFn_t fn)
{
    return FMC->register_dispatch(fm, MODEL_RANDOM, (void *)fn);
}

FMSW_STATUS FMSW_RegisterRandomDispatch(FMSW_FmNumber_t fm, FMSW_DispatchFn_t fn)
{
    return FMC->register_dispatch(fm, MODEL_RANDOM, (void *)fn);
}

FMSW_STATUS FMSW_RegisterStreamDispatch(FMSW_FmNumber_t fm, FMSW_StreamDispatchFn_t fn)
{
    return FMC->register_dispatch(fm, MODEL_STREAM, (void *)fn);
}

FMSW_STATUS FMSW_DeregisterDispatch(FMSW_FmNumber_t fm)
{
    return FMC->deregister_dispatch(fm);
}

FMSW_STATUS FMSW_RegisterHostNotify(FMSW_FmNumber_t fm, FMSW_HostNotifyFn_t fn)
{
    return FMC->register_notify(fm, fn);
}

FMSW_STATUS FMSW_DeregisterHostNotify(FMSW_FmNumber_t fm)
{
    return FMC->deregister_notify(fm);
}

FmNumber_t GetFMID(void)
{
    return FMC->fm_number();
}

void *SVC_GetRequest(HI_MsgHandle t) { return FMC->get_request(t); }
uint32_t SVC_GetRequestLength(HI_MsgHandle t) { return FMC->get_request_length(t); }
uint32_t SVC_GetUserReplyBufLen(HI_MsgHandle t) { return FMC->get_user_reply_buf_len(t); }
void *SVC_GetReplyBuffer(HI_MsgHandle t, uint32_t size) { return FMC->get_reply_buffer(t, size); }
void *SVC_ResizeReplyBuffer(HI_MsgHandle t, uint32_t len) { return FMC->resize_reply_buffer(t, len); }
void *SVC_ConvertReqToReply(HI_MsgHandle t) { return FMC->convert_req_to_reply(t); }
void SVC_DiscardReplyBuffer(HI_MsgHandle t) { FMC->discard_reply_buffer(t); }
void *SVC_GetReply(HI_MsgHandle t) { return FMC->get_reply(t); }
uint32_t SVC_GetReplyLength(HI_MsgHandle t) { return FMC->get_reply_length(t); }
uint32_t SVC_GetPid(HI_MsgHandle t) { return FMC->get_pid(t); }
uint32_t SVC_GetOid(HI_MsgHandle t) { return FMC->get_oid(t); }
void SVC_SendReply(HI_MsgHandle t, uint32_t status) { FMC->send_reply(t, status); }

int SVC_IO_Read(FmMsgHandle t, void *buf, uint32_t max)
{
    uint32_t avail = 0;
    const uint8_t *p = FMC->io_read_pointer(t, &avail);
    uint32_t n = avail < max ? avail : max;
    if (n && buf)
        FMC->memcpy(buf, p, n);
    FMC->io_consume(t, n);
    return (int)n;
}

int SVC_IO_Read32(FmMsgHandle t, uint32_t *out)
{
    uint32_t avail = 0;
    const uint8_t *p = FMC->io_read_pointer(t, &avail);
    if (avail < 4 || !out)
        return 0;
    *out = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    FMC->io_consume(t, 4);
    return 4;
}

int SVC_IO_Write(FmMsgHandle t, const void *buf, uint32_t len)
{
    uint8_t *p = FMC->io_write_pointer(t, len);
    if (!p || (len && !buf))
        return -1;
    if (len)
        FMC->memcpy(p, buf, len);
    FMC->io_commit(t, len);
    return (int)len;
}

int SVC_IO_Write32(FmMsgHandle t, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    return SVC_IO_Write(t, b, 4);
}

void *SVC_IO_GetReadPointer(FmMsgHandle t, uint32_t *available) { return FMC->io_read_pointer(t, available); }
int SVC_IO_UpdateReadPointer(FmMsgHandle t, uint32_t n) { return FMC->io_consume(t, n); }
void *SVC_IO_GetWritePointer(FmMsgHandle t, uint32_t n) { return FMC->io_write_pointer(t, n); }
int SVC_IO_UpdateWritePointer(FmMsgHandle t, uint32_t n) { return FMC->io_commit(t, n); }

unsigned long FM_GetCurrentAppId(void) { return FMC->get_app_id(); }
void FM_SetCurrentAppId(unsigned long id) { FMC->set_app_id(id); }
unsigned long FM_GetCurrentPid(void) { return FMC->get_app_id(); }
void FM_SetCurrentPid(unsigned long pid) { FMC->set_app_id(pid); }
unsigned long FM_GetCurrentOid(void) { return FMC->get_oid_current(); }
void FM_SetCurrentOid(unsigned long oid) { FMC->set_oid_current(oid); }

void CT_SetPrivilegeLevel(int level) { FMC->set_privilege(level); }
int CT_GetPrivilegeLevel(void) { return FMC->get_privilege(); }

int dbg_print(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = FMC->vtrace(fmt, ap);
    va_end(ap);
    return n;
}

void dump(const char *description, const void *data, uint32_t len)
{
    FMC->dump(description, data, len);
}

void THR_BeginTiming(THR_TIME *t)
{
    FMC->clock(&t->secs, &t->ns);
}

void THR_UpdateTiming(THR_TIME *t)
{
    uint32_t s, ns;
    FMC->clock(&s, &ns);
    uint64_t now = (uint64_t)s * 1000000000u + ns, then = (uint64_t)t->secs * 1000000000u + t->ns;
    uint64_t d = now > then ? now - then : 0;
    t->secs = (uint32_t)(d / 1000000000u);
    t->ns = (uint32_t)(d % 1000000000u);
}
