/*
 * What the request decoders share: strings, versions, outputs, operation
 * starts. Used by the daemon and, for the functions FMs patch, by the
 * fmhost (src/fmhost/cprov_serve.c).
 */
#include <stdlib.h>
#include <string.h>

#include "requests.h"

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

handler_t find_op(const op_entry_t *const *tables, const size_t *const *counts, size_t ntables,
                  uint32_t op)
{
    for (size_t f = 0; f < ntables; f++)
        for (size_t i = 0; i < *counts[f]; i++)
            if (tables[f][i].op == op)
                return tables[f][i].fn;
    return NULL;
}

handler_t find_pkcs11_op(uint32_t op)
{
    static const op_entry_t *const tables[] = { ops_token, ops_object, ops_crypto };
    static const size_t *const counts[] = { &ops_token_count, &ops_object_count,
                                            &ops_crypto_count };
    return find_op(tables, counts, 3, op);
}

bool slot_visible(const req_t *q, CK_SLOT_ID slot)
{
    if (!q->scope)
        return true;
    for (size_t i = 0; i < q->scope->nslots; i++)
        if (q->scope->slots[i] == slot)
            return true;
    return false;
}

CK_RV local_only(const req_t *q)
{
    return q->scope ? SFM_R_LOCAL_ONLY : CKR_OK;
}
