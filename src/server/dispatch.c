/*
 * The daemon's request decoder. Everything here reads untrusted bytes: each
 * field goes through the bounds-checked rbuf_t, each request must be consumed
 * exactly, and a request that does not parse ends the connection instead of
 * reaching the HSM core. Values the core returns go out as the protocol says
 * (proto.h); nothing here holds a secret longer than one request.
 */
#include "dispatch.h"

#include <stdlib.h>
#include <string.h>

typedef struct req {
    hsm_t *h;
    app_id_t app;
    rbuf_t *r;
    wbuf_t *w;
} req_t;

typedef CK_RV (*handler_t)(req_t *q);

#define U64(q) ((CK_ULONG)rb_u64((q)->r))

/* A short string argument, NUL-terminated into buf; false if too long. */
static bool get_str(req_t *q, char *buf, size_t cap)
{
    size_t n;
    const uint8_t *p = rb_bytes(q->r, &n);
    if (!p || n >= cap || memchr(p, 0, n))
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return true;
}

static void put_str(wbuf_t *w, const char *s)
{
    wb_bytes(w, s, strlen(s));
}

static void put_version(wbuf_t *w, CK_VERSION v)
{
    wb_u8(w, v.major);
    wb_u8(w, v.minor);
}

/* Results of the form "u64 length, then the bytes when CKR_OK and the
   caller gave an output buffer" (the module's p11_get_output reads them). */
static void put_output(req_t *q, CK_RV rv, uint8_t has_out, const CK_BYTE *buf, CK_ULONG len)
{
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
        return;
    wb_u64(q->w, len);
    if (rv == CKR_OK && has_out)
        wb_raw(q->w, buf, len);
}

static CK_RV op_hello(req_t *q)
{
    uint32_t version = rb_u32(q->r);
    if (version != PROTO_VERSION)
        return CKR_DEVICE_ERROR;
    wb_u64(q->w, q->app);
    return CKR_OK;
}

static CK_RV op_finalize(req_t *q)
{
    hsm_app_finalize(q->h, q->app);
    return CKR_OK;
}

static CK_RV op_get_slot_list(req_t *q)
{
    CK_ULONG n = 0;
    CK_RV rv = hsm_get_slot_list(q->h, NULL, &n);
    if (rv)
        return rv;
    CK_SLOT_ID *list = calloc(n + 1, sizeof *list);
    if (!list)
        return CKR_HOST_MEMORY;
    rv = hsm_get_slot_list(q->h, list, &n);
    if (rv == CKR_OK) {
        wb_u32(q->w, (uint32_t)n);
        for (CK_ULONG i = 0; i < n; i++)
            wb_u64(q->w, list[i]);
    }
    free(list);
    return rv;
}

static CK_RV op_get_slot_info(req_t *q)
{
    CK_SLOT_INFO info;
    CK_RV rv = hsm_get_slot_info(q->h, U64(q), &info);
    if (rv)
        return rv;
    wb_raw(q->w, info.slotDescription, sizeof info.slotDescription);
    wb_raw(q->w, info.manufacturerID, sizeof info.manufacturerID);
    wb_u64(q->w, info.flags);
    put_version(q->w, info.hardwareVersion);
    put_version(q->w, info.firmwareVersion);
    return CKR_OK;
}

static CK_RV op_get_token_info(req_t *q)
{
    CK_TOKEN_INFO t;
    CK_RV rv = hsm_get_token_info(q->h, U64(q), &t);
    if (rv)
        return rv;
    wb_raw(q->w, t.label, sizeof t.label);
    wb_raw(q->w, t.manufacturerID, sizeof t.manufacturerID);
    wb_raw(q->w, t.model, sizeof t.model);
    wb_raw(q->w, t.serialNumber, sizeof t.serialNumber);
    wb_u64(q->w, t.flags);
    CK_ULONG counts[] = { t.ulMaxSessionCount, t.ulSessionCount, t.ulMaxRwSessionCount,
                          t.ulRwSessionCount, t.ulMaxPinLen, t.ulMinPinLen,
                          t.ulTotalPublicMemory, t.ulFreePublicMemory, t.ulTotalPrivateMemory,
                          t.ulFreePrivateMemory };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        wb_u64(q->w, counts[i] == CK_UNAVAILABLE_INFORMATION ? PROTO_UNAVAILABLE : counts[i]);
    put_version(q->w, t.hardwareVersion);
    put_version(q->w, t.firmwareVersion);
    wb_raw(q->w, t.utcTime, sizeof t.utcTime);
    return CKR_OK;
}

static CK_RV op_get_mech_list(req_t *q)
{
    CK_MECHANISM_TYPE list[64];
    CK_ULONG n = 64;
    CK_RV rv = hsm_get_mechanism_list(q->h, U64(q), list, &n);
    if (rv)
        return rv;
    wb_u32(q->w, (uint32_t)n);
    for (CK_ULONG i = 0; i < n; i++)
        wb_u64(q->w, list[i]);
    return CKR_OK;
}

static CK_RV op_get_mech_info(req_t *q)
{
    CK_SLOT_ID slot = U64(q);
    CK_MECHANISM_TYPE type = U64(q);
    CK_MECHANISM_INFO info;
    CK_RV rv = hsm_get_mechanism_info(q->h, slot, type, &info);
    if (rv)
        return rv;
    wb_u64(q->w, info.ulMinKeySize);
    wb_u64(q->w, info.ulMaxKeySize);
    wb_u64(q->w, info.flags);
    return CKR_OK;
}

static CK_RV op_init_token(req_t *q)
{
    size_t pin_len;
    CK_SLOT_ID slot = U64(q);
    const uint8_t *pin = rb_bytes(q->r, &pin_len);
    const uint8_t *label = rb_raw(q->r, 32);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    return hsm_init_token(q->h, q->app, slot, pin, pin_len, label);
}

static CK_RV op_init_pin(req_t *q)
{
    size_t pin_len;
    CK_SESSION_HANDLE s = U64(q);
    const uint8_t *pin = rb_bytes(q->r, &pin_len);
    return hsm_init_pin(q->h, q->app, s, pin, pin_len);
}

static CK_RV op_set_pin(req_t *q)
{
    size_t old_len, new_len;
    CK_SESSION_HANDLE s = U64(q);
    const uint8_t *old_pin = rb_bytes(q->r, &old_len);
    const uint8_t *new_pin = rb_bytes(q->r, &new_len);
    return hsm_set_pin(q->h, q->app, s, old_pin, old_len, new_pin, new_len);
}

static CK_RV op_open_session(req_t *q)
{
    CK_SLOT_ID slot = U64(q);
    CK_FLAGS flags = U64(q);
    CK_SESSION_HANDLE s = 0;
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = hsm_open_session(q->h, q->app, slot, flags, &s);
    wb_u64(q->w, s);
    return rv;
}

static CK_RV op_close_session(req_t *q)
{
    return hsm_close_session(q->h, q->app, U64(q));
}

static CK_RV op_close_all(req_t *q)
{
    return hsm_close_all_sessions(q->h, q->app, U64(q));
}

static CK_RV op_get_session_info(req_t *q)
{
    CK_SESSION_INFO info;
    CK_RV rv = hsm_get_session_info(q->h, q->app, U64(q), &info);
    if (rv)
        return rv;
    wb_u64(q->w, info.slotID);
    wb_u64(q->w, info.state);
    wb_u64(q->w, info.flags);
    wb_u64(q->w, info.ulDeviceError);
    return CKR_OK;
}

static CK_RV op_login(req_t *q)
{
    size_t pin_len;
    CK_SESSION_HANDLE s = U64(q);
    CK_USER_TYPE user = U64(q);
    const uint8_t *pin = rb_bytes(q->r, &pin_len);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    return hsm_login(q->h, q->app, s, user, pin, pin_len);
}

static CK_RV op_logout(req_t *q)
{
    return hsm_logout(q->h, q->app, U64(q));
}

static CK_RV op_create_object(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_ATTRIBUTE *t;
    CK_ULONG n;
    CK_RV rv = proto_get_template(q->r, &t, &n);
    if (rv)
        return rv;
    CK_OBJECT_HANDLE o = 0;
    if (rb_done(q->r))
        rv = hsm_create_object(q->h, q->app, s, t, n, &o);
    proto_free_template(t, n);
    wb_u64(q->w, o);
    return rv;
}

static CK_RV op_copy_object(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_OBJECT_HANDLE src = U64(q), o = 0;
    CK_ATTRIBUTE *t;
    CK_ULONG n;
    CK_RV rv = proto_get_template(q->r, &t, &n);
    if (rv)
        return rv;
    if (rb_done(q->r))
        rv = hsm_copy_object(q->h, q->app, s, src, t, n, &o);
    proto_free_template(t, n);
    wb_u64(q->w, o);
    return rv;
}

static CK_RV op_destroy_object(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    return hsm_destroy_object(q->h, q->app, s, U64(q));
}

static CK_RV op_get_object_size(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_OBJECT_HANDLE o = U64(q);
    CK_ULONG size = 0;
    CK_RV rv = hsm_get_object_size(q->h, q->app, s, o, &size);
    wb_u64(q->w, size);
    return rv;
}

/*
 * C_GetAttributeValue in two passes: lengths first, then values into
 * buffers of exactly the needed size, so a client's claimed buffer size
 * never decides how much the daemon allocates.
 */
static CK_RV op_get_attribute_value(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_OBJECT_HANDLE o = U64(q);
    uint32_t n = rb_u32(q->r);
    if (q->r->err || n > PROTO_MAX_ATTRS)
        return CKR_ARGUMENTS_BAD;
    CK_ATTRIBUTE t[PROTO_MAX_ATTRS];
    uint8_t want[PROTO_MAX_ATTRS];
    uint64_t cap[PROTO_MAX_ATTRS];
    for (uint32_t i = 0; i < n; i++) {
        t[i].type = U64(q);
        want[i] = rb_u8(q->r);
        cap[i] = rb_u64(q->r);
        t[i].pValue = NULL;
        t[i].ulValueLen = 0;
    }
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = hsm_get_attribute_value(q->h, q->app, s, o, t, n);
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID)
        return rv;
    CK_RV rv2 = CKR_OK;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!want[i] || t[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
            continue;
        if (cap[i] < proto_wire_len(t[i].type, t[i].ulValueLen)) {
            t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv2 = CKR_BUFFER_TOO_SMALL;
            continue;
        }
        total += t[i].ulValueLen;
    }
    if (total > WIRE_MAX_FRAME / 2)
        return CKR_DEVICE_MEMORY;
    uint8_t *vals = malloc(total + 1);
    if (!vals)
        return CKR_HOST_MEMORY;
    CK_ATTRIBUTE sub[PROTO_MAX_ATTRS];
    uint32_t idx[PROTO_MAX_ATTRS], m = 0;
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!want[i] || t[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
            continue;
        sub[m].type = t[i].type;
        sub[m].pValue = vals + off;
        sub[m].ulValueLen = t[i].ulValueLen;
        off += t[i].ulValueLen;
        idx[m++] = i;
    }
    CK_RV rv3 = m ? hsm_get_attribute_value(q->h, q->app, s, o, sub, m) : CKR_OK;
    if (rv3 != CKR_OK && rv3 != CKR_BUFFER_TOO_SMALL && rv3 != CKR_ATTRIBUTE_SENSITIVE &&
        rv3 != CKR_ATTRIBUTE_TYPE_INVALID) {
        secure_zero(vals, total);
        free(vals);
        return rv3; /* the object or session went away between the passes */
    }
    wb_u32(q->w, n);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const CK_ATTRIBUTE *a = (k < m && idx[k] == i) ? &sub[k++] : NULL;
        CK_ULONG len = a ? a->ulValueLen : t[i].ulValueLen;
        if (len == CK_UNAVAILABLE_INFORMATION) {
            wb_u64(q->w, PROTO_UNAVAILABLE);
            continue;
        }
        wb_u64(q->w, proto_wire_len(t[i].type, len));
        if (a)
            proto_put_value(q->w, a->type, a->pValue, len);
    }
    secure_zero(vals, total);
    free(vals);
    if (rv != CKR_OK)
        return rv;
    return rv3 != CKR_OK ? rv3 : rv2;
}

static CK_RV op_set_attribute_value(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_OBJECT_HANDLE o = U64(q);
    CK_ATTRIBUTE *t;
    CK_ULONG n;
    CK_RV rv = proto_get_template(q->r, &t, &n);
    if (rv)
        return rv;
    if (rb_done(q->r))
        rv = hsm_set_attribute_value(q->h, q->app, s, o, t, n);
    proto_free_template(t, n);
    return rv;
}

static CK_RV op_find_init(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_ATTRIBUTE *t;
    CK_ULONG n;
    CK_RV rv = proto_get_template(q->r, &t, &n);
    if (rv)
        return rv;
    if (rb_done(q->r))
        rv = hsm_find_objects_init(q->h, q->app, s, t, n);
    proto_free_template(t, n);
    return rv;
}

static CK_RV op_find(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_ULONG max = U64(q);
    if (max > PROTO_MAX_FIND)
        max = PROTO_MAX_FIND;
    CK_OBJECT_HANDLE list[PROTO_MAX_FIND];
    CK_ULONG n = 0;
    CK_RV rv = hsm_find_objects(q->h, q->app, s, list, max, &n);
    if (rv)
        return rv;
    wb_u32(q->w, (uint32_t)n);
    for (CK_ULONG i = 0; i < n; i++)
        wb_u64(q->w, list[i]);
    return CKR_OK;
}

static CK_RV op_find_final(req_t *q)
{
    return hsm_find_objects_final(q->h, q->app, U64(q));
}

static CK_RV op_digest_init(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_MECHANISM m;
    proto_param_t store;
    if (!proto_get_mechanism(q->r, &m, &store) || !rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    return hsm_digest_init(q->h, q->app, s, &m);
}

/* The arguments that start an operation: session, direction, mechanism,
   key. False when they do not decode. */
static bool get_init(req_t *q, CK_SESSION_HANDLE *s, uint8_t *dir, CK_MECHANISM *m,
                     proto_param_t *store, CK_OBJECT_HANDLE *key)
{
    *s = U64(q);
    *dir = rb_u8(q->r);
    if (!proto_get_mechanism(q->r, m, store))
        return false;
    *key = U64(q);
    return rb_done(q->r) && *dir <= 1;
}

static CK_RV op_crypt_init(req_t *q)
{
    CK_SESSION_HANDLE s;
    uint8_t dir;
    CK_MECHANISM m;
    proto_param_t store;
    CK_OBJECT_HANDLE key;
    if (!get_init(q, &s, &dir, &m, &store, &key))
        return CKR_ARGUMENTS_BAD;
    return hsm_crypt_init(q->h, q->app, s, (enum hsm_crypt_dir)dir, &m, key);
}

/*
 * Encrypt/decrypt data calls. Output goes straight into the reply frame,
 * reserved at the size the core may need at most.
 */
static CK_RV crypt_data(req_t *q, uint32_t kind)
{
    CK_SESSION_HANDLE s = U64(q);
    uint8_t dir = rb_u8(q->r);
    uint8_t has_out = rb_u8(q->r);
    uint64_t cap = rb_u64(q->r);
    uint64_t total = kind == OP_CRYPT_FINAL ? 0 : rb_u64(q->r);
    size_t n = 0;
    const uint8_t *in = kind == OP_CRYPT_FINAL ? NULL : rb_bytes(q->r, &n);
    if (!rb_done(q->r) || dir > 1 || (has_out && (n != total || total > WIRE_CHUNK)))
        return CKR_ARGUMENTS_BAD;
    if (!has_out && total)
        in = (const uint8_t *)""; /* a length query reads no data */
    size_t at = q->w->len;
    wb_u64(q->w, 0);
    /* At most the input plus two blocks and a tag; an RSA block (up to 512
       bytes) may be longer than its input. */
    size_t most = (size_t)total + 1024;
    size_t room = has_out ? (size_t)(cap < most ? cap : most) : 0;
    uint8_t *out = has_out ? wb_reserve(q->w, room) : NULL;
    if (has_out && !out)
        return CKR_DEVICE_MEMORY;
    CK_ULONG out_len = (CK_ULONG)room;
    enum hsm_crypt_dir d = (enum hsm_crypt_dir)dir;
    CK_RV rv = kind == OP_CRYPT        ? hsm_crypt(q->h, q->app, s, d, in, (CK_ULONG)total, out, &out_len)
             : kind == OP_CRYPT_UPDATE ? hsm_crypt_update(q->h, q->app, s, d, in, (CK_ULONG)total,
                                                          out, &out_len)
                                       : hsm_crypt_final(q->h, q->app, s, d, out, &out_len);
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) {
        q->w->len = at;
        return rv;
    }
    be64_put(q->w->p + at, out_len);
    /* Keep exactly the bytes produced. */
    q->w->len = at + 8 + (rv == CKR_OK && has_out ? out_len : 0);
    return rv;
}

static CK_RV op_crypt(req_t *q)
{
    return crypt_data(q, OP_CRYPT);
}

static CK_RV op_crypt_update(req_t *q)
{
    return crypt_data(q, OP_CRYPT_UPDATE);
}

static CK_RV op_crypt_final(req_t *q)
{
    return crypt_data(q, OP_CRYPT_FINAL);
}

static CK_RV op_sign_init(req_t *q)
{
    CK_SESSION_HANDLE s;
    uint8_t dir;
    CK_MECHANISM m;
    proto_param_t store;
    CK_OBJECT_HANDLE key;
    if (!get_init(q, &s, &dir, &m, &store, &key))
        return CKR_ARGUMENTS_BAD;
    return hsm_sign_init(q->h, q->app, s, (enum hsm_sign_dir)dir, &m, key);
}

/* C_Sign and C_SignFinal: output as for digests. */
static CK_RV sign_out(req_t *q, bool final)
{
    CK_SESSION_HANDLE s = U64(q);
    uint8_t has_out = rb_u8(q->r);
    uint64_t cap = rb_u64(q->r);
    size_t n = 0;
    const uint8_t *data = final ? NULL : rb_bytes(q->r, &n);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    CK_BYTE sig[1024];
    CK_ULONG len = cap > sizeof sig ? sizeof sig : (CK_ULONG)cap;
    CK_BYTE *out = has_out ? sig : NULL;
    CK_RV rv = final ? hsm_sign_final(q->h, q->app, s, out, &len)
                     : hsm_sign(q->h, q->app, s, data, (CK_ULONG)n, out, &len);
    put_output(q, rv, has_out, sig, len);
    secure_zero(sig, sizeof sig);
    return rv;
}

static CK_RV op_sign(req_t *q)
{
    return sign_out(q, false);
}

static CK_RV op_sign_final(req_t *q)
{
    return sign_out(q, true);
}

static CK_RV op_sign_update(req_t *q)
{
    size_t n;
    CK_SESSION_HANDLE s = U64(q);
    uint8_t dir = rb_u8(q->r);
    const uint8_t *data = rb_bytes(q->r, &n);
    if (!rb_done(q->r) || dir > 1)
        return CKR_ARGUMENTS_BAD;
    return hsm_sign_update(q->h, q->app, s, (enum hsm_sign_dir)dir, data, (CK_ULONG)n);
}

static CK_RV op_verify(req_t *q)
{
    size_t n, sn;
    CK_SESSION_HANDLE s = U64(q);
    const uint8_t *data = rb_bytes(q->r, &n);
    const uint8_t *sig = rb_bytes(q->r, &sn);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    return hsm_verify(q->h, q->app, s, data, (CK_ULONG)n, sig, (CK_ULONG)sn);
}

static CK_RV op_verify_final(req_t *q)
{
    size_t sn;
    CK_SESSION_HANDLE s = U64(q);
    const uint8_t *sig = rb_bytes(q->r, &sn);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    return hsm_verify_final(q->h, q->app, s, sig, (CK_ULONG)sn);
}

static CK_RV op_generate_key_pair(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_MECHANISM m;
    proto_param_t store;
    CK_ATTRIBUTE *pt = NULL, *kt = NULL;
    CK_ULONG npt = 0, nkt = 0;
    if (!proto_get_mechanism(q->r, &m, &store))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = proto_get_template(q->r, &pt, &npt);
    if (rv == CKR_OK)
        rv = proto_get_template(q->r, &kt, &nkt);
    CK_OBJECT_HANDLE pub = 0, priv = 0;
    if (rv == CKR_OK && rb_done(q->r))
        rv = hsm_generate_key_pair(q->h, q->app, s, &m, pt, npt, kt, nkt, &pub, &priv);
    proto_free_template(pt, npt);
    proto_free_template(kt, nkt);
    wb_u64(q->w, pub);
    wb_u64(q->w, priv);
    return rv;
}

static CK_RV op_wrap_key(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_MECHANISM m;
    proto_param_t store;
    if (!proto_get_mechanism(q->r, &m, &store))
        return CKR_ARGUMENTS_BAD;
    CK_OBJECT_HANDLE wrapping = U64(q), key = U64(q);
    uint8_t has_out = rb_u8(q->r);
    uint64_t cap = rb_u64(q->r);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    CK_BYTE out[8192];
    CK_ULONG len = cap > sizeof out ? sizeof out : (CK_ULONG)cap;
    CK_RV rv = hsm_wrap_key(q->h, q->app, s, &m, wrapping, key, has_out ? out : NULL, &len);
    put_output(q, rv, has_out, out, len);
    secure_zero(out, sizeof out);
    return rv;
}

static CK_RV op_unwrap_key(req_t *q)
{
    size_t n;
    CK_SESSION_HANDLE s = U64(q);
    CK_MECHANISM m;
    proto_param_t store;
    CK_ATTRIBUTE *t;
    CK_ULONG nt;
    if (!proto_get_mechanism(q->r, &m, &store))
        return CKR_ARGUMENTS_BAD;
    CK_OBJECT_HANDLE unwrapping = U64(q);
    const uint8_t *wrapped = rb_bytes(q->r, &n);
    CK_RV rv = proto_get_template(q->r, &t, &nt);
    if (rv)
        return rv;
    CK_OBJECT_HANDLE o = 0;
    if (rb_done(q->r))
        rv = hsm_unwrap_key(q->h, q->app, s, &m, unwrapping, wrapped, (CK_ULONG)n, t, nt, &o);
    proto_free_template(t, nt);
    wb_u64(q->w, o);
    return rv;
}

static CK_RV op_derive_key(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_MECHANISM m;
    proto_param_t store;
    CK_ATTRIBUTE *t;
    CK_ULONG n;
    if (!proto_get_mechanism(q->r, &m, &store))
        return CKR_ARGUMENTS_BAD;
    CK_OBJECT_HANDLE base = U64(q);
    CK_RV rv = proto_get_template(q->r, &t, &n);
    if (rv)
        return rv;
    CK_OBJECT_HANDLE o = 0;
    if (rb_done(q->r))
        rv = hsm_derive_key(q->h, q->app, s, &m, base, t, n, &o);
    proto_free_template(t, n);
    wb_u64(q->w, o);
    return rv;
}

static CK_RV op_digest_key(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_OBJECT_HANDLE key = U64(q);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    return hsm_digest_key(q->h, q->app, s, key);
}

static CK_RV op_recover_init(req_t *q)
{
    CK_SESSION_HANDLE s;
    uint8_t dir;
    CK_MECHANISM m;
    proto_param_t store;
    CK_OBJECT_HANDLE key;
    if (!get_init(q, &s, &dir, &m, &store, &key))
        return CKR_ARGUMENTS_BAD;
    return hsm_recover_init(q->h, q->app, s, (enum hsm_sign_dir)dir, &m, key);
}

static CK_RV op_recover(req_t *q)
{
    size_t n;
    CK_SESSION_HANDLE s = U64(q);
    uint8_t dir = rb_u8(q->r);
    uint8_t has_out = rb_u8(q->r);
    uint64_t cap = rb_u64(q->r);
    const uint8_t *in = rb_bytes(q->r, &n);
    if (!rb_done(q->r) || dir > 1)
        return CKR_ARGUMENTS_BAD;
    CK_BYTE out[1024];
    CK_ULONG len = cap > sizeof out ? sizeof out : (CK_ULONG)cap;
    CK_RV rv = hsm_recover(q->h, q->app, s, (enum hsm_sign_dir)dir, in, (CK_ULONG)n,
                           has_out ? out : NULL, &len);
    put_output(q, rv, has_out, out, len);
    secure_zero(out, sizeof out);
    return rv;
}

static CK_RV op_generate_key(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_MECHANISM m;
    proto_param_t store;
    CK_ATTRIBUTE *t;
    CK_ULONG n;
    if (!proto_get_mechanism(q->r, &m, &store))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = proto_get_template(q->r, &t, &n);
    if (rv)
        return rv;
    CK_OBJECT_HANDLE o = 0;
    if (rb_done(q->r))
        rv = hsm_generate_key(q->h, q->app, s, &m, t, n, &o);
    proto_free_template(t, n);
    wb_u64(q->w, o);
    return rv;
}

/* Output of a digest: has_out, capacity; reply length, then bytes. */
static CK_RV digest_out(req_t *q, CK_SESSION_HANDLE s, const uint8_t *data, size_t len, bool final)
{
    uint8_t has_out = rb_u8(q->r);
    uint64_t cap = rb_u64(q->r);
    if (!final)
        data = rb_bytes(q->r, &len);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    CK_BYTE out[128];
    CK_ULONG out_len = cap > sizeof out ? sizeof out : (CK_ULONG)cap;
    CK_RV rv = final ? hsm_digest_final(q->h, q->app, s, has_out ? out : NULL, &out_len)
                     : hsm_digest(q->h, q->app, s, data, len, has_out ? out : NULL, &out_len);
    put_output(q, rv, has_out, out, out_len);
    return rv;
}

static CK_RV op_digest(req_t *q)
{
    return digest_out(q, U64(q), NULL, 0, false);
}

static CK_RV op_digest_update(req_t *q)
{
    size_t len;
    CK_SESSION_HANDLE s = U64(q);
    const uint8_t *data = rb_bytes(q->r, &len);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    return hsm_digest_update(q->h, q->app, s, data, len);
}

static CK_RV op_digest_final(req_t *q)
{
    return digest_out(q, U64(q), NULL, 0, true);
}

static CK_RV op_seed_random(req_t *q)
{
    size_t len;
    CK_SESSION_HANDLE s = U64(q);
    const uint8_t *seed = rb_bytes(q->r, &len);
    return hsm_seed_random(q->h, q->app, s, seed, len);
}

static CK_RV op_generate_random(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    uint64_t len = rb_u64(q->r);
    if (!rb_done(q->r) || len > WIRE_CHUNK)
        return CKR_ARGUMENTS_BAD;
    size_t at = q->w->len;
    wb_u32(q->w, (uint32_t)len);
    uint8_t *out = wb_reserve(q->w, (size_t)len);
    if (!out)
        return CKR_HOST_MEMORY;
    CK_RV rv = hsm_generate_random(q->h, q->app, s, out, (CK_ULONG)len);
    if (rv)
        q->w->len = at;
    return rv;
}

static CK_RV op_admin_show(req_t *q)
{
    hsm_info_t info;
    CK_RV rv = hsm_admin_info(q->h, &info);
    if (rv)
        return rv;
    wb_u8(q->w, (uint8_t)info.initialized);
    put_str(q->w, info.label);
    put_str(q->w, info.serial);
    wb_u32(q->w, info.fw_major);
    wb_u32(q->w, info.fw_minor);
    wb_u32(q->w, (uint32_t)info.npolicies);
    for (size_t i = 0; i < info.npolicies; i++) {
        put_str(q->w, info.policies[i].name);
        put_str(q->w, info.policies[i].description);
        wb_u64(q->w, info.policies[i].value);
    }
    wb_u32(q->w, (uint32_t)info.npartitions);
    for (size_t i = 0; i < info.npartitions; i++) {
        const hsm_partition_info_t *p = &info.partitions[i];
        wb_u64(q->w, p->slot);
        put_str(q->w, p->name);
        put_str(q->w, p->label);
        put_str(q->w, p->serial);
        wb_u8(q->w, (uint8_t)p->initialized);
        wb_u8(q->w, (uint8_t)p->user_pin_set);
        wb_u64(q->w, p->objects);
    }
    hsm_admin_info_free(&info);
    return CKR_OK;
}

static CK_RV op_admin_zeroize(req_t *q)
{
    size_t len;
    const uint8_t *pin = rb_bytes(q->r, &len);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    return hsm_admin_zeroize(q->h, pin, len);
}

static CK_RV op_partition(req_t *q, bool create)
{
    size_t len;
    char name[HSM_NAME_MAX + 2];
    const uint8_t *pin = rb_bytes(q->r, &len);
    if (!get_str(q, name, sizeof name))
        return rb_done(q->r) || !q->r->err ? SFM_R_BAD_NAME : CKR_ARGUMENTS_BAD;
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    if (!create)
        return hsm_admin_partition_delete(q->h, pin, len, name);
    CK_SLOT_ID slot = 0;
    CK_RV rv = hsm_admin_partition_create(q->h, pin, len, name, &slot);
    wb_u64(q->w, slot);
    return rv;
}

static CK_RV op_partition_create(req_t *q)
{
    return op_partition(q, true);
}

static CK_RV op_partition_delete(req_t *q)
{
    return op_partition(q, false);
}

static CK_RV op_policy_set(req_t *q)
{
    size_t len;
    char name[64];
    const uint8_t *pin = rb_bytes(q->r, &len);
    if (!get_str(q, name, sizeof name))
        return SFM_R_NOT_FOUND;
    uint64_t value = rb_u64(q->r);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    return hsm_admin_policy_set(q->h, pin, len, name, (unsigned long)value);
}

static const struct {
    uint32_t op;
    handler_t fn;
} handlers[] = {
    { OP_HELLO, op_hello },
    { OP_FINALIZE, op_finalize },
    { OP_GET_SLOT_LIST, op_get_slot_list },
    { OP_GET_SLOT_INFO, op_get_slot_info },
    { OP_GET_TOKEN_INFO, op_get_token_info },
    { OP_GET_MECH_LIST, op_get_mech_list },
    { OP_GET_MECH_INFO, op_get_mech_info },
    { OP_INIT_TOKEN, op_init_token },
    { OP_INIT_PIN, op_init_pin },
    { OP_SET_PIN, op_set_pin },
    { OP_OPEN_SESSION, op_open_session },
    { OP_CLOSE_SESSION, op_close_session },
    { OP_CLOSE_ALL_SESSIONS, op_close_all },
    { OP_GET_SESSION_INFO, op_get_session_info },
    { OP_LOGIN, op_login },
    { OP_LOGOUT, op_logout },
    { OP_CREATE_OBJECT, op_create_object },
    { OP_COPY_OBJECT, op_copy_object },
    { OP_DESTROY_OBJECT, op_destroy_object },
    { OP_GET_OBJECT_SIZE, op_get_object_size },
    { OP_GET_ATTRIBUTE_VALUE, op_get_attribute_value },
    { OP_SET_ATTRIBUTE_VALUE, op_set_attribute_value },
    { OP_FIND_OBJECTS_INIT, op_find_init },
    { OP_FIND_OBJECTS, op_find },
    { OP_FIND_OBJECTS_FINAL, op_find_final },
    { OP_DIGEST_INIT, op_digest_init },
    { OP_DIGEST, op_digest },
    { OP_DIGEST_UPDATE, op_digest_update },
    { OP_DIGEST_FINAL, op_digest_final },
    { OP_SEED_RANDOM, op_seed_random },
    { OP_GENERATE_KEY, op_generate_key },
    { OP_GENERATE_KEY_PAIR, op_generate_key_pair },
    { OP_WRAP_KEY, op_wrap_key },
    { OP_UNWRAP_KEY, op_unwrap_key },
    { OP_DERIVE_KEY, op_derive_key },
    { OP_DIGEST_KEY, op_digest_key },
    { OP_CRYPT_INIT, op_crypt_init },
    { OP_CRYPT, op_crypt },
    { OP_CRYPT_UPDATE, op_crypt_update },
    { OP_CRYPT_FINAL, op_crypt_final },
    { OP_SIGN_INIT, op_sign_init },
    { OP_SIGN, op_sign },
    { OP_SIGN_UPDATE, op_sign_update },
    { OP_SIGN_FINAL, op_sign_final },
    { OP_VERIFY, op_verify },
    { OP_VERIFY_FINAL, op_verify_final },
    { OP_RECOVER_INIT, op_recover_init },
    { OP_RECOVER, op_recover },
    { OP_GENERATE_RANDOM, op_generate_random },
    { OP_ADMIN_SHOW, op_admin_show },
    { OP_ADMIN_ZEROIZE, op_admin_zeroize },
    { OP_ADMIN_PARTITION_CREATE, op_partition_create },
    { OP_ADMIN_PARTITION_DELETE, op_partition_delete },
    { OP_ADMIN_POLICY_SET, op_policy_set },
};

int dispatch(hsm_t *h, app_id_t app, const uint8_t *req, size_t len, wbuf_t *reply)
{
    rbuf_t r;
    rb_init(&r, req, len);
    uint32_t op = rb_u32(&r);
    handler_t fn = NULL;
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (handlers[i].op == op)
            fn = handlers[i].fn;
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
