/*
 * Key derivation (C_DeriveKey): ECDH on the NIST curves (plain and cofactor,
 * which agree on these curves of cofactor 1), with no KDF or the ANSI X9.63
 * KDF over SHA-1 or SHA-2.
 *
 * A derived key is not CKA_LOCAL, and is CKA_ALWAYS_SENSITIVE or
 * CKA_NEVER_EXTRACTABLE only when its base key was too.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>

#include "internal.h"

static const char *kdf_digest(CK_ULONG kdf)
{
    switch (kdf) {
    case CKD_SHA1_KDF: return "SHA1";
    case CKD_SHA224_KDF: return "SHA224";
    case CKD_SHA256_KDF: return "SHA256";
    case CKD_SHA384_KDF: return "SHA384";
    case CKD_SHA512_KDF: return "SHA512";
    default: return NULL;
    }
}

/* The peer's public key: a raw uncompressed point, or one in a DER OCTET
   STRING (both are met in the wild). The curve's point length tells them
   apart: a raw point may itself begin like an OCTET STRING header. */
static EVP_PKEY *peer_key(const EVP_PKEY *base, const uint8_t *p, size_t n)
{
    char group[64];
    size_t raw = 2 * (size_t)((EVP_PKEY_get_bits(base) + 7) / 8) + 1;
    if (n == raw + 2 && p[0] == 0x04 && p[1] == raw) {
        p += 2;
        n -= 2;
    } else if (n == raw + 3 && p[0] == 0x04 && p[1] == 0x81 && p[2] == raw) {
        p += 3;
        n -= 3;
    }
    if (EVP_PKEY_get_utf8_string_param(base, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       NULL) != 1)
        return NULL;
    EVP_PKEY *pk = NULL;
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (b && ctx && OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, p, n) == 1 &&
        (params = OSSL_PARAM_BLD_to_param(b)) && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

/* Z, the shared secret. */
static CK_RV ecdh(EVP_PKEY *base, EVP_PKEY *peer, bool cofactor, uint8_t *z, size_t *zlen)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, base, NULL);
    CK_RV rv = CKR_FUNCTION_FAILED;
    if (ctx && EVP_PKEY_derive_init(ctx) == 1 &&
        (!cofactor || EVP_PKEY_CTX_set_ecdh_cofactor_mode(ctx, 1) == 1) &&
        EVP_PKEY_derive_set_peer(ctx, peer) == 1 && EVP_PKEY_derive(ctx, z, zlen) == 1)
        rv = CKR_OK;
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

static CK_RV x963(const char *md, const uint8_t *z, size_t zlen, const uint8_t *info, size_t ilen,
                  uint8_t *out, size_t len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[4], *p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, zlen);
    if (ilen)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, ilen);
    *p = OSSL_PARAM_construct_end();
    CK_RV rv = ctx && EVP_KDF_derive(ctx, out, len, params) == 1 ? CKR_OK : CKR_FUNCTION_FAILED;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rv;
}

CK_RV hsm_derive_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_MECHANISM *m,
                     CK_OBJECT_HANDLE base, const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    session_t *s;
    key_use_t k;
    EVP_PKEY *peer = NULL;
    uint8_t z[132], value[512];
    size_t zlen = sizeof z;
    CK_ATTRIBUTE *full = NULL;
    object_t *o = NULL;
    CK_USER_TYPE who;
    memset(&k, 0, sizeof k);
    if (!m || !out || (n && !t))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    pthread_mutex_lock(&h->lock);
    who = login_state(h, app, s->tok);
    pthread_mutex_unlock(&h->lock);
    bool cofactor = m->mechanism == CKM_ECDH1_COFACTOR_DERIVE;
    if ((m->mechanism != CKM_ECDH1_DERIVE && !cofactor) || !mech_find(m->mechanism)) {
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    if ((rv = key_for_use(h, s, base, CKA_DERIVE, m->mechanism, &k)))
        goto out;
    if (k.cls != CKO_PRIVATE_KEY || k.type != CKK_EC) {
        rv = CKR_KEY_TYPE_INCONSISTENT;
        goto out;
    }
    if (!m->pParameter || m->ulParameterLen != sizeof(CK_ECDH1_DERIVE_PARAMS)) {
        rv = CKR_MECHANISM_PARAM_INVALID;
        goto out;
    }
    const CK_ECDH1_DERIVE_PARAMS *p = m->pParameter;
    const char *md = kdf_digest(p->kdf);
    if ((p->kdf != CKD_NULL && !md) || (p->kdf == CKD_NULL && p->ulSharedDataLen) ||
        !p->pPublicData || !p->ulPublicDataLen || (p->ulSharedDataLen && !p->pSharedData)) {
        rv = CKR_MECHANISM_PARAM_INVALID;
        goto out;
    }
    /* The template: a secret key of a type, and a length. */
    CK_ULONG cls = CKO_SECRET_KEY, kt = CK_UNAVAILABLE_INFORMATION, len = 0;
    bool have_len = false;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_ULONG v;
        if (t[i].type != CKA_CLASS && t[i].type != CKA_KEY_TYPE && t[i].type != CKA_VALUE_LEN)
            continue;
        if (t[i].ulValueLen != sizeof v || !t[i].pValue) {
            rv = CKR_ATTRIBUTE_VALUE_INVALID;
            goto out;
        }
        memcpy(&v, t[i].pValue, sizeof v);
        if (t[i].type == CKA_CLASS)
            cls = v;
        else if (t[i].type == CKA_KEY_TYPE)
            kt = v;
        else
            len = v, have_len = true;
    }
    if (cls != CKO_SECRET_KEY) {
        rv = CKR_TEMPLATE_INCONSISTENT;
        goto out;
    }
    if (kt == CK_UNAVAILABLE_INFORMATION) {
        rv = CKR_TEMPLATE_INCOMPLETE;
        goto out;
    }
    if (!(peer = peer_key(k.pkey, p->pPublicData, p->ulPublicDataLen))) {
        rv = CKR_MECHANISM_PARAM_INVALID;
        goto out;
    }
    if ((rv = ecdh(k.pkey, peer, cofactor, z, &zlen)))
        goto out;
    if (!have_len) {
        if (kt != CKK_GENERIC_SECRET || p->kdf != CKD_NULL) {
            rv = CKR_TEMPLATE_INCOMPLETE;
            goto out;
        }
        len = zlen;
    }
    if (len == 0 || len > sizeof value || (p->kdf == CKD_NULL && len > zlen)) {
        rv = CKR_ATTRIBUTE_VALUE_INVALID;
        goto out;
    }
    if (p->kdf == CKD_NULL)
        memcpy(value, z, len);
    else if ((rv = x963(md, z, zlen, p->pSharedData, p->ulSharedDataLen, value, len)))
        goto out;
    full = calloc(n + 2, sizeof *full);
    if (!full) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    CK_ULONG k2 = 0;
    for (CK_ULONG i = 0; i < n; i++)
        if (t[i].type != CKA_VALUE_LEN && t[i].type != CKA_CLASS)
            full[k2++] = t[i];
    full[k2++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
    full[k2++] = (CK_ATTRIBUTE){ CKA_VALUE, value, len };
    if (!(o = calloc(1, sizeof *o))) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    attr_origin_t origin = { .mech = m->mechanism, .derived = true,
                             .base_always_sensitive = k.always_sensitive,
                             .base_never_extractable = k.never_extractable };
    if ((rv = attrs_build(full, k2, who, &origin, o)))
        goto out;
    if ((rv = object_add(h, s, o, who, out)) == CKR_OK)
        o = NULL;
out:
    object_free(o);
    free(full);
    EVP_PKEY_free(peer);
    OPENSSL_cleanse(z, sizeof z);
    OPENSSL_cleanse(value, sizeof value);
    key_use_free(&k);
    session_checkin(h, s);
    return rv;
}
