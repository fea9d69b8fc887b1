/*
 * Requests of cryptography: digests, random, keys, encryption, signatures,
 * wrapping, derivation.
 */
#include <stdlib.h>
#include <string.h>

#include "requests.h"

static CK_RV op_digest_init(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_MECHANISM m;
    proto_param_t store;
    if (!proto_get_mechanism(q->r, &m, &store) || !rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    return hsm_digest_init(q->h, q->app, s, &m);
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

const op_entry_t ops_crypto[] = {
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
};

const size_t ops_crypto_count = sizeof ops_crypto / sizeof ops_crypto[0];
