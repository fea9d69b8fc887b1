/*
 * The daemon's request decoder. Everything here reads untrusted bytes: each
 * field goes through the bounds-checked rbuf_t, each request must be consumed
 * exactly, and a request that does not parse ends the connection instead of
 * reaching the HSM core. Values the core returns go out as the protocol says
 * (proto.h); nothing here holds a secret longer than one request.
 */
#include "requests.h"

#include <stdlib.h>
#include <string.h>


/* A short string argument, NUL-terminated into buf; false if too long. */
bool get_str(req_t *q, char *buf, size_t cap)
{
    size_t n;
    const uint8_t *p = rb_bytes(q->r, &n);
    if (!p || n >= cap || memchr(p, 0, n))
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return true;
}

void put_str(wbuf_t *w, const char *s)
{
    wb_bytes(w, s, strlen(s));
}

void put_version(wbuf_t *w, CK_VERSION v)
{
    wb_u8(w, v.major);
    wb_u8(w, v.minor);
}

/* Results of the form "u64 length, then the bytes when CKR_OK and the
   caller gave an output buffer" (the module's p11_get_output reads them). */
void put_output(req_t *q, CK_RV rv, uint8_t has_out, const CK_BYTE *buf, CK_ULONG len)
{
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
        return;
    wb_u64(q->w, len);
    if (rv == CKR_OK && has_out)
        wb_raw(q->w, buf, len);
}

/* The arguments that start an operation: session, direction, mechanism,
   key. False when they do not decode. */
bool get_init(req_t *q, CK_SESSION_HANDLE *s, uint8_t *dir, CK_MECHANISM *m,
                     proto_param_t *store, CK_OBJECT_HANDLE *key)
{
    *s = U64(q);
    *dir = rb_u8(q->r);
    if (!proto_get_mechanism(q->r, m, store))
        return false;
    *key = U64(q);
    return rb_done(q->r) && *dir <= 1;
}

static handler_t find_handler(uint32_t op)
{
    static const struct {
        const op_entry_t *t;
        const size_t *n;
    } families[] = {
        { ops_token, &ops_token_count },
        { ops_object, &ops_object_count },
        { ops_crypto, &ops_crypto_count },
        { ops_admin, &ops_admin_count },
        { ops_fm, &ops_fm_count },
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (size_t i = 0; i < *families[f].n; i++)
            if (families[f].t[i].op == op)
                return families[f].t[i].fn;
    return NULL;
}

int dispatch(hsm_t *h, app_id_t app, const uint8_t *req, size_t len, wbuf_t *reply)
{
    rbuf_t r;
    rb_init(&r, req, len);
    uint32_t op = rb_u32(&r);
    handler_t fn = find_handler(op);
    if (!fn)
        return -1;
    wb_reset(reply);
    uint8_t *status = wb_reserve(reply, 4);
    req_t q = { h, app, &r, reply };
    CK_RV rv = fn(&q);
    /* A request with bytes left over, or one that ran short, is malformed:
       whatever the handler did, the connection ends. */
    if (!rb_done(&r) || !status)
        return -1;
    if (reply->err) {
        wb_reset(reply);
        status = wb_reserve(reply, 4);
        rv = CKR_DEVICE_MEMORY;
    }
    /* The reply buffer may have moved since the status was reserved. */
    be32_put(reply->p + 4, (uint32_t)rv);
    (void)status;
    return 0;
}
