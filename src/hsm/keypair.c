/*
 * Key pair generation (C_GenerateKeyPair): RSA 2048-4096, EC on P-256, P-384
 * and P-521, Ed25519. The private key never exists outside this process but
 * sealed in the store; both objects say truthfully that they were made here.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "internal.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 4096

static const CK_ATTRIBUTE *find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
    for (CK_ULONG i = 0; i < n; i++)
        if (t[i].type == type)
            return &t[i];
    return NULL;
}

/* Attributes a generation template may not set: the key material. */
static bool material(CK_ATTRIBUTE_TYPE t)
{
    switch (t) {
    case CKA_MODULUS:
    case CKA_PRIVATE_EXPONENT:
    case CKA_PRIME_1:
    case CKA_PRIME_2:
    case CKA_EXPONENT_1:
    case CKA_EXPONENT_2:
    case CKA_COEFFICIENT:
    case CKA_VALUE:
    case CKA_EC_POINT:
        return true;
    default:
        return false;
    }
}

/* Check a template's class and key type against what the mechanism makes,
   and copy it without the attributes the generator consumes. */
static CK_RV take(const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt,
                  CK_ATTRIBUTE *out, CK_ULONG *k)
{
    *k = 0;
    if (n && !t)
        return CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; i < n; i++) {
        if (material(t[i].type))
            return CKR_ATTRIBUTE_READ_ONLY;
        if (t[i].type == CKA_CLASS || t[i].type == CKA_KEY_TYPE) {
            CK_ULONG v;
            if (t[i].ulValueLen != sizeof v || !t[i].pValue)
                return CKR_ATTRIBUTE_VALUE_INVALID;
            memcpy(&v, t[i].pValue, sizeof v);
            if (v != (t[i].type == CKA_CLASS ? cls : kt))
                return CKR_TEMPLATE_INCONSISTENT;
            continue;
        }
        if (t[i].type == CKA_MODULUS_BITS)
            continue;
        if (*k >= PROTO_MAX_ATTRS)
            return CKR_ARGUMENTS_BAD;
        out[(*k)++] = t[i];
    }
    return CKR_OK;
}

static CK_RV gen_rsa(const CK_ATTRIBUTE *pub, CK_ULONG npub, EVP_PKEY **out)
{
    const CK_ATTRIBUTE *bits = find(pub, npub, CKA_MODULUS_BITS);
    const CK_ATTRIBUTE *exp = find(pub, npub, CKA_PUBLIC_EXPONENT);
    CK_ULONG nbits;
    if (!bits)
        return CKR_TEMPLATE_INCOMPLETE;
    if (bits->ulValueLen != sizeof nbits || !bits->pValue)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    memcpy(&nbits, bits->pValue, sizeof nbits);
    if (nbits < RSA_MIN_BITS || nbits > RSA_MAX_BITS)
        return CKR_KEY_SIZE_RANGE;
    BIGNUM *e = exp && exp->ulValueLen ? BN_bin2bn(exp->pValue, (int)exp->ulValueLen, NULL)
                                       : BN_new();
    if (!e)
        return CKR_HOST_MEMORY;
    if (!exp || !exp->ulValueLen)
        BN_set_word(e, 65537);
    /* An even or tiny exponent makes no RSA key. */
    if (!BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > 256) {
        BN_free(e);
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    CK_RV rv = CKR_FUNCTION_FAILED;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx && EVP_PKEY_keygen_init(ctx) == 1 &&
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)nbits) == 1 &&
        EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) == 1 && EVP_PKEY_generate(ctx, out) == 1)
        rv = CKR_OK;
    EVP_PKEY_CTX_free(ctx);
    BN_free(e);
    return rv;
}

static CK_RV gen_ec(const CK_ATTRIBUTE *pub, CK_ULONG npub, bool edwards, EVP_PKEY **out,
                    size_t *field_bytes)
{
    const CK_ATTRIBUTE *ecp = find(pub, npub, CKA_EC_PARAMS);
    const char *curve;
    if (!ecp)
        return CKR_TEMPLATE_INCOMPLETE;
    if (!ecp->pValue || pkey_curve(ecp->pValue, ecp->ulValueLen, &curve, field_bytes))
        return CKR_CURVE_NOT_SUPPORTED;
    if (edwards != !strcmp(curve, "ED25519"))
        return CKR_TEMPLATE_INCONSISTENT;
    CK_RV rv = CKR_FUNCTION_FAILED;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, edwards ? "ED25519" : "EC", NULL);
    if (ctx && EVP_PKEY_keygen_init(ctx) == 1 &&
        (edwards || EVP_PKEY_CTX_set_group_name(ctx, curve) == 1) &&
        EVP_PKEY_generate(ctx, out) == 1)
        rv = CKR_OK;
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

CK_RV hsm_generate_key_pair(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle,
                            const CK_MECHANISM *m, const CK_ATTRIBUTE *pt, CK_ULONG npt,
                            const CK_ATTRIBUTE *kt_, CK_ULONG nkt, CK_OBJECT_HANDLE *pub_out,
                            CK_OBJECT_HANDLE *priv_out)
{
    session_t *s;
    CK_USER_TYPE who = NO_USER;
    CK_RV rv;
    CK_KEY_TYPE kt;
    EVP_PKEY *pk = NULL;
    size_t field_bytes = 0;
    pkey_attrs_t pa = { .n = 0 }, ka = { .n = 0 };
    CK_ATTRIBUTE *pub_t = NULL, *priv_t = NULL;
    object_t *po = NULL, *ko = NULL;
    CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY, priv_cls = CKO_PRIVATE_KEY;

    if (!m || !pub_out || !priv_out || (npt && !pt) || (nkt && !kt_))
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    rv = session_get(h, app, handle, &s);
    if (rv == CKR_OK)
        who = login_state(h, app, s->tok);
    pthread_mutex_unlock(&h->lock);
    if (rv)
        return rv;
    switch (m->mechanism) {
    case CKM_RSA_PKCS_KEY_PAIR_GEN: kt = CKK_RSA; break;
    case CKM_EC_KEY_PAIR_GEN: kt = CKK_EC; break;
    case CKM_EC_EDWARDS_KEY_PAIR_GEN: kt = CKK_EC_EDWARDS; break;
    default: rv = CKR_MECHANISM_INVALID; goto out;
    }
    if (m->pParameter || m->ulParameterLen) {
        rv = CKR_MECHANISM_PARAM_INVALID;
        goto out;
    }
    pub_t = calloc(PROTO_MAX_ATTRS + 16, sizeof *pub_t);
    priv_t = calloc(PROTO_MAX_ATTRS + 16, sizeof *priv_t);
    po = calloc(1, sizeof *po);
    ko = calloc(1, sizeof *ko);
    if (!pub_t || !priv_t || !po || !ko) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    CK_ULONG np = 0, nk = 0;
    if ((rv = take(pt, npt, pub_cls, kt, pub_t, &np)) || (rv = take(kt_, nkt, priv_cls, kt, priv_t, &nk)))
        goto out;
    /* The curve belongs to the public template; the private key copies it. */
    const CK_ATTRIBUTE *ecp = kt == CKK_RSA ? NULL : find(pt, npt, CKA_EC_PARAMS);
    if (ecp && find(kt_, nkt, CKA_EC_PARAMS)) {
        rv = CKR_TEMPLATE_INCONSISTENT;
        goto out;
    }
    if (kt == CKK_RSA && find(kt_, nkt, CKA_PUBLIC_EXPONENT)) {
        rv = CKR_ATTRIBUTE_READ_ONLY;
        goto out;
    }
    rv = kt == CKK_RSA ? gen_rsa(pt, npt, &pk) : gen_ec(pt, npt, kt == CKK_EC_EDWARDS, &pk, &field_bytes);
    if (rv)
        goto out;
    if (pkey_to_attrs(pk, kt, field_bytes, &pa, &ka)) {
        rv = CKR_FUNCTION_FAILED;
        goto out;
    }
    /* The completed templates: class, key type, material (the public
       exponent given, if any, is in the material already). */
    for (CK_ULONG i = 0; i < np; i++)
        if (pub_t[i].type == CKA_PUBLIC_EXPONENT) /* replaced by the key's own */
            pub_t[i] = pub_t[--np];
    pub_t[np++] = (CK_ATTRIBUTE){ CKA_CLASS, &pub_cls, sizeof pub_cls };
    pub_t[np++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof kt };
    for (size_t i = 0; i < pa.n; i++)
        pub_t[np++] = pa.a[i];
    priv_t[nk++] = (CK_ATTRIBUTE){ CKA_CLASS, &priv_cls, sizeof priv_cls };
    priv_t[nk++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof kt };
    if (ecp)
        priv_t[nk++] = *ecp;
    for (size_t i = 0; i < ka.n; i++)
        priv_t[nk++] = ka.a[i];
    attr_origin_t origin = { .mech = m->mechanism };
    if ((rv = attrs_build(pub_t, np, who, &origin, po)))
        goto out;
    if ((rv = attrs_build(priv_t, nk, who, &origin, ko)))
        goto out;
    /* Both objects or neither. */
    bool tok_obj = po->on_token || ko->on_token;
    if (tok_obj)
        pthread_mutex_lock(&h->wlock);
    rv = object_insert(h, s, po, who, pub_out);
    if (rv == CKR_OK) {
        po = NULL;
        rv = object_insert(h, s, ko, who, priv_out);
        if (rv == CKR_OK)
            ko = NULL;
        else
            object_discard(h, *pub_out);
    }
    if (tok_obj)
        pthread_mutex_unlock(&h->wlock);
out:
    EVP_PKEY_free(pk);
    pkey_attrs_free(&pa);
    pkey_attrs_free(&ka);
    free(pub_t);
    free(priv_t);
    object_free(po);
    object_free(ko);
    pthread_mutex_lock(&h->lock);
    session_put(h, s);
    pthread_mutex_unlock(&h->lock);
    return rv;
}
