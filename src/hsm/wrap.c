/*
 * Key wrapping and unwrapping (C_WrapKey, C_UnwrapKey).
 *
 * What may leave the HSM, and how: only a key marked CKA_EXTRACTABLE, and
 * one marked CKA_WRAP_WITH_TRUSTED only under a wrapping key marked
 * CKA_TRUSTED (which only an SO can set). Secret keys travel as their value;
 * private keys as PKCS#8 PrivateKeyInfo, and only under a symmetric wrapping
 * key. An unwrapped key is never CKA_LOCAL, CKA_ALWAYS_SENSITIVE or
 * CKA_NEVER_EXTRACTABLE: it has been outside.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "internal.h"

static bool wrap_mech(CK_MECHANISM_TYPE m)
{
    switch (m) {
    case CKM_AES_KEY_WRAP:
    case CKM_AES_KEY_WRAP_PAD:
    case CKM_AES_CBC_PAD:
    case CKM_AES_ECB:
    case CKM_RSA_PKCS:
    case CKM_RSA_PKCS_OAEP:
        return true;
    default:
        return false;
    }
}

/* Errors about the key that wraps, in the words C_WrapKey/C_UnwrapKey use. */
static CK_RV as_wrapping(CK_RV rv, bool wrap)
{
    switch (rv) {
    case CKR_KEY_HANDLE_INVALID:
        return wrap ? CKR_WRAPPING_KEY_HANDLE_INVALID : CKR_UNWRAPPING_KEY_HANDLE_INVALID;
    case CKR_KEY_TYPE_INCONSISTENT:
        return wrap ? CKR_WRAPPING_KEY_TYPE_INCONSISTENT : CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
    case CKR_KEY_SIZE_RANGE:
        return wrap ? CKR_WRAPPING_KEY_SIZE_RANGE : CKR_UNWRAPPING_KEY_SIZE_RANGE;
    default:
        return rv;
    }
}

/* A key's CKA_WRAP_TEMPLATE or CKA_UNWRAP_TEMPLATE, decoded (h->lock held);
   *t is NULL when it has none. */
static CK_RV key_template(const object_t *o, CK_ATTRIBUTE_TYPE which, CK_ATTRIBUTE **t,
                          CK_ULONG *n)
{
    const attr_t *a = obj_attr(o, which);
    *t = NULL;
    *n = 0;
    if (!a || !a->len)
        return CKR_OK;
    rbuf_t r;
    rb_init(&r, a->val, a->len);
    CK_RV rv = proto_get_template(&r, t, n);
    return rv == CKR_HOST_MEMORY ? rv : rv ? CKR_GENERAL_ERROR : CKR_OK;
}

/* The bytes of the key to wrap, checked against the rules above. */
static CK_RV wrappable(hsm_t *h, session_t *s, CK_OBJECT_HANDLE kh, CK_OBJECT_HANDLE wh,
                       bool symmetric, uint8_t **out, size_t *len)
{
    object_t *o, *w;
    CK_RV rv = CKR_OK;
    *out = NULL;
    pthread_mutex_lock(&h->lock);
    if (object_find_visible(h, s, kh, &o)) {
        rv = CKR_KEY_HANDLE_INVALID;
        goto out;
    }
    CK_OBJECT_CLASS cls = obj_ulong(o, CKA_CLASS, 0);
    if (cls != CKO_SECRET_KEY && cls != CKO_PRIVATE_KEY) {
        rv = CKR_KEY_NOT_WRAPPABLE;
        goto out;
    }
    if (!obj_bool(o, CKA_EXTRACTABLE, false)) {
        rv = CKR_KEY_UNEXTRACTABLE;
        goto out;
    }
    if (object_find_visible(h, s, wh, &w)) {
        rv = CKR_WRAPPING_KEY_HANDLE_INVALID;
        goto out;
    }
    if (obj_bool(o, CKA_WRAP_WITH_TRUSTED, false) && !obj_bool(w, CKA_TRUSTED, false)) {
        rv = CKR_KEY_NOT_WRAPPABLE;
        goto out;
    }
    /* A wrapping key with a CKA_WRAP_TEMPLATE wraps only keys that match it. */
    CK_ATTRIBUTE *wt;
    CK_ULONG wn;
    if ((rv = key_template(w, CKA_WRAP_TEMPLATE, &wt, &wn)))
        goto out;
    bool fits = !wt || object_matches(o, wt, wn);
    proto_free_template(wt, wn);
    if (!fits) {
        rv = CKR_KEY_NOT_WRAPPABLE;
        goto out;
    }
    if (cls == CKO_SECRET_KEY) {
        const attr_t *v = obj_attr(o, CKA_VALUE);
        if (!v || !(*out = malloc(v->len ? v->len : 1))) {
            rv = CKR_HOST_MEMORY;
            goto out;
        }
        memcpy(*out, v->val, v->len);
        *len = v->len;
        goto out;
    }
    if (!symmetric) {
        rv = CKR_KEY_NOT_WRAPPABLE; /* a private key does not fit in an RSA block */
        goto out;
    }
    EVP_PKEY *pk = pkey_of(o);
    PKCS8_PRIV_KEY_INFO *p8 = pk ? EVP_PKEY2PKCS8(pk) : NULL;
    unsigned char *der = NULL;
    int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
    if (n > 0 && (*out = malloc((size_t)n))) {
        memcpy(*out, der, (size_t)n);
        *len = (size_t)n;
    } else {
        rv = CKR_KEY_NOT_WRAPPABLE;
    }
    if (der) {
        OPENSSL_cleanse(der, n > 0 ? (size_t)n : 0);
        OPENSSL_free(der);
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_PKEY_free(pk);
out:
    pthread_mutex_unlock(&h->lock);
    return rv;
}

CK_RV hsm_wrap_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_MECHANISM *m,
                   CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key, CK_BYTE *out, CK_ULONG *out_len)
{
    session_t *s;
    key_use_t wk;
    uint8_t *plain = NULL, *wrapped = NULL;
    size_t plen = 0, wlen = 0;
    memset(&wk, 0, sizeof wk);
    if (!m || !out_len)
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    if (!wrap_mech(m->mechanism) || !mech_find(m->mechanism))
        rv = CKR_MECHANISM_INVALID;
    else if ((rv = key_for_use(h, s, wrapping, CKA_WRAP, m->mechanism, &wk)))
        rv = as_wrapping(rv, true);
    else if ((rv = wrappable(h, s, key, wrapping, wk.cls == CKO_SECRET_KEY, &plain, &plen)))
        ;
    else if ((rv = crypt_oneshot(true, m, &wk, plain, plen, &wrapped, &wlen)))
        rv = rv == CKR_DATA_LEN_RANGE ? CKR_KEY_SIZE_RANGE : as_wrapping(rv, true);
    else if (!out)
        *out_len = (CK_ULONG)wlen;
    else if (*out_len < wlen) {
        *out_len = (CK_ULONG)wlen;
        rv = CKR_BUFFER_TOO_SMALL;
    } else {
        memcpy(out, wrapped, wlen);
        *out_len = (CK_ULONG)wlen;
    }
    if (plain) {
        secure_zero(plain, plen);
        free(plain);
    }
    if (wrapped) {
        secure_zero(wrapped, wlen);
        free(wrapped);
    }
    key_use_free(&wk);
    session_checkin(h, s);
    return rv;
}

/* A private key's attributes from its PKCS#8 encoding. */
static CK_RV private_from_pkcs8(const uint8_t *der, size_t n, CK_KEY_TYPE kt, pkey_attrs_t *priv,
                                CK_ATTRIBUTE *ecp)
{
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)n);
    EVP_PKEY *pk = p8 && p == der + n ? EVP_PKCS82PKEY(p8) : NULL;
    pkey_attrs_t pub = { .n = 0 };
    CK_RV rv = CKR_WRAPPED_KEY_INVALID;
    size_t fb = 0;
    if (!pk)
        goto out;
    int id = EVP_PKEY_get_base_id(pk);
    if ((kt == CKK_RSA && id != EVP_PKEY_RSA) || (kt == CKK_EC && id != EVP_PKEY_EC) ||
        (kt == CKK_EC_EDWARDS && id != EVP_PKEY_ED25519) ||
        (kt != CKK_RSA && kt != CKK_EC && kt != CKK_EC_EDWARDS)) {
        rv = CKR_TEMPLATE_INCONSISTENT;
        goto out;
    }
    if (kt == CKK_EC) {
        char group[64];
        const uint8_t *oid;
        size_t olen;
        if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           NULL) != 1 ||
            pkey_curve_oid(group, &oid, &olen, &fb)) {
            rv = CKR_CURVE_NOT_SUPPORTED;
            goto out;
        }
        *ecp = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid, (CK_ULONG)olen };
    } else if (kt == CKK_EC_EDWARDS) {
        const uint8_t *oid;
        size_t olen;
        (void)pkey_curve_oid("ED25519", &oid, &olen, &fb);
        *ecp = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid, (CK_ULONG)olen };
    }
    if (pkey_to_attrs(pk, kt, fb, &pub, priv) == 0)
        rv = CKR_OK;
out:
    pkey_attrs_free(&pub);
    EVP_PKEY_free(pk);
    PKCS8_PRIV_KEY_INFO_free(p8);
    return rv;
}

/* The unwrapping key's CKA_UNWRAP_TEMPLATE added to the application's
   template: an attribute both give must have the same value in each. */
static CK_RV merge_unwrap_template(hsm_t *h, session_t *s, CK_OBJECT_HANDLE uh,
                                   const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE **merged,
                                   CK_ULONG *mn, CK_ATTRIBUTE **ut, CK_ULONG *un)
{
    object_t *u;
    CK_RV rv;
    pthread_mutex_lock(&h->lock);
    rv = object_find_visible(h, s, uh, &u) ? CKR_UNWRAPPING_KEY_HANDLE_INVALID
                                           : key_template(u, CKA_UNWRAP_TEMPLATE, ut, un);
    pthread_mutex_unlock(&h->lock);
    if (rv)
        return rv;
    /* Room for the key's own attributes (value, curve, private parts). */
    *merged = calloc(n + *un + 16, sizeof **merged);
    if (!*merged)
        return CKR_HOST_MEMORY;
    memcpy(*merged, t, n * sizeof *t);
    *mn = n;
    for (CK_ULONG i = 0; i < *un; i++) {
        const CK_ATTRIBUTE *a = &(*ut)[i];
        const CK_ATTRIBUTE *given = NULL;
        for (CK_ULONG j = 0; j < n && !given; j++)
            if (t[j].type == a->type)
                given = &t[j];
        if (!given) {
            (*merged)[(*mn)++] = *a;
            continue;
        }
        bool same = given->ulValueLen == a->ulValueLen &&
                    (!a->ulValueLen || !memcmp(given->pValue, a->pValue, a->ulValueLen));
        if (a->ulValueLen == 1 && given->ulValueLen == 1) /* booleans by truth */
            same = (*(const CK_BBOOL *)a->pValue != 0) == (*(const CK_BBOOL *)given->pValue != 0);
        if (!same)
            return CKR_TEMPLATE_INCONSISTENT;
    }
    return CKR_OK;
}

CK_RV hsm_unwrap_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_MECHANISM *m,
                     CK_OBJECT_HANDLE unwrapping, const CK_BYTE *wrapped, CK_ULONG wlen,
                     const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    session_t *s;
    key_use_t uk;
    uint8_t *plain = NULL;
    size_t plen = 0;
    CK_ATTRIBUTE *full = NULL, *ut = NULL;
    CK_ULONG un = 0, mn = 0;
    pkey_attrs_t priv = { .n = 0 };
    object_t *o = NULL;
    CK_USER_TYPE who;
    memset(&uk, 0, sizeof uk);
    if (!m || !out || (!wrapped && wlen) || (n && !t))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    pthread_mutex_lock(&h->lock);
    who = login_state(h, app, s->tok);
    pthread_mutex_unlock(&h->lock);
    CK_ULONG cls = CK_UNAVAILABLE_INFORMATION, kt = CK_UNAVAILABLE_INFORMATION;
    for (CK_ULONG i = 0; i < n; i++) {
        if ((t[i].type == CKA_CLASS || t[i].type == CKA_KEY_TYPE) &&
            (t[i].ulValueLen != sizeof(CK_ULONG) || !t[i].pValue)) {
            rv = CKR_ATTRIBUTE_VALUE_INVALID;
            goto out;
        }
        if (t[i].type == CKA_CLASS)
            memcpy(&cls, t[i].pValue, sizeof cls);
        if (t[i].type == CKA_KEY_TYPE)
            memcpy(&kt, t[i].pValue, sizeof kt);
        if (t[i].type == CKA_VALUE || t[i].type == CKA_PRIVATE_EXPONENT) {
            rv = CKR_ATTRIBUTE_READ_ONLY;
            goto out;
        }
    }
    if (!wrap_mech(m->mechanism) || !mech_find(m->mechanism)) {
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    if ((rv = key_for_use(h, s, unwrapping, CKA_UNWRAP, m->mechanism, &uk))) {
        rv = as_wrapping(rv, false);
        goto out;
    }
    if ((rv = merge_unwrap_template(h, s, unwrapping, t, n, &full, &mn, &ut, &un)))
        goto out;
    for (CK_ULONG i = n; i < mn; i++) {
        if (full[i].type != CKA_CLASS && full[i].type != CKA_KEY_TYPE)
            continue;
        if (full[i].ulValueLen != sizeof(CK_ULONG)) {
            rv = CKR_TEMPLATE_INCONSISTENT;
            goto out;
        }
        memcpy(full[i].type == CKA_CLASS ? &cls : &kt, full[i].pValue, sizeof(CK_ULONG));
    }
    if (cls == CK_UNAVAILABLE_INFORMATION || kt == CK_UNAVAILABLE_INFORMATION) {
        rv = CKR_TEMPLATE_INCOMPLETE;
        goto out;
    }
    if (cls != CKO_SECRET_KEY && cls != CKO_PRIVATE_KEY) {
        rv = CKR_TEMPLATE_INCONSISTENT;
        goto out;
    }
    if ((rv = crypt_oneshot(false, m, &uk, wrapped, wlen, &plain, &plen))) {
        rv = rv == CKR_ENCRYPTED_DATA_LEN_RANGE ? CKR_WRAPPED_KEY_LEN_RANGE
           : rv == CKR_ENCRYPTED_DATA_INVALID  ? CKR_WRAPPED_KEY_INVALID
                                               : as_wrapping(rv, false);
        goto out;
    }
    CK_ULONG k = mn;
    if (cls == CKO_SECRET_KEY) {
        /* CKA_VALUE_LEN in an unwrap template says how much of the
           decrypted bytes is the key (block-mode wrapping pads it). */
        CK_ULONG j = 0;
        for (CK_ULONG i = 0; i < k; i++) {
            if (full[i].type != CKA_VALUE_LEN) {
                full[j++] = full[i];
                continue;
            }
            CK_ULONG vl;
            if (full[i].ulValueLen != sizeof vl || !full[i].pValue) {
                rv = CKR_ATTRIBUTE_VALUE_INVALID;
                goto out;
            }
            memcpy(&vl, full[i].pValue, sizeof vl);
            if (vl == 0 || vl > plen) {
                rv = CKR_TEMPLATE_INCONSISTENT;
                goto out;
            }
            plen = vl;
        }
        k = j;
        full[k++] = (CK_ATTRIBUTE){ CKA_VALUE, plain, (CK_ULONG)plen };
    } else {
        CK_ATTRIBUTE ecp = { 0 };
        if (uk.cls != CKO_SECRET_KEY) {
            rv = CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
            goto out;
        }
        if ((rv = private_from_pkcs8(plain, plen, kt, &priv, &ecp)))
            goto out;
        if (ecp.pValue)
            full[k++] = ecp;
        for (size_t i = 0; i < priv.n; i++)
            full[k++] = priv.a[i];
    }
    if (!(o = calloc(1, sizeof *o))) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if ((rv = attrs_build(full, k, who, NULL, o)))
        goto out;
    if ((rv = object_add(h, s, o, who, out)) == CKR_OK)
        o = NULL;
out:
    object_free(o);
    free(full);
    proto_free_template(ut, un);
    pkey_attrs_free(&priv);
    if (plain) {
        secure_zero(plain, plen);
        free(plain);
    }
    key_use_free(&uk);
    session_checkin(h, s);
    return rv;
}
