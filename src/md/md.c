/*
 * libsoftfm-md.so: the MD API host programs use to talk to FMs (md.h of
 * the FM SDK). It shares the daemon's wire with the PKCS#11 module, over
 * its own connections, so a program may use both at once.
 *
 * Scatter-gather: the request buffers are joined into one request; the
 * reply fills the reply buffers in order, each completely before the next.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "common.h"
#include "sfm_md.h"

/* The most a request or a reply may hold (MDP_MAX_BUFFER_LENGTH). */
#define MD_MAX_BUFFER (1024u * 1024u)
/* Longest request or reply array, {NULL, 0} not counted. */
#define MD_MAX_BUFFERS 1024u

static struct {
    pthread_mutex_t lock;
    client_t *hsm[CLIENT_MAX_HSMS];  /* the configuration's HSMs, in order */
    uint32_t n;
    bool ready;
    pid_t pid;
} md = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool md_ready(void)
{
    pthread_mutex_lock(&md.lock);
    bool ok = md.ready && md.pid == getpid();
    pthread_mutex_unlock(&md.lock);
    return ok;
}

/* The connection pool of HSM number hsm. */
static MD_RV md_hsm(uint32_t hsm, client_t **c)
{
    if (!md_ready())
        return MDR_NOT_INITIALIZED;
    if (hsm >= md.n)
        return MDR_INVALID_HSM_INDEX;
    *c = md.hsm[hsm];
    return MDR_OK;
}

MD_RV MD_Initialize(void)
{
    MD_RV rv = MDR_OK;
    pthread_mutex_lock(&md.lock);
    if (md.ready && md.pid != getpid()) {
        /* a forked child: the parent's links are not ours */
        for (uint32_t i = 0; i < md.n; i++)
            client_forget(md.hsm[i]);
        md.n = 0;
        md.ready = false;
    }
    if (!md.ready) {
        unsigned n = 0;
        CK_RV crv = client_open_all(md.hsm, &n);
        md.n = n;
        if (crv == CKR_HOST_MEMORY)
            rv = MDR_INSUFFICIENT_RESOURCES;
        else if (crv)
            rv = MDR_UNSUCCESSFUL; /* the configuration or its files do not read */
        else {
            md.ready = true;
            md.pid = getpid();
        }
    }
    pthread_mutex_unlock(&md.lock);
    return rv;
}

void MD_Finalize(void)
{
    pthread_mutex_lock(&md.lock);
    if (md.ready && md.pid == getpid())
        for (uint32_t i = 0; i < md.n; i++)
            client_free(md.hsm[i]);
    md.n = 0;
    md.ready = false;
    pthread_mutex_unlock(&md.lock);
}

MD_RV MD_GetHsmCount(uint32_t *count)
{
    if (!md_ready())
        return MDR_NOT_INITIALIZED;
    if (!count)
        return MDR_INVALID_PARAMETER;
    *count = md.n;
    return MDR_OK;
}

/* A transport or daemon answer as an MD code. A network HSM that cannot be
   reached, or whose link broke, is a link error; a local one has reset. */
static MD_RV transport(const client_t *c, CK_RV rv)
{
    switch (rv) {
    case CKR_OK:
        return MDR_OK;
    case CKR_DEVICE_REMOVED:
        return client_is_remote(c) ? MDR_TCP_LINK_ERROR : MDR_HSM_RESET;
    case CKR_DEVICE_ERROR:
        return client_is_remote(c) ? MDR_TCP_LINK_ERROR : MDR_HSM_FAILED;
    case CKR_HOST_MEMORY:
    case CKR_DEVICE_MEMORY:
        return MDR_INSUFFICIENT_RESOURCES;
    case CKR_ARGUMENTS_BAD:
        return MDR_INVALID_PARAMETER;
    case SFM_R_FM_NOT_AVAILABLE:
    case SFM_R_NOT_FOUND:
        return MDR_FM_NOT_AVAILABLE;
    case SFM_R_FM_FAILED:
        return MDR_HSM_FAILED;
    default:
        return MDR_UNSUCCESSFUL;
    }
}

MD_RV MD_GetHsmState(uint32_t hsm, HsmState_t *state, uint32_t *error_code)
{
    client_t *c;
    MD_RV mr = md_hsm(hsm, &c);
    if (mr)
        return mr;
    if (!state)
        return MDR_INVALID_PARAMETER;
    /* A hello answers on every link, local or network. */
    client_conn_t *k = NULL;
    wbuf_t *w;
    rbuf_t r;
    CK_RV st = CKR_OK;
    CK_RV rv = client_begin(c, OP_HELLO, &k, &w);
    if (rv == CKR_OK) {
        wb_u32(w, PROTO_VERSION);
        rv = client_call(c, k, &st, &r);
    }
    client_end(c, k);
    *state = rv == CKR_OK && st == CKR_OK ? S_NORMAL_OPERATION : S_HSM_UNACCESSIBLE;
    if (error_code)
        *error_code = (uint32_t)(rv ? rv : st);
    return MDR_OK;
}

MD_RV MD_ResetHsm(uint32_t hsm)
{
    client_t *c;
    MD_RV mr = md_hsm(hsm, &c);
    return mr ? mr : MDR_OPERATION_NOT_ALLOWED;
}

MD_RV MD_GetParameter(MD_Parameter_t p, void *value, uint32_t len)
{
    if (!md_ready())
        return MDR_NOT_INITIALIZED;
    if (p != MDP_MAX_BUFFER_LENGTH || !value || len != sizeof(uint32_t))
        return MDR_INVALID_PARAMETER;
    uint32_t v = MD_MAX_BUFFER;
    memcpy(value, &v, sizeof v);
    return MDR_OK;
}

/* Count a {NULL, 0}-terminated array and its bytes; false when it is bad. */
static bool measure(const MD_Buffer_t *b, size_t *count, uint64_t *bytes)
{
    *count = 0;
    *bytes = 0;
    if (!b)
        return false;
    for (size_t i = 0;; i++) {
        if (i > MD_MAX_BUFFERS)
            return false;
        if (!b[i].pData && !b[i].length)
            break;
        if (!b[i].pData)
            return false; /* a length without a buffer */
        *bytes += b[i].length;
        (*count)++;
    }
    return true;
}

MD_RV MD_SendReceive(uint32_t hsm, uint32_t oid, uint16_t fm, MD_Buffer_t *req, uint32_t timeout,
                     MD_Buffer_t *resp, uint32_t *received, uint32_t *fm_status)
{
    client_t *c;
    MD_RV mr = md_hsm(hsm, &c);
    if (mr)
        return mr;
    size_t nreq, nresp;
    uint64_t req_bytes, cap;
    if (!measure(req, &nreq, &req_bytes) || !measure(resp, &nresp, &cap) ||
        req_bytes > MD_MAX_BUFFER || cap > MD_MAX_BUFFER)
        return MDR_INVALID_PARAMETER;
    client_conn_t *k;
    wbuf_t *w;
    CK_RV rv = client_begin(c, OP_MD_SEND, &k, &w);
    if (rv)
        return transport(c, rv);
    wb_u32(w, fm);
    wb_u32(w, oid);
    wb_u32(w, timeout);
    wb_u32(w, (uint32_t)cap);
    wb_u32(w, (uint32_t)req_bytes); /* the request: the buffers, joined */
    for (size_t i = 0; i < nreq; i++)
        wb_raw(w, req[i].pData, req[i].length);
    rbuf_t r;
    CK_RV st = CKR_OK;
    rv = client_call(c, k, &st, &r);
    MD_RV out = transport(c, rv ? rv : st);
    if (out == MDR_OK) {
        uint32_t status = rb_u32(&r);
        size_t n;
        const uint8_t *p = rb_bytes(&r, &n);
        if (!p || !rb_done(&r) || n > cap) {
            out = MDR_INTERNAL_ERROR;
        } else {
            /* Scatter: fill each reply buffer completely before the next. */
            size_t off = 0;
            for (size_t i = 0; i < nresp && off < n; i++) {
                size_t take = n - off < resp[i].length ? n - off : resp[i].length;
                memcpy(resp[i].pData, p + off, take);
                off += take;
            }
            if (received)
                *received = (uint32_t)n;
            if (fm_status)
                *fm_status = status;
        }
    }
    client_end(c, k);
    return out;
}

/* Slot ids carry their HSM's number in the upper half (as the PKCS#11
   module gives them); the lower half is the HSM's own slot id. */
#define SLOT_HSM_SHIFT 32

MD_RV MD_GetHsmIndexForSlot(unsigned long slot, uint32_t *hsm)
{
    if (!md_ready())
        return MDR_NOT_INITIALIZED;
    if (!hsm)
        return MDR_INVALID_PARAMETER;
    uint64_t i = (uint64_t)slot >> SLOT_HSM_SHIFT;
    if (i >= md.n)
        return MDR_INVALID_PARAMETER;
    *hsm = (uint32_t)i;
    return MDR_OK;
}

MD_RV MD_GetEmbeddedSlotID(unsigned long slot, unsigned long *embedded)
{
    if (!md_ready())
        return MDR_NOT_INITIALIZED;
    if (!embedded)
        return MDR_INVALID_PARAMETER;
    if (((uint64_t)slot >> SLOT_HSM_SHIFT) >= md.n)
        return MDR_INVALID_PARAMETER;
    *embedded = (unsigned long)(slot & 0xFFFFFFFFul);
    return MDR_OK;
}

MD_RV MD_GetFmIdFromName(uint32_t hsm, const char *name, uint32_t len, uint32_t *fm_id)
{
    client_t *c;
    MD_RV mr = md_hsm(hsm, &c);
    if (mr)
        return mr;
    if (!name || !fm_id || !len || len > 16)
        return MDR_INVALID_PARAMETER;
    size_t n = strnlen(name, len);
    client_conn_t *k;
    wbuf_t *w;
    CK_RV rv = client_begin(c, OP_MD_FM_ID, &k, &w);
    if (rv)
        return transport(c, rv);
    wb_bytes(w, name, n);
    rbuf_t r;
    CK_RV st = CKR_OK;
    rv = client_call(c, k, &st, &r);
    MD_RV out = transport(c, rv ? rv : st);
    if (out == MDR_OK) {
        uint32_t id = rb_u32(&r);
        if (!rb_done(&r))
            out = MDR_INTERNAL_ERROR;
        else
            *fm_id = id;
    }
    client_end(c, k);
    return out;
}

const char *MD_RvAsString(MD_RV rv)
{
    switch (rv) {
    case MDR_OK: return "MDR_OK";
    case MDR_NOT_INITIALIZED: return "MDR_NOT_INITIALIZED";
    case MDR_INVALID_PARAMETER: return "MDR_INVALID_PARAMETER";
    case MDR_INVALID_HSM_INDEX: return "MDR_INVALID_HSM_INDEX";
    case MDR_INSUFFICIENT_RESOURCES: return "MDR_INSUFFICIENT_RESOURCES";
    case MDR_OPERATION_CANCELLED: return "MDR_OPERATION_CANCELLED";
    case MDR_HSM_RESET: return "MDR_HSM_RESET";
    case MDR_FM_NOT_AVAILABLE: return "MDR_FM_NOT_AVAILABLE";
    case MDR_UNSUCCESSFUL: return "MDR_UNSUCCESSFUL";
    case MDR_INTERNAL_ERROR: return "MDR_INTERNAL_ERROR";
    case MDR_OPERATION_NOT_ALLOWED: return "MDR_OPERATION_NOT_ALLOWED";
    case MDR_TCP_LINK_ERROR: return "MDR_TCP_LINK_ERROR";
    case MDR_HSM_FAILED: return "MDR_HSM_FAILED";
    default: return "MDR_UNKNOWN";
    }
}
