/*
 * The FM's Cryptoki: the PKCS#11 module's function families (src/pkcs11)
 * over the fmhost's link instead of a socket. Each call goes to softfmd as
 * an FMH_CK frame carrying the FM's current AppId and privilege level, and
 * runs in the HSM core on behalf of that AppId.
 *
 * Initialisation is per AppId, as on the vendor's HSM: a request from
 * process B finds Cryptoki not initialised although process A's request
 * initialised it, unless the FM acts under one AppId for both (the seed's
 * FM_SetCurrentAppId((unsigned long)-1) advice).
 */
#include <stdlib.h>
#include <string.h>

#include "fmhost.h"
#include "p11.h"

#define MAX_INITIALISED 256

static struct {
    unsigned long apps[MAX_INITIALISED];
    size_t n;
    uint8_t *reply;       /* the last reply, which a call_t reads from */
    size_t reply_len;
} ck;

static unsigned long current_app(void)
{
    return fmh.app_id;
}

static bool initialised(unsigned long app, size_t *at)
{
    for (size_t i = 0; i < ck.n; i++)
        if (ck.apps[i] == app) {
            if (at)
                *at = i;
            return true;
        }
    return false;
}

void fmh_ck_app_closed(unsigned long app)
{
    size_t i;
    if (initialised(app, &i))
        ck.apps[i] = ck.apps[--ck.n];
}

CK_RV p11_ready(void)
{
    /* An application whose call a patched function runs has initialised
       its own Cryptoki. */
    return fmh.forwarding || initialised(current_app(), NULL) ? CKR_OK
                                                              : CKR_CRYPTOKI_NOT_INITIALIZED;
}

CK_RV p11_begin(call_t *c, uint32_t op)
{
    memset(c, 0, sizeof *c);
    CK_RV rv = p11_ready();
    if (rv)
        return rv;
    if (!(c->w = malloc(sizeof *c->w)))
        return CKR_HOST_MEMORY;
    wb_init(c->w);
    wb_u32(c->w, op);
    return CKR_OK;
}

/* An FM's Cryptoki reaches its own HSM only. */
CK_RV p11_begin_at(call_t *c, uint32_t op, unsigned hsm)
{
    return hsm == 0 ? p11_begin(c, op) : CKR_SLOT_ID_INVALID;
}

unsigned p11_hsm_count(void)
{
    return 1;
}

/* One request over the link and its reply into ck.reply. */
static CK_RV exchange(wbuf_t *req, CK_RV *status, rbuf_t *r)
{
    if (req->err)
        return CKR_ARGUMENTS_BAD;
    size_t len;
    const uint8_t *payload = wb_payload(req, &len);
    wbuf_t f;
    wb_init(&f);
    wb_u32(&f, FMH_CK);
    wb_u32(&f, (uint32_t)current_app());
    wb_u8(&f, (uint8_t)fmh.privilege);
    wb_bytes(&f, payload, len);
    const uint8_t *frame;
    size_t n;
    int bad = wire_send(fmh.link, &f) || wire_read(fmh.link, &fmh.rd, fmh.spin_us, &frame, &n);
    secure_zero(f.p, f.len);
    wb_free(&f);
    if (bad)
        return CKR_DEVICE_ERROR;
    rbuf_t in;
    rb_init(&in, frame, n);
    uint32_t kind = rb_u32(&in);
    size_t rn;
    const uint8_t *rp = rb_bytes(&in, &rn);
    if (kind != FMH_CK_REPLY || !rp || !rb_done(&in) || rn < 4)
        return CKR_DEVICE_ERROR;
    if (ck.reply) {
        secure_zero(ck.reply, ck.reply_len);
        free(ck.reply);
    }
    if (!(ck.reply = malloc(rn)))
        return CKR_HOST_MEMORY;
    memcpy(ck.reply, rp, rn);
    ck.reply_len = rn;
    wire_reader_wipe(&fmh.rd, 1u << 20);
    rb_init(r, ck.reply, rn);
    *status = (CK_RV)rb_u32(r);
    return CKR_OK;
}

CK_RV p11_send(call_t *c)
{
    CK_RV rv = exchange(c->w, &c->status, &c->r);
    return rv ? rv : c->status;
}

CK_RV p11_send_after(call_t *c, wbuf_t *first, CK_RV *first_rv)
{
    rbuf_t ignored;
    CK_RV rv = exchange(first, first_rv, &ignored);
    if (rv)
        return rv;
    return p11_send(c);
}

void p11_end(call_t *c)
{
    if (c->w) {
        if (c->w->p)
            secure_zero(c->w->p, c->w->len);
        wb_free(c->w);
        free(c->w);
    }
    c->w = NULL;
    if (ck.reply) {
        secure_zero(ck.reply, ck.reply_len);
        free(ck.reply);
        ck.reply = NULL;
    }
}

CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
    if (p11_check_init_args(pInitArgs))
        return CKR_ARGUMENTS_BAD;
    unsigned long app = current_app();
    if (initialised(app, NULL))
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    if (ck.n == MAX_INITIALISED)
        return CKR_HOST_MEMORY;
    ck.apps[ck.n++] = app;
    return CKR_OK;
}

CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
    if (pReserved)
        return CKR_ARGUMENTS_BAD;
    size_t i;
    if (!initialised(current_app(), &i))
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    /* The AppId's sessions end, as a host's C_Finalize ends its own. */
    call_t c;
    if (p11_begin(&c, OP_FINALIZE) == CKR_OK)
        (void)p11_send(&c);
    p11_end(&c);
    ck.apps[i] = ck.apps[--ck.n];
    p11_ops_forget_all();
    return CKR_OK;
}

CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
    CK_RV rv = p11_ready();
    if (rv)
        return rv;
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    p11_fill_info(pInfo, "softfm FM Cryptoki");
    return CKR_OK;
}

#include "functions.h"

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (!ppFunctionList)
        return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &p11_function_list;
    return CKR_OK;
}

const CK_FUNCTION_LIST *fmh_cryptoki(void)
{
    return &p11_function_list;
}
