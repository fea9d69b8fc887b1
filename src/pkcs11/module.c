/*
 * libsoftfm-pkcs11.so: library state, C_Initialize / C_Finalize, C_GetInfo
 * and the function list.
 *
 * The module keeps no HSM state of its own: sessions, logins and objects
 * live in the daemon, tied to this process's AppId. After fork() the child
 * inherits nothing usable: its calls answer CKR_CRYPTOKI_NOT_INITIALIZED
 * until it calls C_Initialize, as PKCS#11 v2.40 section 6.7.1 asks.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11.h"

static struct {
    pthread_mutex_t lock;
    bool initialized;
    pid_t pid;
    client_t *hsm[CLIENT_MAX_HSMS];   /* the configuration's HSMs, in order */
    unsigned nhsm;
} mod = { .lock = PTHREAD_MUTEX_INITIALIZER };

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void in_child(void)
{
    /* The parent's connections carry the parent's AppId: drop them. */
    for (unsigned i = 0; i < mod.nhsm; i++)
        client_forget(mod.hsm[i]);
    mod.nhsm = 0;
    mod.initialized = false;
    pthread_mutex_init(&mod.lock, NULL);
    p11_ops_reset_after_fork();
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, in_child);
}

CK_RV p11_ready(void)
{
    pthread_mutex_lock(&mod.lock);
    bool ok = mod.initialized && mod.pid == getpid();
    pthread_mutex_unlock(&mod.lock);
    return ok ? CKR_OK : CKR_CRYPTOKI_NOT_INITIALIZED;
}

unsigned p11_hsm_count(void)
{
    return mod.nhsm;
}

CK_RV p11_begin_at(call_t *c, uint32_t op, unsigned hsm)
{
    memset(c, 0, sizeof *c);
    CK_RV rv = p11_ready();
    if (rv)
        return rv;
    if (hsm >= mod.nhsm)
        return CKR_SLOT_ID_INVALID;
    c->hsm = hsm;
    return client_begin(mod.hsm[hsm], op, &c->conn, &c->w);
}

CK_RV p11_begin(call_t *c, uint32_t op)
{
    if (mod.nhsm <= 1 || op == OP_GET_SLOT_LIST)
        return p11_begin_at(c, op, 0);
    /* Several HSMs: the request's first argument (a slot or a session)
       says which; it is written here first and sent by p11_send. */
    memset(c, 0, sizeof *c);
    CK_RV rv = p11_ready();
    if (rv)
        return rv;
    wb_init(&c->held);
    wb_u32(&c->held, op);
    c->w = &c->held;
    return CKR_OK;
}

static bool takes_slot(uint32_t op)
{
    switch (op) {
    case OP_GET_SLOT_INFO:
    case OP_GET_TOKEN_INFO:
    case OP_GET_MECH_LIST:
    case OP_GET_MECH_INFO:
    case OP_INIT_TOKEN:
    case OP_OPEN_SESSION:
    case OP_CLOSE_ALL_SESSIONS:
        return true;
    default:
        return false;
    }
}

/* The HSM a request names, its first argument made that HSM's own. */
static CK_RV route(wbuf_t *b, unsigned *hsm)
{
    size_t len;
    uint8_t *p = (uint8_t *)wb_payload(b, &len);
    if (b->err || !p || len < 12)
        return CKR_ARGUMENTS_BAD;
    uint32_t op = be32_get(p);
    uint64_t id = be64_get(p + 4);
    uint64_t i = id >> P11_HSM_SHIFT;
    if (i >= mod.nhsm)
        return takes_slot(op) ? CKR_SLOT_ID_INVALID : CKR_SESSION_HANDLE_INVALID;
    be64_put(p + 4, id & 0xFFFFFFFFu);
    *hsm = (unsigned)i;
    return CKR_OK;
}

/* A held request goes to its HSM: borrow a connection there and move the
   request into it. */
static CK_RV place(call_t *c)
{
    if (c->conn)
        return CKR_OK;
    unsigned i;
    CK_RV rv = route(&c->held, &i);
    wbuf_t *w = NULL;
    if (rv == CKR_OK) {
        size_t len;
        const uint8_t *p = wb_payload(&c->held, &len);
        c->hsm = i;
        rv = client_begin(mod.hsm[i], be32_get(p), &c->conn, &w);
        if (rv == CKR_OK)
            wb_raw(w, p + 4, len - 4);
    }
    secure_zero(c->held.p, c->held.cap);
    wb_free(&c->held);
    c->w = w;
    return rv;
}

CK_RV p11_send(call_t *c)
{
    CK_RV rv = place(c);
    if (rv == CKR_OK)
        rv = client_call(mod.hsm[c->hsm], c->conn, &c->status, &c->r);
    return rv ? rv : c->status;
}

CK_RV p11_send_after(call_t *c, wbuf_t *first, CK_RV *first_rv)
{
    CK_RV rv = place(c);
    unsigned i = c->hsm;
    if (rv == CKR_OK && mod.nhsm > 1 && (rv = route(first, &i)) == CKR_OK && i != c->hsm)
        rv = CKR_SESSION_HANDLE_INVALID;
    if (rv == CKR_OK)
        rv = client_call_after(mod.hsm[c->hsm], c->conn, first, first_rv, &c->status, &c->r);
    return rv ? rv : c->status;
}

void p11_end(call_t *c)
{
    if (c->conn)
        client_end(mod.hsm[c->hsm], c->conn);
    c->conn = NULL;
    if (c->held.p) {
        secure_zero(c->held.p, c->held.cap);
        wb_free(&c->held);
    }
}

CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
    if (p11_check_init_args(pInitArgs))
        return CKR_ARGUMENTS_BAD;
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&mod.lock);
    CK_RV rv = CKR_OK;
    if (mod.initialized && mod.pid == getpid()) {
        rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
    } else {
        rv = client_open_all(mod.hsm, &mod.nhsm);
        p11_ops_forget_all();
        if (rv == CKR_OK) {
            mod.initialized = true;
            mod.pid = getpid();
        }
    }
    pthread_mutex_unlock(&mod.lock);
    return rv;
}

CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
    if (pReserved)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&mod.lock);
    CK_RV rv = CKR_OK;
    if (!mod.initialized || mod.pid != getpid()) {
        rv = CKR_CRYPTOKI_NOT_INITIALIZED;
    } else {
        /* Sessions end now, not when the daemon notices the connections
           close: a C_Initialize right after must not find them. */
        for (unsigned i = 0; i < mod.nhsm; i++) {
            client_conn_t *k;
            wbuf_t *w;
            rbuf_t r;
            CK_RV st;
            if (client_begin(mod.hsm[i], OP_FINALIZE, &k, &w) == CKR_OK) {
                (void)client_call(mod.hsm[i], k, &st, &r);
                client_end(mod.hsm[i], k);
            }
            client_free(mod.hsm[i]);
        }
        mod.nhsm = 0;
        mod.initialized = false;
        p11_ops_forget_all();
    }
    pthread_mutex_unlock(&mod.lock);
    return rv;
}

CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
    pthread_mutex_lock(&mod.lock);
    bool ok = mod.initialized && mod.pid == getpid();
    pthread_mutex_unlock(&mod.lock);
    if (!ok)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    p11_fill_info(pInfo, "softfm PKCS#11 module");
    return CKR_OK;
}

#include "functions.h"

/* The vendor's host extension (fmsdk/include/fmsc.h): a message to FM
   fmNumber on the HSM behind the session, on behalf of this process. The
   reply is cut to responseLen; *receivedLen tells how much came. */
CK_RV FMSC_SendReceive(CK_SESSION_HANDLE hSession, unsigned short fmNumber, CK_BYTE_PTR pRequest,
                       CK_ULONG requestLen, CK_BYTE_PTR pResponse, CK_ULONG responseLen,
                       CK_ULONG_PTR pReceivedLen, uint32_t *pFmStatus)
{
    if ((!pRequest && requestLen) || (!pResponse && responseLen) || !pReceivedLen ||
        requestLen > 0xFFFFFFFFul || responseLen > 0xFFFFFFFFul)
        return CKR_ARGUMENTS_BAD;
    call_t c;
    CK_RV rv = p11_begin(&c, OP_FMSC_SEND);
    if (rv)
        return rv;
    wb_u64(c.w, hSession);
    wb_u32(c.w, fmNumber);
    wb_u32(c.w, (uint32_t)responseLen);
    wb_bytes(c.w, pRequest, (size_t)requestLen);
    if ((rv = p11_send(&c)) == CKR_OK) {
        uint32_t status = rb_u32(&c.r);
        size_t n;
        const uint8_t *p = rb_bytes(&c.r, &n);
        if (!p || n > responseLen || !rb_done(&c.r)) {
            rv = CKR_DEVICE_ERROR;
        } else {
            if (n)
                memcpy(pResponse, p, n);
            *pReceivedLen = n;
            if (pFmStatus)
                *pFmStatus = status;
        }
    }
    p11_end(&c);
    return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (!ppFunctionList)
        return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &p11_function_list;
    return CKR_OK;
}
