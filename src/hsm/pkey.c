/*
 * Asymmetric key material: from an object's attributes to an OpenSSL
 * EVP_PKEY (built once per object and kept with it), and from a freshly
 * generated EVP_PKEY to the attributes of its two objects.
 *
 * Curves are named by their DER object identifiers in CKA_EC_PARAMS; an EC
 * point travels as a DER OCTET STRING around the uncompressed point (or the
 * 32 raw bytes of an Ed25519 key), as PKCS#11 v2.40 says.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "internal.h"

static const struct curve {
    const char *name;          /* OpenSSL's group name */
    const uint8_t *oid;
    size_t oid_len;
    size_t field_bytes;
} curves[] = {
    { "P-256", (const uint8_t *)"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10, 32 },
    { "P-384", (const uint8_t *)"\x06\x05\x2b\x81\x04\x00\x22", 7, 48 },
    { "P-521", (const uint8_t *)"\x06\x05\x2b\x81\x04\x00\x23", 7, 66 },
    { "ED25519", (const uint8_t *)"\x06\x03\x2b\x65\x70", 5, 32 },
};

/* The curve CKA_EC_PARAMS names: its OID, or for Ed25519 also the
   PrintableString "edwards25519". */
static const struct curve *curve_of(const uint8_t *p, size_t n)
{
    static const uint8_t ed_name[] = "\x13\x0c" "edwards25519";
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
        if (n == curves[i].oid_len && !memcmp(p, curves[i].oid, n))
            return &curves[i];
    if (n == sizeof ed_name - 1 && !memcmp(p, ed_name, n))
        return &curves[3];
    return NULL;
}

int pkey_curve(const uint8_t *ec_params, size_t n, const char **name, size_t *field_bytes)
{
    const struct curve *c = curve_of(ec_params, n);
    if (!c)
        return -1;
    *name = c->name;
    *field_bytes = c->field_bytes;
    return 0;
}

int pkey_curve_oid(const char *group, const uint8_t **oid, size_t *len, size_t *field_bytes)
{
    static const struct { const char *alias, *name; } aliases[] = {
        { "prime256v1", "P-256" }, { "secp384r1", "P-384" }, { "secp521r1", "P-521" },
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(group, aliases[i].alias))
            group = aliases[i].name;
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++) {
        if (!strcmp(group, curves[i].name)) {
            *oid = curves[i].oid;
            *len = curves[i].oid_len;
            *field_bytes = curves[i].field_bytes;
            return 0;
        }
    }
    return -1;
}

/* The contents of a DER OCTET STRING (short or long form length). */
static const uint8_t *octet_string(const uint8_t *p, size_t n, size_t *len)
{
    if (n < 2 || p[0] != 0x04)
        return NULL;
    size_t l = p[1], hdr = 2;
    if (l & 0x80) {
        size_t bytes = l & 0x7f;
        if (bytes < 1 || bytes > 2 || n < 2 + bytes)
            return NULL;
        l = 0;
        for (size_t i = 0; i < bytes; i++)
            l = (l << 8) | p[2 + i];
        hdr += bytes;
    }
    if (hdr + l != n)
        return NULL;
    *len = l;
    return p + hdr;
}

static const attr_t *need(const object_t *o, CK_ATTRIBUTE_TYPE t)
{
    const attr_t *a = obj_attr(o, t);
    return a && a->len ? a : NULL;
}

static int push_bn(OSSL_PARAM_BLD *b, const char *key, const attr_t *a, BIGNUM **keep)
{
    if (!a)
        return 0; /* optional component absent */
    BIGNUM *bn = BN_bin2bn(a->val, (int)a->len, NULL);
    if (!bn)
        return -1;
    *keep = bn;
    return OSSL_PARAM_BLD_push_BN(b, key, bn) == 1 ? 0 : -1;
}

/* The uncompressed public point d*G on the named curve; 0 on failure. */
static size_t public_point(const char *curve, const BIGNUM *d, uint8_t *out, size_t cap)
{
    int nid = !strcmp(curve, "P-256") ? NID_X9_62_prime256v1
            : !strcmp(curve, "P-384") ? NID_secp384r1 : NID_secp521r1;
    EC_GROUP *g = EC_GROUP_new_by_curve_name(nid);
    EC_POINT *p = g ? EC_POINT_new(g) : NULL;
    size_t n = 0;
    if (p && EC_POINT_mul(g, p, d, NULL, NULL, NULL) == 1)
        n = EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, out, cap, NULL);
    EC_POINT_free(p);
    EC_GROUP_free(g);
    return n;
}

/* An EVP_PKEY from key components, or NULL when they do not make a key. */
static EVP_PKEY *build(const object_t *o)
{
    CK_OBJECT_CLASS cls = obj_ulong(o, CKA_CLASS, 0);
    CK_KEY_TYPE kt = obj_ulong(o, CKA_KEY_TYPE, 0);
    bool priv = cls == CKO_PRIVATE_KEY;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM_BLD *b = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *bns[8] = { 0 };
    uint8_t point[1 + 2 * 66]; /* the builder keeps a pointer until to_param */

    if (kt == CKK_EC_EDWARDS) {
        const attr_t *v = need(o, priv ? CKA_VALUE : CKA_EC_POINT);
        const attr_t *ecp = need(o, CKA_EC_PARAMS);
        const struct curve *c = ecp ? curve_of(ecp->val, ecp->len) : NULL;
        if (!v || !c || strcmp(c->name, "ED25519"))
            return NULL;
        const uint8_t *raw = v->val;
        size_t len = v->len;
        if (!priv && len != 32 && !(raw = octet_string(v->val, v->len, &len)))
            return NULL;
        if (len != 32)
            return NULL;
        return priv ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, len)
                    : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len);
    }
    if (!(b = OSSL_PARAM_BLD_new()))
        goto out;
    if (kt == CKK_RSA) {
        if (!need(o, CKA_MODULUS) || (priv && !need(o, CKA_PRIVATE_EXPONENT)) ||
            (!priv && !need(o, CKA_PUBLIC_EXPONENT)))
            goto out;
        if (push_bn(b, OSSL_PKEY_PARAM_RSA_N, need(o, CKA_MODULUS), &bns[0]) ||
            push_bn(b, OSSL_PKEY_PARAM_RSA_E, need(o, CKA_PUBLIC_EXPONENT), &bns[1]))
            goto out;
        if (priv) {
            /* The CRT components are all or none. */
            bool crt = need(o, CKA_PRIME_1) && need(o, CKA_PRIME_2) && need(o, CKA_EXPONENT_1) &&
                       need(o, CKA_EXPONENT_2) && need(o, CKA_COEFFICIENT) &&
                       need(o, CKA_PUBLIC_EXPONENT);
            if (push_bn(b, OSSL_PKEY_PARAM_RSA_D, need(o, CKA_PRIVATE_EXPONENT), &bns[2]))
                goto out;
            if (crt && (push_bn(b, OSSL_PKEY_PARAM_RSA_FACTOR1, need(o, CKA_PRIME_1), &bns[3]) ||
                        push_bn(b, OSSL_PKEY_PARAM_RSA_FACTOR2, need(o, CKA_PRIME_2), &bns[4]) ||
                        push_bn(b, OSSL_PKEY_PARAM_RSA_EXPONENT1, need(o, CKA_EXPONENT_1), &bns[5]) ||
                        push_bn(b, OSSL_PKEY_PARAM_RSA_EXPONENT2, need(o, CKA_EXPONENT_2), &bns[6]) ||
                        push_bn(b, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, need(o, CKA_COEFFICIENT),
                                &bns[7])))
                goto out;
        }
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    } else if (kt == CKK_EC) {
        const attr_t *ecp = need(o, CKA_EC_PARAMS);
        const struct curve *c = ecp ? curve_of(ecp->val, ecp->len) : NULL;
        if (!c || !strcmp(c->name, "ED25519"))
            goto out;
        if (OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, c->name, 0) != 1)
            goto out;
        if (priv) {
            if (push_bn(b, OSSL_PKEY_PARAM_PRIV_KEY, need(o, CKA_VALUE), &bns[0]) || !bns[0])
                goto out;
            /* The object holds only the scalar; the public point follows
               from it, and encoders (PKCS#8 for wrapping) want it. */
            size_t ptlen = public_point(c->name, bns[0], point, sizeof point);
            if (!ptlen ||
                OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, ptlen) != 1)
                goto out;
        } else {
            const attr_t *pt = need(o, CKA_EC_POINT);
            size_t len = 0;
            const uint8_t *raw = pt ? octet_string(pt->val, pt->len, &len) : NULL;
            if (!raw || OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, raw, len) != 1)
                goto out;
        }
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    } else {
        goto out;
    }
    if (!ctx || !(params = OSSL_PARAM_BLD_to_param(b)) || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
out:
    for (size_t i = 0; i < 8; i++)
        BN_clear_free(bns[i]);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

EVP_PKEY *pkey_of(object_t *o)
{
    if (!o->pkey)
        o->pkey = build(o);
    if (o->pkey && EVP_PKEY_up_ref(o->pkey) != 1)
        return NULL;
    return o->pkey;
}

/* ---- from a generated key to attributes ---- */

static int bn_attr(const EVP_PKEY *pk, const char *name, CK_ATTRIBUTE_TYPE type, pkey_attrs_t *out)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1)
        return -1;
    int n = BN_num_bytes(bn);
    uint8_t *p = malloc(n ? (size_t)n : 1);
    if (!p || BN_bn2bin(bn, p) != n) {
        free(p);
        BN_clear_free(bn);
        return -1;
    }
    BN_clear_free(bn);
    out->a[out->n++] = (CK_ATTRIBUTE){ type, p, (CK_ULONG)n };
    return 0;
}

static int raw_attr(const uint8_t *v, size_t n, CK_ATTRIBUTE_TYPE type, pkey_attrs_t *out)
{
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        return -1;
    memcpy(p, v, n);
    out->a[out->n++] = (CK_ATTRIBUTE){ type, p, (CK_ULONG)n };
    return 0;
}

void pkey_attrs_free(pkey_attrs_t *a)
{
    for (size_t i = 0; i < a->n; i++) {
        secure_zero(a->a[i].pValue, a->a[i].ulValueLen);
        free(a->a[i].pValue);
    }
    a->n = 0;
}

int pkey_to_attrs(const EVP_PKEY *pk, CK_KEY_TYPE kt, size_t field_bytes, pkey_attrs_t *pub,
                  pkey_attrs_t *priv)
{
    if (kt == CKK_RSA) {
        return bn_attr(pk, OSSL_PKEY_PARAM_RSA_N, CKA_MODULUS, pub) ||
               bn_attr(pk, OSSL_PKEY_PARAM_RSA_E, CKA_PUBLIC_EXPONENT, pub) ||
               bn_attr(pk, OSSL_PKEY_PARAM_RSA_N, CKA_MODULUS, priv) ||
               bn_attr(pk, OSSL_PKEY_PARAM_RSA_E, CKA_PUBLIC_EXPONENT, priv) ||
               bn_attr(pk, OSSL_PKEY_PARAM_RSA_D, CKA_PRIVATE_EXPONENT, priv) ||
               bn_attr(pk, OSSL_PKEY_PARAM_RSA_FACTOR1, CKA_PRIME_1, priv) ||
               bn_attr(pk, OSSL_PKEY_PARAM_RSA_FACTOR2, CKA_PRIME_2, priv) ||
               bn_attr(pk, OSSL_PKEY_PARAM_RSA_EXPONENT1, CKA_EXPONENT_1, priv) ||
               bn_attr(pk, OSSL_PKEY_PARAM_RSA_EXPONENT2, CKA_EXPONENT_2, priv) ||
               bn_attr(pk, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, CKA_COEFFICIENT, priv)
                   ? -1 : 0;
    }
    uint8_t point[3 + 1 + 2 * 66], raw[160];
    size_t n = 0;
    if (kt == CKK_EC_EDWARDS) {
        n = 32;
        if (EVP_PKEY_get_raw_public_key(pk, raw, &n) != 1 || n != 32)
            return -1;
        point[0] = 0x04;
        point[1] = 32;
        memcpy(point + 2, raw, 32);
        n = 32;
        int rc = raw_attr(point, 34, CKA_EC_POINT, pub);
        if (!rc && EVP_PKEY_get_raw_private_key(pk, raw, &n) == 1 && n == 32)
            rc = raw_attr(raw, 32, CKA_VALUE, priv);
        else
            rc = -1;
        secure_zero(raw, sizeof raw);
        return rc;
    }
    /* EC: the uncompressed point in an OCTET STRING; the private value
       padded to the field size, as v2.40 asks. */
    if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, raw, sizeof raw, &n) != 1 ||
        n > 133)
        return -1;
    size_t hdr = n < 128 ? 2 : 3;
    point[0] = 0x04;
    if (hdr == 2) {
        point[1] = (uint8_t)n;
    } else {
        point[1] = 0x81;
        point[2] = (uint8_t)n;
    }
    memcpy(point + hdr, raw, n);
    if (raw_attr(point, hdr + n, CKA_EC_POINT, pub))
        return -1;
    BIGNUM *d = NULL;
    if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
        return -1;
    int rc = BN_bn2binpad(d, raw, (int)field_bytes) == (int)field_bytes
                 ? raw_attr(raw, field_bytes, CKA_VALUE, priv) : -1;
    BN_clear_free(d);
    secure_zero(raw, sizeof raw);
    return rc;
}
