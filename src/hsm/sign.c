/*
 * Signatures and MACs: HMAC with SHA-1 and SHA-2 (full length and the
 * _GENERAL forms that truncate), AES-CMAC (full and general), RSA PKCS#1
 * v1.5, raw RSA (X.509), RSA-PSS, ECDSA (on a hash, or hashing itself) and
 * EdDSA (Ed25519).
 *
 * ECDSA signatures are r || s, each as long as the curve's order, as PKCS#11
 * has them; OpenSSL's DER form is converted at the edge.
 *
 * The operation rules are those of cipher.c: a length query or a buffer too
 * small changes nothing; any other error ends the operation; single-part and
 * multi-part calls do not mix. A MAC is verified by computing it and
 * comparing in constant time.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>

#include "internal.h"

enum sign_kind {
    S_HMAC, S_CMAC,
    S_RSA_PKCS,       /* the caller's DigestInfo, PKCS#1 v1.5 padded */
    S_RSA_X509,       /* raw RSA */
    S_RSA_PSS,        /* the caller's hash, PSS */
    S_RSA_PKCS_HASH,  /* hash, DigestInfo, PKCS#1 v1.5 */
    S_RSA_PSS_HASH,   /* hash, PSS */
    S_ECDSA,          /* the caller's hash */
    S_ECDSA_HASH,
    S_EDDSA,
};

typedef struct sign_mech {
    CK_MECHANISM_TYPE mech;
    enum sign_kind kind;
    const char *digest;        /* HMAC; the hash of hash-and-sign mechanisms */
    size_t full_len;           /* output length of the plain form */
    bool general;              /* parameter: the output length wanted */
    CK_KEY_TYPE hmac_key;      /* the HMAC key type that also fits */
} sign_mech_t;

static const sign_mech_t sign_mechs[] = {
    { CKM_SHA_1_HMAC, S_HMAC, "SHA1", 20, false, CKK_SHA_1_HMAC },
    { CKM_SHA_1_HMAC_GENERAL, S_HMAC, "SHA1", 20, true, CKK_SHA_1_HMAC },
    { CKM_SHA224_HMAC, S_HMAC, "SHA224", 28, false, CKK_SHA224_HMAC },
    { CKM_SHA224_HMAC_GENERAL, S_HMAC, "SHA224", 28, true, CKK_SHA224_HMAC },
    { CKM_SHA256_HMAC, S_HMAC, "SHA256", 32, false, CKK_SHA256_HMAC },
    { CKM_SHA256_HMAC_GENERAL, S_HMAC, "SHA256", 32, true, CKK_SHA256_HMAC },
    { CKM_SHA384_HMAC, S_HMAC, "SHA384", 48, false, CKK_SHA384_HMAC },
    { CKM_SHA384_HMAC_GENERAL, S_HMAC, "SHA384", 48, true, CKK_SHA384_HMAC },
    { CKM_SHA512_HMAC, S_HMAC, "SHA512", 64, false, CKK_SHA512_HMAC },
    { CKM_SHA512_HMAC_GENERAL, S_HMAC, "SHA512", 64, true, CKK_SHA512_HMAC },
    { CKM_AES_CMAC, S_CMAC, NULL, 16, false, 0 },
    { CKM_AES_CMAC_GENERAL, S_CMAC, NULL, 16, true, 0 },
    { CKM_RSA_PKCS, S_RSA_PKCS, NULL, 0, false, 0 },
    { CKM_RSA_X_509, S_RSA_X509, NULL, 0, false, 0 },
    { CKM_RSA_PKCS_PSS, S_RSA_PSS, NULL, 0, false, 0 },
    { CKM_SHA1_RSA_PKCS, S_RSA_PKCS_HASH, "SHA1", 0, false, 0 },
    { CKM_SHA224_RSA_PKCS, S_RSA_PKCS_HASH, "SHA224", 0, false, 0 },
    { CKM_SHA256_RSA_PKCS, S_RSA_PKCS_HASH, "SHA256", 0, false, 0 },
    { CKM_SHA384_RSA_PKCS, S_RSA_PKCS_HASH, "SHA384", 0, false, 0 },
    { CKM_SHA512_RSA_PKCS, S_RSA_PKCS_HASH, "SHA512", 0, false, 0 },
    { CKM_SHA1_RSA_PKCS_PSS, S_RSA_PSS_HASH, "SHA1", 0, false, 0 },
    { CKM_SHA224_RSA_PKCS_PSS, S_RSA_PSS_HASH, "SHA224", 0, false, 0 },
    { CKM_SHA256_RSA_PKCS_PSS, S_RSA_PSS_HASH, "SHA256", 0, false, 0 },
    { CKM_SHA384_RSA_PKCS_PSS, S_RSA_PSS_HASH, "SHA384", 0, false, 0 },
    { CKM_SHA512_RSA_PKCS_PSS, S_RSA_PSS_HASH, "SHA512", 0, false, 0 },
    { CKM_ECDSA, S_ECDSA, NULL, 0, false, 0 },
    { CKM_ECDSA_SHA1, S_ECDSA_HASH, "SHA1", 0, false, 0 },
    { CKM_ECDSA_SHA224, S_ECDSA_HASH, "SHA224", 0, false, 0 },
    { CKM_ECDSA_SHA256, S_ECDSA_HASH, "SHA256", 0, false, 0 },
    { CKM_ECDSA_SHA384, S_ECDSA_HASH, "SHA384", 0, false, 0 },
    { CKM_ECDSA_SHA512, S_ECDSA_HASH, "SHA512", 0, false, 0 },
    { CKM_EDDSA, S_EDDSA, NULL, 64, false, 0 },
};

static bool is_mac(const sign_mech_t *sm)
{
    return sm->kind == S_HMAC || sm->kind == S_CMAC;
}

static bool is_rsa(const sign_mech_t *sm)
{
    return sm->kind >= S_RSA_PKCS && sm->kind <= S_RSA_PSS_HASH;
}

/* Mechanisms that hash as they go; the others keep the data whole. */
static bool hashes(const sign_mech_t *sm)
{
    return sm->kind == S_RSA_PKCS_HASH || sm->kind == S_RSA_PSS_HASH || sm->kind == S_ECDSA_HASH;
}

#define MAX_WHOLE (16u << 20) /* data an EdDSA or raw signature may cover */

static const sign_mech_t *sign_mech(CK_MECHANISM_TYPE m)
{
    for (size_t i = 0; i < sizeof sign_mechs / sizeof sign_mechs[0]; i++)
        if (sign_mechs[i].mech == m)
            return &sign_mechs[i];
    return NULL;
}

static EVP_MAC *mac_hmac, *mac_cmac;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;

static void fetch_macs(void)
{
    mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    mac_cmac = EVP_MAC_fetch(NULL, "CMAC", NULL);
}

void sign_op_end(sign_op_t *op)
{
    EVP_MAC_CTX_free(op->mac); /* wipes the key schedule */
    EVP_MD_CTX_free(op->md);
    EVP_PKEY_free(op->pkey);
    if (op->buf) {
        secure_zero(op->buf, op->cap);
        free(op->buf);
    }
    memset(op, 0, sizeof *op);
}

const EVP_MD *md_by_mech(CK_MECHANISM_TYPE m)
{
    switch (m) {
    case CKM_SHA_1: return EVP_sha1();
    case CKM_SHA224: return EVP_sha224();
    case CKM_SHA256: return EVP_sha256();
    case CKM_SHA384: return EVP_sha384();
    case CKM_SHA512: return EVP_sha512();
    default: return NULL;
    }
}

const EVP_MD *md_by_mgf(CK_RSA_PKCS_MGF_TYPE g)
{
    switch (g) {
    case CKG_MGF1_SHA1: return EVP_sha1();
    case CKG_MGF1_SHA224: return EVP_sha224();
    case CKG_MGF1_SHA256: return EVP_sha256();
    case CKG_MGF1_SHA384: return EVP_sha384();
    case CKG_MGF1_SHA512: return EVP_sha512();
    default: return NULL;
    }
}

/* CK_RSA_PKCS_PSS_PARAMS: a known hash and MGF, a salt that fits. */
static CK_RV pss_params(sign_op_t *op, const sign_mech_t *sm, const CK_MECHANISM *m)
{
    if (!m->pParameter || m->ulParameterLen != sizeof(CK_RSA_PKCS_PSS_PARAMS))
        return CKR_MECHANISM_PARAM_INVALID;
    const CK_RSA_PKCS_PSS_PARAMS *p = m->pParameter;
    op->pss_md = md_by_mech(p->hashAlg);
    op->pss_mgf = md_by_mgf(p->mgf);
    if (!op->pss_md || !op->pss_mgf)
        return CKR_MECHANISM_PARAM_INVALID;
    if (sm->digest && strcmp(EVP_MD_get0_name(op->pss_md), sm->digest) &&
        !(EVP_MD_is_a(op->pss_md, sm->digest)))
        return CKR_MECHANISM_PARAM_INVALID;
    size_t k = (size_t)EVP_PKEY_get_size(op->pkey), h = (size_t)EVP_MD_get_size(op->pss_md);
    if (k < h + 2 || p->sLen > k - h - 2)
        return CKR_MECHANISM_PARAM_INVALID;
    op->pss_salt = (int)p->sLen;
    return CKR_OK;
}

/* Padding and hash settings of an RSA operation on ctx. */
static int rsa_setup(const sign_op_t *op, EVP_PKEY_CTX *ctx)
{
    switch (op->sm->kind) {
    case S_RSA_PKCS:
    case S_RSA_PKCS_HASH:
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
    case S_RSA_X509:
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING);
    case S_RSA_PSS:
    case S_RSA_PSS_HASH:
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
               (op->sm->kind == S_RSA_PSS_HASH || EVP_PKEY_CTX_set_signature_md(ctx, op->pss_md) == 1) &&
               EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, op->pss_mgf) == 1 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, op->pss_salt) == 1;
    default:
        return 1;
    }
}

/* Start an asymmetric operation: key checks, parameters, hashing context. */
static CK_RV pk_start(sign_op_t *op, const sign_mech_t *sm, const CK_MECHANISM *m, key_use_t *k,
                      bool sign)
{
    CK_KEY_TYPE want = is_rsa(sm) ? CKK_RSA : sm->kind == S_EDDSA ? CKK_EC_EDWARDS : CKK_EC;
    if (k->type != want || k->cls != (sign ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY))
        return CKR_KEY_TYPE_INCONSISTENT;
    op->pkey = k->pkey;
    k->pkey = NULL;
    op->field_bytes = k->field_bytes;
    op->need_auth = sign && k->always_authenticate;
    if (is_rsa(sm)) {
        int bits = EVP_PKEY_get_bits(op->pkey);
        if (bits < 1024 || bits > 8192)
            return CKR_KEY_SIZE_RANGE;
        op->out_len = (size_t)EVP_PKEY_get_size(op->pkey);
    } else if (sm->kind == S_EDDSA) {
        op->out_len = 64;
    } else {
        if (!op->field_bytes)
            return CKR_KEY_TYPE_INCONSISTENT;
        op->out_len = 2 * op->field_bytes;
    }
    if (sm->kind == S_RSA_PSS || sm->kind == S_RSA_PSS_HASH) {
        CK_RV rv = pss_params(op, sm, m);
        if (rv)
            return rv;
    } else if (m->pParameter || m->ulParameterLen) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (!hashes(sm))
        return CKR_OK;
    EVP_PKEY_CTX *pctx = NULL;
    if (!(op->md = EVP_MD_CTX_new()))
        return CKR_HOST_MEMORY;
    int ok = sign ? EVP_DigestSignInit_ex(op->md, &pctx, sm->digest, NULL, NULL, op->pkey, NULL)
                  : EVP_DigestVerifyInit_ex(op->md, &pctx, sm->digest, NULL, NULL, op->pkey, NULL);
    if (ok != 1 || (is_rsa(sm) && rsa_setup(op, pctx) != 1))
        return CKR_FUNCTION_FAILED;
    return CKR_OK;
}

/* Keep data for mechanisms that sign it whole. */
static CK_RV keep_data(sign_op_t *op, const CK_BYTE *data, CK_ULONG len)
{
    if (len > MAX_WHOLE - op->len)
        return CKR_DATA_LEN_RANGE;
    if (op->len + len > op->cap) {
        size_t cap = op->cap ? op->cap : 256;
        while (cap < op->len + len)
            cap *= 2;
        uint8_t *p = malloc(cap);
        if (!p)
            return CKR_HOST_MEMORY;
        if (op->buf) {
            memcpy(p, op->buf, op->len);
            secure_zero(op->buf, op->cap);
            free(op->buf);
        }
        op->buf = p;
        op->cap = cap;
    }
    if (len)
        memcpy(op->buf + op->len, data, len);
    op->len += len;
    return CKR_OK;
}

/* DER ECDSA-Sig-Value <-> r || s. */
static CK_RV der_to_raw(const uint8_t *der, size_t n, size_t fb, uint8_t *out)
{
    const uint8_t *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
    if (!sig)
        return CKR_FUNCTION_FAILED;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    CK_RV rv = BN_bn2binpad(r, out, (int)fb) == (int)fb && BN_bn2binpad(s, out + fb, (int)fb) == (int)fb
                   ? CKR_OK : CKR_FUNCTION_FAILED;
    ECDSA_SIG_free(sig);
    return rv;
}

static int raw_to_der(const uint8_t *raw, size_t fb, uint8_t **der)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)fb, NULL), *s = BN_bin2bn(raw + fb, (int)fb, NULL);
    int n = -1;
    if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL;
        *der = NULL;
        n = i2d_ECDSA_SIG(sig, der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return n;
}

static CK_RV key_fits(const sign_mech_t *sm, const key_use_t *k)
{
    if (k->cls != CKO_SECRET_KEY)
        return CKR_KEY_TYPE_INCONSISTENT;
    if (sm->kind == S_CMAC) {
        if (k->type != CKK_AES)
            return CKR_KEY_TYPE_INCONSISTENT;
        return k->len == 16 || k->len == 24 || k->len == 32 ? CKR_OK : CKR_KEY_SIZE_RANGE;
    }
    if (k->type != CKK_GENERIC_SECRET && k->type != sm->hmac_key)
        return CKR_KEY_TYPE_INCONSISTENT;
    return k->len ? CKR_OK : CKR_KEY_SIZE_RANGE;
}

static CK_RV mac_start(sign_op_t *op, const sign_mech_t *sm, const CK_MECHANISM *m,
                       const key_use_t *k)
{
    CK_RV rv = key_fits(sm, k);
    if (rv)
        return rv;
    if (sm->general) {
        CK_ULONG want = 0;
        if (!m->pParameter || m->ulParameterLen != sizeof want)
            return CKR_MECHANISM_PARAM_INVALID;
        memcpy(&want, m->pParameter, sizeof want);
        if (want < 1 || want > sm->full_len)
            return CKR_MECHANISM_PARAM_INVALID;
        op->out_len = want;
    } else {
        if (m->pParameter || m->ulParameterLen)
            return CKR_MECHANISM_PARAM_INVALID;
        op->out_len = sm->full_len;
    }
    OSSL_PARAM params[2];
    const char *cipher = k->len == 16 ? "AES-128-CBC" : k->len == 24 ? "AES-192-CBC" : "AES-256-CBC";
    pthread_once(&mac_once, fetch_macs);
    op->mac = EVP_MAC_CTX_new(sm->kind == S_HMAC ? mac_hmac : mac_cmac);
    if (!op->mac)
        return CKR_HOST_MEMORY;
    if (sm->kind == S_HMAC)
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)sm->digest, 0);
    else
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)cipher, 0);
    params[1] = OSSL_PARAM_construct_end();
    return EVP_MAC_init(op->mac, k->value, k->len, params) == 1 ? CKR_OK : CKR_FUNCTION_FAILED;
}

/* The operation slot: plain signatures or signatures with recovery. */
static sign_op_t *slot(session_t *s, bool recover, enum hsm_sign_dir dir)
{
    return recover ? &s->recover[dir] : &s->sign[dir];
}

static CK_RV start(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, bool recover,
                   enum hsm_sign_dir dir, const CK_MECHANISM *m, CK_OBJECT_HANDLE key)
{
    session_t *s;
    key_use_t k;
    memset(&k, 0, sizeof k);
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    sign_op_t *op = slot(s, recover, dir);
    const sign_mech_t *sm = m ? sign_mech(m->mechanism) : NULL;
    CK_ATTRIBUTE_TYPE usage = recover ? (dir == HSM_SIGN ? CKA_SIGN_RECOVER : CKA_VERIFY_RECOVER)
                                      : (dir == HSM_SIGN ? CKA_SIGN : CKA_VERIFY);
    if (!m)
        rv = CKR_ARGUMENTS_BAD;
    else if (op->active)
        rv = CKR_OPERATION_ACTIVE;
    else if (!sm || !mech_find(m->mechanism) ||
             (recover && sm->kind != S_RSA_PKCS && sm->kind != S_RSA_X509))
        rv = CKR_MECHANISM_INVALID;
    else if ((rv = key_for_use(h, s, key, usage, m->mechanism, &k)) == CKR_OK) {
        op->sm = sm;
        rv = is_mac(sm) ? mac_start(op, sm, m, &k) : pk_start(op, sm, m, &k, dir == HSM_SIGN);
    }
    if (rv == CKR_OK)
        op->active = true;
    else if (rv != CKR_OPERATION_ACTIVE)
        sign_op_end(op);
    key_use_free(&k);
    session_checkin(h, s);
    return rv;
}

CK_RV hsm_sign_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, enum hsm_sign_dir dir,
                    const CK_MECHANISM *m, CK_OBJECT_HANDLE key)
{
    return start(h, app, handle, false, dir, m, key);
}

static CK_RV enter(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, bool recover,
                   enum hsm_sign_dir dir, session_t **s, sign_op_t **op)
{
    CK_RV rv = session_checkout(h, app, handle, s);
    if (rv)
        return rv;
    *op = slot(*s, recover, dir);
    if (!(*op)->active) {
        session_checkin(h, *s);
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    if ((*op)->need_auth) { /* the operation waits for C_Login(CKU_CONTEXT_SPECIFIC) */
        session_checkin(h, *s);
        return CKR_USER_NOT_LOGGED_IN;
    }
    return CKR_OK;
}

static CK_RV leave(hsm_t *h, session_t *s, sign_op_t *op, CK_RV rv, bool keep)
{
    if (!keep)
        sign_op_end(op);
    session_checkin(h, s);
    return rv;
}

static CK_RV feed(sign_op_t *op, bool sign, const CK_BYTE *data, CK_ULONG len)
{
    if (op->mac)
        return !len || EVP_MAC_update(op->mac, data, len) == 1 ? CKR_OK : CKR_FUNCTION_FAILED;
    if (op->md) {
        int ok = !len || (sign ? EVP_DigestSignUpdate(op->md, data, len)
                               : EVP_DigestVerifyUpdate(op->md, data, len)) == 1;
        return ok ? CKR_OK : CKR_FUNCTION_FAILED;
    }
    return keep_data(op, data, len);
}

/* A signature over the raw data kept: RSA (PKCS#1, X.509, PSS) or ECDSA on
   a hash the caller made. */
static CK_RV pk_sign_raw(sign_op_t *op, uint8_t *out, size_t *n)
{
    const sign_mech_t *sm = op->sm;
    size_t k = op->out_len;
    uint8_t x509[1024];
    const uint8_t *in = op->buf ? op->buf : (const uint8_t *)"";
    size_t len = op->len;
    if (sm->kind == S_RSA_PKCS && len > k - 11)
        return CKR_DATA_LEN_RANGE;
    if (sm->kind == S_RSA_X509) {
        if (len > k || k > sizeof x509)
            return CKR_DATA_LEN_RANGE;
        memset(x509, 0, k - len);
        memcpy(x509 + k - len, in, len);
        in = x509;
        len = k;
    }
    if (sm->kind == S_RSA_PSS && len != (size_t)EVP_MD_get_size(op->pss_md))
        return CKR_DATA_LEN_RANGE;
    if (sm->kind == S_ECDSA && (len == 0 || len > 64))
        return CKR_DATA_LEN_RANGE;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, op->pkey, NULL);
    uint8_t der[160];
    size_t dn = sm->kind == S_ECDSA ? sizeof der : k;
    CK_RV rv = CKR_FUNCTION_FAILED;
    if (ctx && EVP_PKEY_sign_init(ctx) == 1 && (!is_rsa(sm) || rsa_setup(op, ctx) == 1) &&
        EVP_PKEY_sign(ctx, sm->kind == S_ECDSA ? der : out, &dn, in, len) == 1) {
        if (sm->kind == S_ECDSA)
            rv = der_to_raw(der, dn, op->field_bytes, out);
        else
            rv = dn == k ? CKR_OK : CKR_FUNCTION_FAILED;
    } else if (sm->kind == S_RSA_X509) {
        rv = CKR_DATA_INVALID; /* not below the modulus */
    }
    *n = op->out_len;
    EVP_PKEY_CTX_free(ctx);
    secure_zero(x509, sizeof x509);
    return rv;
}

/* The signature or MAC, into out (op->out_len bytes). */
static CK_RV produce(sign_op_t *op, CK_BYTE *out)
{
    size_t n = 0;
    if (op->mac) {
        uint8_t full[EVP_MAX_MD_SIZE];
        if (EVP_MAC_final(op->mac, full, &n, sizeof full) != 1 || n < op->out_len)
            return CKR_FUNCTION_FAILED;
        memcpy(out, full, op->out_len);
        secure_zero(full, sizeof full);
        return CKR_OK;
    }
    if (op->sm->kind == S_EDDSA) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        n = 64;
        CK_RV rv = md && EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, op->pkey, NULL) == 1 &&
                           EVP_DigestSign(md, out, &n, op->buf ? op->buf : (const uint8_t *)"",
                                          op->len) == 1 && n == 64
                       ? CKR_OK : CKR_FUNCTION_FAILED;
        EVP_MD_CTX_free(md);
        return rv;
    }
    if (op->md) {
        uint8_t der[160];
        bool ec = op->sm->kind == S_ECDSA_HASH;
        n = ec ? sizeof der : op->out_len;
        if (EVP_DigestSignFinal(op->md, ec ? der : out, &n) != 1)
            return CKR_FUNCTION_FAILED;
        return ec ? der_to_raw(der, n, op->field_bytes, out) : CKR_OK;
    }
    return pk_sign_raw(op, out, &n);
}

/* Sign output rules shared by C_Sign and C_SignFinal. */
static CK_RV sign_out(sign_op_t *op, CK_BYTE *sig, CK_ULONG *sig_len, bool *keep)
{
    *keep = true;
    if (!sig) {
        *sig_len = op->out_len;
        return CKR_OK;
    }
    if (*sig_len < op->out_len) {
        *sig_len = op->out_len;
        return CKR_BUFFER_TOO_SMALL;
    }
    *keep = false;
    CK_RV rv = produce(op, sig);
    if (rv == CKR_OK)
        *sig_len = op->out_len;
    return rv;
}

/* A single-part signature over data (C_Sign, C_SignRecover). */
static CK_RV sign_whole(sign_op_t *op, const CK_BYTE *data, CK_ULONG len, CK_BYTE *sig,
                        CK_ULONG *sig_len, bool *keep)
{
    CK_RV rv;
    *keep = false;
    if (op->multi) {
        *keep = true;
        return CKR_OPERATION_ACTIVE;
    }
    if ((!data && len) || !sig_len)
        return CKR_ARGUMENTS_BAD;
    if (sig && *sig_len >= op->out_len && (rv = feed(op, true, data, len)))
        return rv;
    return sign_out(op, sig, sig_len, keep);
}

CK_RV hsm_sign(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_BYTE *data, CK_ULONG len,
               CK_BYTE *sig, CK_ULONG *sig_len)
{
    session_t *s;
    sign_op_t *op;
    bool keep;
    CK_RV rv = enter(h, app, handle, false, HSM_SIGN, &s, &op);
    if (rv)
        return rv;
    rv = sign_whole(op, data, len, sig, sig_len, &keep);
    return leave(h, s, op, rv, keep);
}

CK_RV hsm_sign_update(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, enum hsm_sign_dir dir,
                      const CK_BYTE *data, CK_ULONG len)
{
    session_t *s;
    sign_op_t *op;
    CK_RV rv = enter(h, app, handle, false, dir, &s, &op);
    if (rv)
        return rv;
    if (!data && len)
        return leave(h, s, op, CKR_ARGUMENTS_BAD, false);
    op->multi = true;
    rv = feed(op, dir == HSM_SIGN, data, len);
    return leave(h, s, op, rv, rv == CKR_OK);
}

CK_RV hsm_sign_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, CK_BYTE *sig,
                     CK_ULONG *sig_len)
{
    session_t *s;
    sign_op_t *op;
    bool keep = false;
    CK_RV rv = enter(h, app, handle, false, HSM_SIGN, &s, &op);
    if (rv)
        return rv;
    if (!sig_len)
        return leave(h, s, op, CKR_ARGUMENTS_BAD, false);
    rv = sign_out(op, sig, sig_len, &keep);
    return leave(h, s, op, rv, keep);
}

/* Verify an asymmetric signature over what was fed. */
static CK_RV pk_check(sign_op_t *op, const CK_BYTE *sig, CK_ULONG sig_len)
{
    const sign_mech_t *sm = op->sm;
    uint8_t *der = NULL;
    const uint8_t *s = sig;
    size_t sn = sig_len;
    int ok = -1;
    bool ec = sm->kind == S_ECDSA || sm->kind == S_ECDSA_HASH;
    if (ec) {
        int n = raw_to_der(sig, op->field_bytes, &der);
        if (n <= 0)
            return CKR_SIGNATURE_INVALID;
        s = der;
        sn = (size_t)n;
    }
    if (sm->kind == S_EDDSA) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (md && EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, op->pkey, NULL) == 1)
            ok = EVP_DigestVerify(md, s, sn, op->buf ? op->buf : (const uint8_t *)"", op->len);
        EVP_MD_CTX_free(md);
    } else if (op->md) {
        ok = EVP_DigestVerifyFinal(op->md, s, sn);
    } else {
        size_t k = op->out_len, len = op->len;
        const uint8_t *in = op->buf ? op->buf : (const uint8_t *)"";
        uint8_t x509[1024];
        if (sm->kind == S_RSA_PKCS && len > k - 11)
            return CKR_DATA_LEN_RANGE;
        if (sm->kind == S_RSA_PSS && len != (size_t)EVP_MD_get_size(op->pss_md))
            return CKR_DATA_LEN_RANGE;
        if (sm->kind == S_RSA_X509) {
            if (len > k || k > sizeof x509)
                return CKR_DATA_LEN_RANGE;
            memset(x509, 0, k - len);
            memcpy(x509 + k - len, in, len);
            in = x509;
            len = k;
        }
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, op->pkey, NULL);
        if (ctx && EVP_PKEY_verify_init(ctx) == 1 && (!is_rsa(sm) || rsa_setup(op, ctx) == 1))
            ok = EVP_PKEY_verify(ctx, s, sn, in, len);
        EVP_PKEY_CTX_free(ctx);
    }
    OPENSSL_free(der);
    return ok == 1 ? CKR_OK : CKR_SIGNATURE_INVALID;
}

static CK_RV check(sign_op_t *op, const CK_BYTE *sig, CK_ULONG sig_len)
{
    if (!sig && sig_len)
        return CKR_ARGUMENTS_BAD;
    if (sig_len != op->out_len)
        return CKR_SIGNATURE_LEN_RANGE;
    if (!op->mac)
        return pk_check(op, sig, sig_len);
    uint8_t mac[EVP_MAX_MD_SIZE];
    CK_RV rv = produce(op, mac);
    if (rv == CKR_OK && ct_memcmp(mac, sig, op->out_len))
        rv = CKR_SIGNATURE_INVALID;
    secure_zero(mac, sizeof mac);
    return rv;
}

CK_RV hsm_verify(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_BYTE *data,
                 CK_ULONG len, const CK_BYTE *sig, CK_ULONG sig_len)
{
    session_t *s;
    sign_op_t *op;
    CK_RV rv = enter(h, app, handle, false, HSM_VERIFY, &s, &op);
    if (rv)
        return rv;
    if (op->multi)
        return leave(h, s, op, CKR_OPERATION_ACTIVE, true);
    if (!data && len)
        return leave(h, s, op, CKR_ARGUMENTS_BAD, false);
    if ((rv = feed(op, false, data, len)) == CKR_OK)
        rv = check(op, sig, sig_len);
    return leave(h, s, op, rv, false);
}

CK_RV hsm_verify_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_BYTE *sig,
                       CK_ULONG sig_len)
{
    session_t *s;
    sign_op_t *op;
    CK_RV rv = enter(h, app, handle, false, HSM_VERIFY, &s, &op);
    if (rv)
        return rv;
    rv = check(op, sig, sig_len);
    return leave(h, s, op, rv, false);
}

/* ---- signatures with message recovery ---- */

CK_RV hsm_recover_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, enum hsm_sign_dir dir,
                       const CK_MECHANISM *m, CK_OBJECT_HANDLE key)
{
    return start(h, app, handle, true, dir, m, key);
}

CK_RV hsm_recover(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, enum hsm_sign_dir dir,
                  const CK_BYTE *in, CK_ULONG len, CK_BYTE *out, CK_ULONG *out_len)
{
    session_t *s;
    sign_op_t *op;
    bool keep = false;
    CK_RV rv = enter(h, app, handle, true, dir, &s, &op);
    if (rv)
        return rv;
    if (dir == HSM_SIGN) {
        rv = sign_whole(op, in, len, out, out_len, &keep);
        return leave(h, s, op, rv, keep);
    }
    if ((!in && len) || !out_len) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (!out) {
        *out_len = (CK_ULONG)op->out_len; /* for a recovery, at most this */
        keep = true;
        goto out;
    }
    if (len != op->out_len) {
        rv = CKR_SIGNATURE_LEN_RANGE;
        goto out;
    }
    uint8_t tmp[1024];
    size_t got = sizeof tmp;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, op->pkey, NULL);
    rv = CKR_SIGNATURE_INVALID;
    if (ctx && EVP_PKEY_verify_recover_init(ctx) == 1 && rsa_setup(op, ctx) == 1 &&
        EVP_PKEY_verify_recover(ctx, tmp, &got, in, len) == 1)
        rv = CKR_OK;
    EVP_PKEY_CTX_free(ctx);
    if (rv == CKR_OK && *out_len < got) {
        *out_len = (CK_ULONG)got;
        rv = CKR_BUFFER_TOO_SMALL;
        keep = true;
    } else if (rv == CKR_OK) {
        memcpy(out, tmp, got);
        *out_len = (CK_ULONG)got;
    }
    secure_zero(tmp, sizeof tmp);
out:
    return leave(h, s, op, rv, keep);
}
