/*
 * The fmhost's side of the FM call table: the C runtime lent from this
 * process's libc, the trace, dispatch registration, and the SVC calls on
 * the request being handled. One request at a time: the state is global.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fmhost.h"

fmhost_t fmh = { .link = -1, .trace_fd = -1, .app_id = FMH_NO_APP, .oid = FMH_NO_APP };

/* ---- trace ---- */

void fmh_trace(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && fmh.trace_fd >= 0)
        (void)!write(fmh.trace_fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static int c_vtrace(const char *fmt, va_list ap)
{
    char small[512];
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(small, sizeof small, fmt, copy);
    va_end(copy);
    if (n < 0)
        return n;
    char *buf = small;
    if ((size_t)n >= sizeof small) {
        if (!(buf = malloc((size_t)n + 1)))
            return -1;
        vsnprintf(buf, (size_t)n + 1, fmt, ap);
    }
    if (fmh.trace_fd >= 0)
        (void)!write(fmh.trace_fd, buf, (size_t)n);
    if (buf != small)
        free(buf);
    return n;
}

static void c_dump(const char *desc, const void *data, uint32_t len)
{
    const uint8_t *p = data;
    fmh_trace("%s (%u bytes)\n", desc ? desc : "", len);
    for (uint32_t i = 0; p && i < len; i += 16) {
        char line[80];
        int o = snprintf(line, sizeof line, "  %04x:", i);
        for (uint32_t j = i; j < len && j < i + 16; j++)
            o += snprintf(line + o, sizeof line - (size_t)o, " %02x", p[j]);
        fmh_trace("%s\n", line);
    }
}

static void c_fatal(const char *why, const char *file, unsigned line)
{
    if (file && *file)
        fmh_trace("FM stopped: %s (%s:%u)\n", why, file, line);
    else
        fmh_trace("FM stopped: %s\n", why);
    abort();
}

/* ---- registration ---- */

static int c_register_dispatch(uint16_t fm, int model, void *fn)
{
    if (!fn)
        return 3; /* FMSW_BAD_POINTER */
    if (fm != fmh.number)
        return 2; /* FMSW_BAD_FM_NUMBER */
    if (fmh.model != FMH_MODEL_NONE)
        return 1; /* FMSW_ALREADY_REGISTERED */
    fmh.model = model == 1 ? FMH_MODEL_STREAM : FMH_MODEL_RANDOM;
    fmh.dispatch = fn;
    return 0;
}

static int c_deregister_dispatch(uint16_t fm)
{
    if (fm != fmh.number)
        return 2;
    if (fmh.model == FMH_MODEL_NONE)
        return 5; /* FMSW_NOT_REGISTERED */
    fmh.model = FMH_MODEL_NONE;
    fmh.dispatch = NULL;
    return 0;
}

static int c_register_notify(uint16_t fm, void (*fn)(int))
{
    if (!fn)
        return 3;
    if (fm != fmh.number)
        return 2;
    if (fmh.notify)
        return 1;
    fmh.notify = fn;
    return 0;
}

static int c_deregister_notify(uint16_t fm)
{
    if (fm != fmh.number)
        return 2;
    if (!fmh.notify)
        return 5;
    fmh.notify = NULL;
    return 0;
}

static uint16_t c_fm_number(void)
{
    return fmh.number;
}

/* ---- the request ---- */

/* A token is only good while its request is being handled. */
static fmh_req_t *live(void *t)
{
    fmh_req_t *r = t;
    return r && r == fmh.current && !r->replied ? r : NULL;
}

static void *c_get_request(void *t)
{
    fmh_req_t *r = live(t);
    return r ? (void *)r->req : NULL;
}

static uint32_t c_get_request_length(void *t)
{
    fmh_req_t *r = live(t);
    return r ? r->req_len : 0;
}

static uint32_t c_get_user_reply_buf_len(void *t)
{
    fmh_req_t *r = live(t);
    return r ? r->reply_cap : 0;
}

static void *reply_alloc(fmh_req_t *r, uint32_t size)
{
    uint8_t *p = calloc(1, size ? size : 1);
    if (!p)
        return NULL;
    r->reply = p;
    r->reply_len = size;
    r->reply_room = size;
    return p;
}

static void *c_get_reply_buffer(void *t, uint32_t size)
{
    fmh_req_t *r = live(t);
    if (!r || r->reply)
        return NULL;
    return reply_alloc(r, size);
}

static void *c_resize_reply_buffer(void *t, uint32_t len)
{
    fmh_req_t *r = live(t);
    if (!r)
        return NULL;
    if (!r->reply)
        return reply_alloc(r, len);
    if (len > r->reply_room) {
        uint8_t *p = realloc(r->reply, len);
        if (!p)
            return NULL;
        memset(p + r->reply_room, 0, len - r->reply_room);
        r->reply = p;
        r->reply_room = len;
    }
    r->reply_len = len;
    return r->reply;
}

static void *c_convert_req_to_reply(void *t)
{
    fmh_req_t *r = live(t);
    if (!r || r->reply || !reply_alloc(r, r->req_len))
        return NULL;
    if (r->req_len)
        memcpy(r->reply, r->req, r->req_len);
    return r->reply;
}

static void c_discard_reply_buffer(void *t)
{
    fmh_req_t *r = live(t);
    if (!r)
        return;
    free(r->reply);
    r->reply = NULL;
    r->reply_len = r->reply_room = 0;
}

static void *c_get_reply(void *t)
{
    fmh_req_t *r = live(t);
    return r ? r->reply : NULL;
}

static uint32_t c_get_reply_length(void *t)
{
    fmh_req_t *r = live(t);
    return r ? r->reply_len : 0;
}

static uint32_t c_get_pid(void *t)
{
    fmh_req_t *r = live(t);
    return r ? r->pid : 0;
}

static uint32_t c_get_oid(void *t)
{
    fmh_req_t *r = live(t);
    return r ? r->oid : 0;
}

static void c_send_reply(void *t, uint32_t status)
{
    fmh_req_t *r = live(t);
    if (!r) {
        fmh_trace("SVC_SendReply on a request that has been answered or has ended: ignored\n");
        return;
    }
    r->status = status;
    r->replied = true;
}

static void *c_io_read_pointer(void *t, uint32_t *available)
{
    fmh_req_t *r = live(t);
    if (available)
        *available = r ? r->req_len - r->read_off : 0;
    return r ? (void *)(r->req + r->read_off) : NULL;
}

static int c_io_consume(void *t, uint32_t n)
{
    fmh_req_t *r = live(t);
    if (!r || n > r->req_len - r->read_off)
        return -1;
    r->read_off += n;
    return 0;
}

static void *c_io_write_pointer(void *t, uint32_t n)
{
    fmh_req_t *r = live(t);
    if (!r || n > r->reply_cap - r->reply_len)
        return NULL; /* a stream reply never outgrows the host's buffers */
    uint32_t need = r->reply_len + n;
    if (need > r->reply_room) {
        uint32_t room = r->reply_room ? r->reply_room : 256;
        while (room < need)
            room = room > UINT32_MAX / 2 ? need : room * 2;
        uint8_t *p = realloc(r->reply, room);
        if (!p)
            return NULL;
        r->reply = p;
        r->reply_room = room;
    }
    return r->reply + r->reply_len;
}

static int c_io_commit(void *t, uint32_t n)
{
    fmh_req_t *r = live(t);
    if (!r || n > r->reply_room - r->reply_len)
        return -1;
    r->reply_len += n;
    return 0;
}

/* ---- who, and with what privilege ---- */

static unsigned long c_get_app_id(void)
{
    return fmh.current || fmh.in_notify ? fmh.app_id : FMH_NO_APP;
}

static void c_set_app_id(unsigned long id)
{
    /* AppIds are 32 bits: (unsigned long)-1 is FM_DEFAULT_PID. */
    if (fmh.current || fmh.in_notify)
        fmh.app_id = id & 0xFFFFFFFFul;
}

static unsigned long c_get_oid_current(void)
{
    return fmh.current ? fmh.oid : FMH_NO_APP;
}

static void c_set_oid_current(unsigned long oid)
{
    if (fmh.current)
        fmh.oid = oid;
}

static void c_set_privilege(int level)
{
    /* Within a request or a patched function only; it ends with them. */
    if (fmh.current || fmh.forwarding)
        fmh.privilege = level == 1 ? 1 : 0;
}

static int c_get_privilege(void)
{
    return fmh.privilege;
}

static void c_clock(uint32_t *secs, uint32_t *ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    *secs = (uint32_t)ts.tv_sec;
    *ns = (uint32_t)ts.tv_nsec;
}

#define FILL_R(ret, name, params, args) .name = name,
#define FILL_V(name, params, args) .name = name,

fm_calls_t fmh_calls = {
    .version = FM_CALLS_VERSION,
    .size = sizeof(fm_calls_t),
    FM_LIBC_CALLS(FILL_R, FILL_V)
    .vtrace = c_vtrace,
    .dump = c_dump,
    .fatal = c_fatal,
    .register_dispatch = c_register_dispatch,
    .deregister_dispatch = c_deregister_dispatch,
    .register_notify = c_register_notify,
    .deregister_notify = c_deregister_notify,
    .fm_number = c_fm_number,
    .get_request = c_get_request,
    .get_request_length = c_get_request_length,
    .get_user_reply_buf_len = c_get_user_reply_buf_len,
    .get_reply_buffer = c_get_reply_buffer,
    .resize_reply_buffer = c_resize_reply_buffer,
    .convert_req_to_reply = c_convert_req_to_reply,
    .discard_reply_buffer = c_discard_reply_buffer,
    .get_reply = c_get_reply,
    .get_reply_length = c_get_reply_length,
    .get_pid = c_get_pid,
    .get_oid = c_get_oid,
    .send_reply = c_send_reply,
    .io_read_pointer = c_io_read_pointer,
    .io_consume = c_io_consume,
    .io_write_pointer = c_io_write_pointer,
    .io_commit = c_io_commit,
    .get_app_id = c_get_app_id,
    .set_app_id = c_set_app_id,
    .get_oid_current = c_get_oid_current,
    .set_oid_current = c_set_oid_current,
    .set_privilege = c_set_privilege,
    .get_privilege = c_get_privilege,
    .clock = c_clock,
    .smfs = fmh_smfs,
    .cprov_table = fmh_cprov_table,
    .user_data_set = fmh_ud_set,
    .user_data_get = fmh_ud_get,
};
