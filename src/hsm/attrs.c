/*
 * The attribute rules of PKCS#11 v2.40 for the object classes softfm keeps:
 * which attributes each class and key type has, which a template must give,
 * which it may not, their defaults, which may change later and how, and which
 * values are sensitive.
 *
 * An object holds every attribute of its class, so C_GetAttributeValue can
 * answer CKR_ATTRIBUTE_TYPE_INVALID exactly for those the object has not.
 */
#include <string.h>
#include <stdlib.h>

#include "internal.h"

enum {
    K_BYTES = 0, K_BOOL = 1, K_ULONG = 2, K_DATE = 3, K_ULARR = 4, K_TMPL = 5, K_MASK = 7,
    F_REQ = 1 << 4,       /* must be in a C_CreateObject template */
    F_NOCREATE = 1 << 5,  /* set by the token; never in a template */
    F_FIXED = 1 << 6,     /* cannot change after creation */
    F_COPY = 1 << 7,      /* changes only in C_CopyObject */
    F_SENS = 1 << 8,      /* value hidden when the key is sensitive/unextractable */
    F_TRUE = 1 << 9,      /* defaults to CK_TRUE */
    F_SO_TRUE = 1 << 10,  /* only the SO may set it to CK_TRUE */
    F_UP = 1 << 11,       /* may only change from CK_FALSE to CK_TRUE */
    F_DOWN = 1 << 12,     /* may only change from CK_TRUE to CK_FALSE */
};

typedef struct rule {
    CK_ATTRIBUTE_TYPE type;
    unsigned flags;
} rule_t;

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const rule_t r_storage[] = {
    { CKA_CLASS, K_ULONG | F_REQ | F_FIXED },
    { CKA_TOKEN, K_BOOL | F_COPY },
    { CKA_PRIVATE, K_BOOL | F_COPY },
    { CKA_MODIFIABLE, K_BOOL | F_TRUE | F_COPY | F_DOWN },
    { CKA_COPYABLE, K_BOOL | F_TRUE | F_DOWN },
    { CKA_DESTROYABLE, K_BOOL | F_TRUE | F_COPY },
    { CKA_LABEL, K_BYTES },
};

static const rule_t r_data[] = {
    { CKA_APPLICATION, K_BYTES },
    { CKA_OBJECT_ID, K_BYTES },
    { CKA_VALUE, K_BYTES },
};

static const rule_t r_cert[] = {
    { CKA_CERTIFICATE_TYPE, K_ULONG | F_REQ | F_FIXED },
    { CKA_TRUSTED, K_BOOL | F_SO_TRUE | F_FIXED },
    { CKA_CERTIFICATE_CATEGORY, K_ULONG | F_FIXED },
    { CKA_CHECK_VALUE, K_BYTES | F_FIXED },
    { CKA_START_DATE, K_DATE },
    { CKA_END_DATE, K_DATE },
    { CKA_PUBLIC_KEY_INFO, K_BYTES | F_FIXED },
    /* X.509 */
    { CKA_SUBJECT, K_BYTES | F_REQ | F_FIXED },
    { CKA_ID, K_BYTES },
    { CKA_ISSUER, K_BYTES },
    { CKA_SERIAL_NUMBER, K_BYTES },
    { CKA_VALUE, K_BYTES | F_REQ | F_FIXED },
    { CKA_URL, K_BYTES | F_FIXED },
    { CKA_HASH_OF_SUBJECT_PUBLIC_KEY, K_BYTES | F_FIXED },
    { CKA_HASH_OF_ISSUER_PUBLIC_KEY, K_BYTES | F_FIXED },
    { CKA_JAVA_MIDP_SECURITY_DOMAIN, K_ULONG | F_FIXED },
    { CKA_NAME_HASH_ALGORITHM, K_ULONG | F_FIXED },
};

static const rule_t r_key[] = {
    { CKA_KEY_TYPE, K_ULONG | F_REQ | F_FIXED },
    { CKA_ID, K_BYTES },
    { CKA_START_DATE, K_DATE },
    { CKA_END_DATE, K_DATE },
    { CKA_DERIVE, K_BOOL },
    { CKA_LOCAL, K_BOOL | F_NOCREATE | F_FIXED },
    { CKA_KEY_GEN_MECHANISM, K_ULONG | F_NOCREATE | F_FIXED },
    { CKA_ALLOWED_MECHANISMS, K_ULARR | F_FIXED },
};

static const rule_t r_pub[] = {
    { CKA_SUBJECT, K_BYTES },
    { CKA_ENCRYPT, K_BOOL | F_TRUE },
    { CKA_VERIFY, K_BOOL | F_TRUE },
    { CKA_VERIFY_RECOVER, K_BOOL | F_TRUE },
    { CKA_WRAP, K_BOOL | F_TRUE },
    { CKA_TRUSTED, K_BOOL | F_SO_TRUE },
    { CKA_PUBLIC_KEY_INFO, K_BYTES | F_FIXED },
    { CKA_WRAP_TEMPLATE, K_TMPL },
};

static const rule_t r_priv[] = {
    { CKA_SUBJECT, K_BYTES },
    { CKA_SENSITIVE, K_BOOL | F_TRUE | F_UP },
    { CKA_DECRYPT, K_BOOL | F_TRUE },
    { CKA_SIGN, K_BOOL | F_TRUE },
    { CKA_SIGN_RECOVER, K_BOOL | F_TRUE },
    { CKA_UNWRAP, K_BOOL | F_TRUE },
    { CKA_EXTRACTABLE, K_BOOL | F_DOWN },
    { CKA_ALWAYS_SENSITIVE, K_BOOL | F_NOCREATE | F_FIXED },
    { CKA_NEVER_EXTRACTABLE, K_BOOL | F_NOCREATE | F_FIXED },
    { CKA_WRAP_WITH_TRUSTED, K_BOOL | F_UP },
    { CKA_ALWAYS_AUTHENTICATE, K_BOOL },
    { CKA_PUBLIC_KEY_INFO, K_BYTES | F_FIXED },
    { CKA_UNWRAP_TEMPLATE, K_TMPL },
};

static const rule_t r_secret[] = {
    { CKA_SENSITIVE, K_BOOL | F_TRUE | F_UP },
    { CKA_ENCRYPT, K_BOOL | F_TRUE },
    { CKA_DECRYPT, K_BOOL | F_TRUE },
    { CKA_SIGN, K_BOOL | F_TRUE },
    { CKA_VERIFY, K_BOOL | F_TRUE },
    { CKA_WRAP, K_BOOL | F_TRUE },
    { CKA_UNWRAP, K_BOOL | F_TRUE },
    { CKA_EXTRACTABLE, K_BOOL | F_DOWN },
    { CKA_ALWAYS_SENSITIVE, K_BOOL | F_NOCREATE | F_FIXED },
    { CKA_NEVER_EXTRACTABLE, K_BOOL | F_NOCREATE | F_FIXED },
    { CKA_CHECK_VALUE, K_BYTES | F_FIXED },
    { CKA_WRAP_WITH_TRUSTED, K_BOOL | F_UP },
    { CKA_TRUSTED, K_BOOL | F_SO_TRUE },
    { CKA_WRAP_TEMPLATE, K_TMPL },
    { CKA_UNWRAP_TEMPLATE, K_TMPL },
    { CKA_VALUE, K_BYTES | F_REQ | F_FIXED | F_SENS },
    { CKA_VALUE_LEN, K_ULONG | F_NOCREATE | F_FIXED },
};

static const rule_t r_rsa_pub[] = {
    { CKA_MODULUS, K_BYTES | F_REQ | F_FIXED },
    { CKA_MODULUS_BITS, K_ULONG | F_NOCREATE | F_FIXED },
    { CKA_PUBLIC_EXPONENT, K_BYTES | F_REQ | F_FIXED },
};

static const rule_t r_rsa_priv[] = {
    { CKA_MODULUS, K_BYTES | F_REQ | F_FIXED },
    { CKA_PUBLIC_EXPONENT, K_BYTES | F_FIXED },
    { CKA_PRIVATE_EXPONENT, K_BYTES | F_REQ | F_FIXED | F_SENS },
    { CKA_PRIME_1, K_BYTES | F_FIXED | F_SENS },
    { CKA_PRIME_2, K_BYTES | F_FIXED | F_SENS },
    { CKA_EXPONENT_1, K_BYTES | F_FIXED | F_SENS },
    { CKA_EXPONENT_2, K_BYTES | F_FIXED | F_SENS },
    { CKA_COEFFICIENT, K_BYTES | F_FIXED | F_SENS },
};

static const rule_t r_ec_pub[] = {
    { CKA_EC_PARAMS, K_BYTES | F_REQ | F_FIXED },
    { CKA_EC_POINT, K_BYTES | F_REQ | F_FIXED },
};

static const rule_t r_ec_priv[] = {
    { CKA_EC_PARAMS, K_BYTES | F_REQ | F_FIXED },
    { CKA_VALUE, K_BYTES | F_REQ | F_FIXED | F_SENS },
};

/* An object's schema: up to four rule tables, searched in order. */
typedef struct schema {
    const rule_t *t[4];
    size_t n[4];
} schema_t;

#define ADD(s, tab) do { (s)->t[k] = (tab); (s)->n[k] = N(tab); k++; } while (0)

static CK_RV schema_for(CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, CK_CERTIFICATE_TYPE ct,
                        schema_t *s)
{
    int k = 0;
    memset(s, 0, sizeof *s);
    ADD(s, r_storage);
    switch (cls) {
    case CKO_DATA:
        ADD(s, r_data);
        return CKR_OK;
    case CKO_CERTIFICATE:
        if (ct != CKC_X_509)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        ADD(s, r_cert);
        return CKR_OK;
    case CKO_PUBLIC_KEY:
        ADD(s, r_key);
        ADD(s, r_pub);
        if (kt == CKK_RSA)
            ADD(s, r_rsa_pub);
        else if (kt == CKK_EC || kt == CKK_EC_EDWARDS)
            ADD(s, r_ec_pub);
        else
            return CKR_ATTRIBUTE_VALUE_INVALID;
        return CKR_OK;
    case CKO_PRIVATE_KEY:
        ADD(s, r_key);
        ADD(s, r_priv);
        if (kt == CKK_RSA)
            ADD(s, r_rsa_priv);
        else if (kt == CKK_EC || kt == CKK_EC_EDWARDS)
            ADD(s, r_ec_priv);
        else
            return CKR_ATTRIBUTE_VALUE_INVALID;
        return CKR_OK;
    case CKO_SECRET_KEY:
        if (kt != CKK_GENERIC_SECRET && kt != CKK_AES && kt != CKK_DES3 && kt != CKK_DES2 &&
            kt != CKK_SHA_1_HMAC && kt != CKK_SHA224_HMAC && kt != CKK_SHA256_HMAC &&
            kt != CKK_SHA384_HMAC && kt != CKK_SHA512_HMAC)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        ADD(s, r_key);
        ADD(s, r_secret);
        return CKR_OK;
    default:
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
}

static const rule_t *schema_find(const schema_t *s, CK_ATTRIBUTE_TYPE type)
{
    for (int k = 0; k < 4 && s->t[k]; k++)
        for (size_t i = 0; i < s->n[k]; i++)
            if (s->t[k][i].type == type)
                return &s->t[k][i];
    return NULL;
}

attr_t *obj_attr(const object_t *o, CK_ATTRIBUTE_TYPE type)
{
    for (size_t i = 0; i < o->nattrs; i++)
        if (o->attrs[i].type == type)
            return &o->attrs[i];
    return NULL;
}

bool obj_bool(const object_t *o, CK_ATTRIBUTE_TYPE type, bool dflt)
{
    const attr_t *a = obj_attr(o, type);
    return a && a->len == 1 ? a->val[0] != 0 : dflt;
}

CK_ULONG obj_ulong(const object_t *o, CK_ATTRIBUTE_TYPE type, CK_ULONG dflt)
{
    const attr_t *a = obj_attr(o, type);
    CK_ULONG v = dflt;
    if (a && a->len == sizeof v)
        memcpy(&v, a->val, sizeof v);
    return v;
}

static CK_RV object_schema(const object_t *o, schema_t *s)
{
    return schema_for(obj_ulong(o, CKA_CLASS, CK_UNAVAILABLE_INFORMATION),
                      obj_ulong(o, CKA_KEY_TYPE, CK_UNAVAILABLE_INFORMATION),
                      obj_ulong(o, CKA_CERTIFICATE_TYPE, CK_UNAVAILABLE_INFORMATION), s);
}

/* Is a template value well-formed for its rule? */
static CK_RV value_ok(const rule_t *r, const CK_ATTRIBUTE *a)
{
    switch (r->flags & K_MASK) {
    case K_BOOL:
        return a->ulValueLen == sizeof(CK_BBOOL) && a->pValue ? CKR_OK
                                                              : CKR_ATTRIBUTE_VALUE_INVALID;
    case K_ULONG:
        return a->ulValueLen == sizeof(CK_ULONG) && a->pValue ? CKR_OK
                                                              : CKR_ATTRIBUTE_VALUE_INVALID;
    case K_DATE:
        if (a->ulValueLen == 0)
            return CKR_OK;
        if (a->ulValueLen != sizeof(CK_DATE) || !a->pValue)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        for (size_t i = 0; i < sizeof(CK_DATE); i++) {
            char c = ((const char *)a->pValue)[i];
            if (c < '0' || c > '9')
                return CKR_ATTRIBUTE_VALUE_INVALID;
        }
        return CKR_OK;
    case K_ULARR:
        return a->ulValueLen % sizeof(CK_ULONG) == 0 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    case K_TMPL: /* held encoded, as it came over the wire */
        if (a->ulValueLen && !a->pValue)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        return proto_check_attr_array(a->pValue, a->ulValueLen);
    default:
        return a->ulValueLen && !a->pValue ? CKR_ATTRIBUTE_VALUE_INVALID : CKR_OK;
    }
}

static bool tmpl_true(const CK_ATTRIBUTE *a)
{
    return a->ulValueLen == 1 && a->pValue && *(const CK_BBOOL *)a->pValue;
}

static const CK_ATTRIBUTE *tmpl_find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
    for (CK_ULONG i = 0; i < n; i++)
        if (t[i].type == type)
            return &t[i];
    return NULL;
}

static CK_RV tmpl_ulong(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type, CK_ULONG *v)
{
    const CK_ATTRIBUTE *a = tmpl_find(t, n, type);
    if (!a)
        return CKR_TEMPLATE_INCOMPLETE;
    if (a->ulValueLen != sizeof(CK_ULONG) || !a->pValue)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    memcpy(v, a->pValue, sizeof *v);
    return CKR_OK;
}

static CK_RV set_value(attr_t *a, CK_ATTRIBUTE_TYPE type, const void *v, CK_ULONG len)
{
    a->type = type;
    a->len = len;
    a->val = malloc(len ? len : 1);
    if (!a->val)
        return CKR_HOST_MEMORY;
    if (len)
        memcpy(a->val, v, len);
    return CKR_OK;
}

static void normalise_bool(attr_t *a, unsigned flags)
{
    if ((flags & K_MASK) == K_BOOL && a->len == 1)
        a->val[0] = a->val[0] ? CK_TRUE : CK_FALSE;
}

/* Bits in a big-endian unsigned integer, leading zeros ignored. */
static CK_ULONG bit_length(const uint8_t *p, CK_ULONG n)
{
    while (n && !*p) {
        p++;
        n--;
    }
    if (!n)
        return 0;
    CK_ULONG bits = (n - 1) * 8;
    for (uint8_t b = *p; b; b >>= 1)
        bits++;
    return bits;
}

static CK_RV secret_len_ok(CK_KEY_TYPE kt, CK_ULONG len)
{
    switch (kt) {
    case CKK_AES:
        return len == 16 || len == 24 || len == 32 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKK_DES3:
        return len == 24 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKK_DES2:
        return len == 16 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    default:
        return len > 0 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    }
}

/* Values the token sets itself on an object made by C_CreateObject. */
static CK_RV derived_value(CK_ATTRIBUTE_TYPE type, const object_t *o, const attr_origin_t *gen,
                           CK_ULONG *v, bool *is_ulong, CK_BBOOL *b)
{
    *is_ulong = true;
    switch (type) {
    case CKA_LOCAL:
    case CKA_ALWAYS_SENSITIVE:
    case CKA_NEVER_EXTRACTABLE:
        /* A value that came from outside the token was never protected; one
           made here has been as protected as its flags say since birth. */
        *is_ulong = false;
        *b = CK_FALSE;
        if (gen && type == CKA_LOCAL)
            *b = gen->derived ? CK_FALSE : CK_TRUE;
        else if (gen && type == CKA_ALWAYS_SENSITIVE)
            *b = obj_bool(o, CKA_SENSITIVE, false) && (!gen->derived || gen->base_always_sensitive);
        else if (gen && type == CKA_NEVER_EXTRACTABLE)
            *b = !obj_bool(o, CKA_EXTRACTABLE, true) && (!gen->derived || gen->base_never_extractable);
        return CKR_OK;
    case CKA_KEY_GEN_MECHANISM:
        *v = gen ? gen->mech : CK_UNAVAILABLE_INFORMATION;
        return CKR_OK;
    case CKA_MODULUS_BITS: {
        const attr_t *m = obj_attr(o, CKA_MODULUS);
        *v = m ? bit_length(m->val, m->len) : 0;
        return CKR_OK;
    }
    case CKA_VALUE_LEN: {
        const attr_t *m = obj_attr(o, CKA_VALUE);
        *v = m ? m->len : 0;
        return CKR_OK;
    }
    default:
        return CKR_GENERAL_ERROR;
    }
}

/* CKA_CHECK_VALUE of a secret key: computed when absent, verified when given
   (v2.40: the first three bytes of the zero block encrypted with the key). */
static CK_RV check_value(object_t *o, CK_KEY_TYPE kt)
{
    attr_t *cv = obj_attr(o, CKA_CHECK_VALUE);
    const attr_t *val = obj_attr(o, CKA_VALUE);
    uint8_t kcv[3];
    if (!cv || !val)
        return CKR_GENERAL_ERROR;
    int r = key_check_value(kt, val->val, val->len, kcv);
    if (r < 0)
        return CKR_GENERAL_ERROR;
    if (r > 0) /* no check value is defined for this key type */
        return cv->len == 0 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    if (cv->len == 0) {
        uint8_t *p = malloc(sizeof kcv);
        if (!p)
            return CKR_HOST_MEMORY;
        memcpy(p, kcv, sizeof kcv);
        free(cv->val);
        cv->val = p;
        cv->len = sizeof kcv;
        return CKR_OK;
    }
    return cv->len == sizeof kcv && !memcmp(cv->val, kcv, sizeof kcv) ? CKR_OK
                                                                      : CKR_ATTRIBUTE_VALUE_INVALID;
}

CK_RV attrs_build(const CK_ATTRIBUTE *t, CK_ULONG n, CK_USER_TYPE who, const attr_origin_t *gen,
                  object_t *o)
{
    CK_RV rv;
    CK_ULONG cls, kt = CK_UNAVAILABLE_INFORMATION, ct = CK_UNAVAILABLE_INFORMATION;
    schema_t s;

    if (n && !t)
        return CKR_ARGUMENTS_BAD;
    if ((rv = tmpl_ulong(t, n, CKA_CLASS, &cls)))
        return rv;
    if (cls == CKO_PUBLIC_KEY || cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY) {
        if ((rv = tmpl_ulong(t, n, CKA_KEY_TYPE, &kt)))
            return rv;
    } else if (cls == CKO_CERTIFICATE) {
        if ((rv = tmpl_ulong(t, n, CKA_CERTIFICATE_TYPE, &ct)))
            return rv;
    }
    if ((rv = schema_for(cls, kt, ct, &s)))
        return rv;

    /* Every template attribute must belong to the class, be settable now,
       be well-formed and not contradict another. */
    for (CK_ULONG i = 0; i < n; i++) {
        const rule_t *r = schema_find(&s, t[i].type);
        if (!r)
            return CKR_ATTRIBUTE_TYPE_INVALID;
        if (r->flags & F_NOCREATE)
            return CKR_ATTRIBUTE_READ_ONLY;
        if ((rv = value_ok(r, &t[i])))
            return rv;
        if ((r->flags & F_SO_TRUE) && tmpl_true(&t[i]) && who != CKU_SO)
            return CKR_ATTRIBUTE_READ_ONLY;
        for (CK_ULONG j = 0; j < i; j++) {
            if (t[j].type != t[i].type)
                continue;
            bool same = t[j].ulValueLen == t[i].ulValueLen &&
                        (!t[i].ulValueLen || !memcmp(t[j].pValue, t[i].pValue, t[i].ulValueLen));
            if ((r->flags & K_MASK) == K_BOOL)
                same = tmpl_true(&t[i]) == tmpl_true(&t[j]);
            if (!same)
                return CKR_TEMPLATE_INCONSISTENT;
        }
    }

    size_t total = 0;
    for (int k = 0; k < 4 && s.t[k]; k++)
        total += s.n[k];
    o->attrs = calloc(total, sizeof *o->attrs);
    if (!o->attrs)
        return CKR_HOST_MEMORY;
    o->nattrs = 0;

    bool key_private = cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY;
    for (int k = 0; k < 4 && s.t[k]; k++) {
        for (size_t i = 0; i < s.n[k]; i++) {
            const rule_t *r = &s.t[k][i];
            if (obj_attr(o, r->type))
                continue; /* listed by two tables (CKA_ID, CKA_VALUE, ...) */
            attr_t *a = &o->attrs[o->nattrs];
            const CK_ATTRIBUTE *given = tmpl_find(t, n, r->type);
            if (given) {
                rv = set_value(a, r->type, given->pValue, given->ulValueLen);
            } else if (r->flags & F_REQ) {
                rv = CKR_TEMPLATE_INCOMPLETE;
            } else if (r->flags & F_NOCREATE) {
                rv = CKR_OK; /* filled in below, once the rest is known */
                a->type = r->type;
                a->val = NULL;
                a->len = CK_UNAVAILABLE_INFORMATION;
            } else if ((r->flags & K_MASK) == K_BOOL) {
                CK_BBOOL b = (r->flags & F_TRUE) ||
                             (r->type == CKA_PRIVATE && key_private) ? CK_TRUE : CK_FALSE;
                rv = set_value(a, r->type, &b, 1);
            } else if ((r->flags & K_MASK) == K_ULONG) {
                CK_ULONG v = r->type == CKA_NAME_HASH_ALGORITHM ? CKM_SHA_1 : 0;
                rv = set_value(a, r->type, &v, sizeof v);
            } else {
                rv = set_value(a, r->type, NULL, 0);
            }
            if (rv)
                goto fail;
            normalise_bool(a, r->flags);
            o->nattrs++;
        }
    }
    for (size_t i = 0; i < o->nattrs; i++) {
        attr_t *a = &o->attrs[i];
        if (a->val)
            continue;
        CK_ULONG v;
        CK_BBOOL b;
        bool is_ulong;
        if ((rv = derived_value(a->type, o, gen, &v, &is_ulong, &b)))
            goto fail;
        rv = is_ulong ? set_value(a, a->type, &v, sizeof v) : set_value(a, a->type, &b, 1);
        if (rv)
            goto fail;
    }
    if (cls == CKO_SECRET_KEY && (rv = secret_len_ok(kt, obj_attr(o, CKA_VALUE)->len)))
        goto fail;
    if (cls == CKO_SECRET_KEY && (rv = check_value(o, kt)))
        goto fail;
    if (cls == CKO_PUBLIC_KEY && kt == CKK_RSA && !obj_attr(o, CKA_MODULUS)->len)
        rv = CKR_ATTRIBUTE_VALUE_INVALID;
    if (rv)
        goto fail;
    o->on_token = obj_bool(o, CKA_TOKEN, false);
    o->priv = obj_bool(o, CKA_PRIVATE, false);
    return CKR_OK;
fail:
    attrs_free(o);
    return rv;
}

CK_RV attrs_check_change(const object_t *o, const CK_ATTRIBUTE *t, CK_ULONG n, CK_USER_TYPE who,
                         bool copy)
{
    schema_t s;
    CK_RV rv;
    if (n && !t)
        return CKR_ARGUMENTS_BAD;
    if ((rv = object_schema(o, &s)))
        return CKR_GENERAL_ERROR;
    for (CK_ULONG i = 0; i < n; i++) {
        const rule_t *r = schema_find(&s, t[i].type);
        if (!r)
            return CKR_ATTRIBUTE_TYPE_INVALID;
        if ((rv = value_ok(r, &t[i])))
            return rv;
        const attr_t *cur = obj_attr(o, t[i].type);
        bool unchanged = cur && cur->len == t[i].ulValueLen &&
                         (!cur->len || !memcmp(cur->val, t[i].pValue, cur->len));
        if ((r->flags & K_MASK) == K_BOOL && cur && cur->len == 1)
            unchanged = (cur->val[0] != 0) == tmpl_true(&t[i]);
        if (unchanged)
            continue; /* setting the value it has is always allowed */
        if (r->flags & (F_FIXED | F_NOCREATE))
            return CKR_ATTRIBUTE_READ_ONLY;
        if ((r->flags & F_COPY) && !copy)
            return CKR_ATTRIBUTE_READ_ONLY;
        if ((r->flags & F_UP) && !tmpl_true(&t[i]))
            return CKR_ATTRIBUTE_READ_ONLY;
        if ((r->flags & F_DOWN) && tmpl_true(&t[i]))
            return CKR_ATTRIBUTE_READ_ONLY;
        if ((r->flags & F_SO_TRUE) && tmpl_true(&t[i]) && who != CKU_SO)
            return CKR_ATTRIBUTE_READ_ONLY;
        for (CK_ULONG j = 0; j < i; j++)
            if (t[j].type == t[i].type &&
                (t[j].ulValueLen != t[i].ulValueLen ||
                 (t[i].ulValueLen && memcmp(t[j].pValue, t[i].pValue, t[i].ulValueLen))))
                return CKR_TEMPLATE_INCONSISTENT;
    }
    return CKR_OK;
}

CK_RV attrs_apply(object_t *o, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    /* Allocate every new value first, so a shortage changes nothing. */
    uint8_t **vals = calloc(n ? n : 1, sizeof *vals);
    if (!vals)
        return CKR_HOST_MEMORY;
    for (CK_ULONG i = 0; i < n; i++) {
        vals[i] = malloc(t[i].ulValueLen ? t[i].ulValueLen : 1);
        if (!vals[i]) {
            for (CK_ULONG j = 0; j < i; j++)
                free(vals[j]);
            free(vals);
            return CKR_HOST_MEMORY;
        }
        if (t[i].ulValueLen)
            memcpy(vals[i], t[i].pValue, t[i].ulValueLen);
    }
    for (CK_ULONG i = 0; i < n; i++) {
        attr_t *a = obj_attr(o, t[i].type);
        if (!a) { /* attrs_check_change admitted only attributes of the class */
            free(vals[i]);
            continue;
        }
        secure_zero(a->val, a->len);
        free(a->val);
        a->val = vals[i];
        a->len = t[i].ulValueLen;
        schema_t s;
        if (object_schema(o, &s) == CKR_OK) {
            const rule_t *r = schema_find(&s, a->type);
            if (r)
                normalise_bool(a, r->flags);
        }
    }
    free(vals);
    o->on_token = obj_bool(o, CKA_TOKEN, false);
    o->priv = obj_bool(o, CKA_PRIVATE, false);
    return CKR_OK;
}

bool attr_readable(const object_t *o, CK_ATTRIBUTE_TYPE type)
{
    if (hsm_privileged)
        return true;
    schema_t s;
    if (object_schema(o, &s))
        return false;
    const rule_t *r = schema_find(&s, type);
    if (!r || !(r->flags & F_SENS))
        return true;
    return !obj_bool(o, CKA_SENSITIVE, true) && obj_bool(o, CKA_EXTRACTABLE, false);
}

bool attr_is_bool(const object_t *o, CK_ATTRIBUTE_TYPE type)
{
    schema_t s;
    if (object_schema(o, &s))
        return false;
    const rule_t *r = schema_find(&s, type);
    return r && (r->flags & K_MASK) == K_BOOL;
}

CK_RV attrs_clone(const object_t *src, object_t *dst)
{
    dst->attrs = calloc(src->nattrs ? src->nattrs : 1, sizeof *dst->attrs);
    if (!dst->attrs)
        return CKR_HOST_MEMORY;
    dst->nattrs = 0;
    for (size_t i = 0; i < src->nattrs; i++) {
        if (set_value(&dst->attrs[i], src->attrs[i].type, src->attrs[i].val, src->attrs[i].len)) {
            attrs_free(dst);
            return CKR_HOST_MEMORY;
        }
        dst->nattrs++;
    }
    dst->on_token = src->on_token;
    dst->priv = src->priv;
    return CKR_OK;
}

void attrs_free(object_t *o)
{
    for (size_t i = 0; i < o->nattrs; i++) {
        if (o->attrs[i].val && o->attrs[i].len != CK_UNAVAILABLE_INFORMATION)
            secure_zero(o->attrs[i].val, o->attrs[i].len);
        free(o->attrs[i].val);
    }
    free(o->attrs);
    o->attrs = NULL;
    o->nattrs = 0;
}
