/*
 * Attribute templates on the wire; see proto.h.
 */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

enum attr_kind attr_kind(CK_ATTRIBUTE_TYPE type)
{
    switch (type) {
    case CKA_CLASS:
    case CKA_CERTIFICATE_TYPE:
    case CKA_CERTIFICATE_CATEGORY:
    case CKA_JAVA_MIDP_SECURITY_DOMAIN:
    case CKA_NAME_HASH_ALGORITHM:
    case CKA_KEY_TYPE:
    case CKA_MODULUS_BITS:
    case CKA_PRIME_BITS:
    case CKA_SUB_PRIME_BITS:
    case CKA_VALUE_BITS:
    case CKA_VALUE_LEN:
    case CKA_KEY_GEN_MECHANISM:
    case CKA_HW_FEATURE_TYPE:
    case CKA_MECHANISM_TYPE:
    case CKA_PIXEL_X:
    case CKA_PIXEL_Y:
    case CKA_RESOLUTION:
    case CKA_CHAR_ROWS:
    case CKA_CHAR_COLUMNS:
    case CKA_BITS_PER_PIXEL:
    case CKA_OTP_FORMAT:
    case CKA_OTP_LENGTH:
    case CKA_OTP_TIME_INTERVAL:
    case CKA_OTP_CHALLENGE_REQUIREMENT:
    case CKA_OTP_TIME_REQUIREMENT:
    case CKA_OTP_COUNTER_REQUIREMENT:
    case CKA_OTP_PIN_REQUIREMENT:
        return ATTR_ULONG;
    case CKA_ALLOWED_MECHANISMS:
        return ATTR_ULONG_ARRAY;
    default:
        return ATTR_BYTES;
    }
}

uint64_t proto_wire_len(CK_ATTRIBUTE_TYPE type, CK_ULONG native_len)
{
    if (attr_kind(type) == ATTR_BYTES || native_len % sizeof(CK_ULONG))
        return native_len;
    return (uint64_t)(native_len / sizeof(CK_ULONG)) * 8u;
}

CK_ULONG proto_native_len(CK_ATTRIBUTE_TYPE type, uint64_t wire_len)
{
    if (attr_kind(type) == ATTR_BYTES || wire_len % 8u)
        return (CK_ULONG)wire_len;
    return (CK_ULONG)(wire_len / 8u * sizeof(CK_ULONG));
}

void proto_put_value(wbuf_t *b, CK_ATTRIBUTE_TYPE type, const void *v, CK_ULONG len)
{
    if (attr_kind(type) == ATTR_BYTES || len % sizeof(CK_ULONG)) {
        wb_raw(b, v, len);
        return;
    }
    const uint8_t *in = v;
    for (CK_ULONG i = 0; i < len / sizeof(CK_ULONG); i++) {
        CK_ULONG u;
        memcpy(&u, in + i * sizeof u, sizeof u);
        wb_u64(b, u);
    }
}

void proto_get_value(const uint8_t *src, uint64_t wire_len, CK_ATTRIBUTE_TYPE type, void *dst)
{
    if (attr_kind(type) == ATTR_BYTES || wire_len % 8u) {
        if (wire_len)
            memcpy(dst, src, (size_t)wire_len);
        return;
    }
    /* dst may be any application buffer: no alignment is assumed. */
    uint8_t *out = dst;
    for (uint64_t i = 0; i < wire_len / 8u; i++) {
        CK_ULONG v = (CK_ULONG)be64_get(src + 8 * i);
        memcpy(out + i * sizeof v, &v, sizeof v);
    }
}

bool proto_is_attr_array(CK_ATTRIBUTE_TYPE type)
{
    return type == CKA_WRAP_TEMPLATE || type == CKA_UNWRAP_TEMPLATE ||
           type == CKA_DERIVE_TEMPLATE;
}

static CK_RV put_entries(wbuf_t *b, const CK_ATTRIBUTE *t, CK_ULONG n, bool nested);

static CK_RV put_attr(wbuf_t *b, const CK_ATTRIBUTE *a, bool nested)
{
    if (!a->pValue && a->ulValueLen)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    if (a->ulValueLen > WIRE_MAX_FRAME)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    wb_u64(b, a->type);
    if (!proto_is_attr_array(a->type)) {
        wb_u32(b, (uint32_t)proto_wire_len(a->type, a->ulValueLen));
        proto_put_value(b, a->type, a->pValue, a->ulValueLen);
        return CKR_OK;
    }
    /* An attribute array travels as a template of its own; arrays do not
       nest (no attribute of a template is itself a template). */
    if (nested || a->ulValueLen % sizeof(CK_ATTRIBUTE))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    size_t at = b->len;
    wb_u32(b, 0);
    CK_RV rv = put_entries(b, a->pValue, a->ulValueLen / sizeof(CK_ATTRIBUTE), true);
    if (rv == CKR_OK && !b->err)
        be32_put(b->p + at, (uint32_t)(b->len - at - 4));
    return rv;
}

static CK_RV put_entries(wbuf_t *b, const CK_ATTRIBUTE *t, CK_ULONG n, bool nested)
{
    if (n && !t)
        return nested ? CKR_ATTRIBUTE_VALUE_INVALID : CKR_ARGUMENTS_BAD;
    if (n > PROTO_MAX_ATTRS)
        return nested ? CKR_ATTRIBUTE_VALUE_INVALID : CKR_ARGUMENTS_BAD;
    wb_u32(b, (uint32_t)n);
    for (CK_ULONG i = 0; i < n; i++) {
        CK_RV rv = put_attr(b, &t[i], nested);
        if (rv)
            return rv;
    }
    return CKR_OK;
}

CK_RV proto_put_template(wbuf_t *b, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    CK_RV rv = put_entries(b, t, n, false);
    if (rv)
        return rv;
    return b->err ? CKR_ARGUMENTS_BAD : CKR_OK;
}

CK_RV proto_check_attr_array(const uint8_t *p, size_t len)
{
    if (!len)
        return CKR_OK; /* no template */
    rbuf_t r;
    rb_init(&r, p, len);
    uint32_t count = rb_u32(&r);
    if (r.err || count > PROTO_MAX_ATTRS)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    for (uint32_t i = 0; i < count; i++) {
        CK_ATTRIBUTE_TYPE type = (CK_ATTRIBUTE_TYPE)rb_u64(&r);
        uint32_t wl = rb_u32(&r);
        if (!rb_raw(&r, wl) || proto_is_attr_array(type))
            return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    return rb_done(&r) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
}

CK_RV proto_get_attr_array(const uint8_t *p, size_t len, CK_ATTRIBUTE *a)
{
    if (proto_check_attr_array(p, len))
        return CKR_DEVICE_ERROR;
    rbuf_t r;
    rb_init(&r, p, len);
    uint32_t count = len ? rb_u32(&r) : 0;
    CK_ULONG need = (CK_ULONG)count * sizeof(CK_ATTRIBUTE);
    if (!a->pValue) {
        a->ulValueLen = need;
        return CKR_OK;
    }
    if (a->ulValueLen < need) {
        a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
        return CKR_BUFFER_TOO_SMALL;
    }
    /* As for the outer template: each element's value is copied when its
       buffer is big enough, and its length is reported either way. */
    CK_ATTRIBUTE *arr = a->pValue;
    CK_RV rv = CKR_OK;
    for (uint32_t i = 0; i < count; i++) {
        CK_ATTRIBUTE_TYPE type = (CK_ATTRIBUTE_TYPE)rb_u64(&r);
        uint32_t wl = rb_u32(&r);
        const uint8_t *src = rb_raw(&r, wl);
        CK_ULONG native = proto_native_len(type, wl);
        arr[i].type = type;
        if (!arr[i].pValue) {
            arr[i].ulValueLen = native;
        } else if (arr[i].ulValueLen < native) {
            arr[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_BUFFER_TOO_SMALL;
        } else {
            proto_get_value(src, wl, type, arr[i].pValue);
            arr[i].ulValueLen = native;
        }
    }
    a->ulValueLen = need;
    return rv;
}

/* Values are laid out on 8-byte boundaries, so the core may read a
   CK_ULONG value in place. */
static size_t align8(size_t n)
{
    return (n + 7u) & ~(size_t)7u;
}

CK_RV proto_get_template(rbuf_t *r, CK_ATTRIBUTE **out, CK_ULONG *n)
{
    *out = NULL;
    *n = 0;
    uint32_t count = rb_u32(r);
    if (r->err || count > PROTO_MAX_ATTRS)
        return CKR_ARGUMENTS_BAD;
    /* First pass: check lengths and size the one allocation. */
    size_t save = r->off;
    size_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        CK_ATTRIBUTE_TYPE type = (CK_ATTRIBUTE_TYPE)rb_u64(r);
        uint32_t wl = rb_u32(r);
        if (!rb_raw(r, wl))
            return CKR_ARGUMENTS_BAD;
        total += align8(proto_native_len(type, wl));
    }
    r->off = save;
    size_t head = (size_t)count * sizeof(CK_ATTRIBUTE);
    CK_ATTRIBUTE *t = calloc(1, head + total + 1);
    if (!t)
        return CKR_HOST_MEMORY;
    uint8_t *vals = (uint8_t *)t + head;
    for (uint32_t i = 0; i < count; i++) {
        t[i].type = (CK_ATTRIBUTE_TYPE)rb_u64(r);
        uint32_t wl = rb_u32(r);
        const uint8_t *src = rb_raw(r, wl);
        t[i].ulValueLen = proto_native_len(t[i].type, wl);
        t[i].pValue = t[i].ulValueLen ? vals : NULL;
        proto_get_value(src, wl, t[i].type, vals);
        vals += align8(t[i].ulValueLen);
    }
    *out = t;
    *n = count;
    return CKR_OK;
}

void proto_free_template(CK_ATTRIBUTE *t, CK_ULONG n)
{
    if (!t)
        return;
    for (CK_ULONG i = 0; i < n; i++)
        if (t[i].pValue)
            secure_zero(t[i].pValue, t[i].ulValueLen);
    free(t);
}

/* Mechanisms whose parameter is one CK_ULONG. */
static bool param_is_ulong(CK_MECHANISM_TYPE m)
{
    switch (m) {
    case CKM_SHA_1_HMAC_GENERAL:
    case CKM_SHA224_HMAC_GENERAL:
    case CKM_SHA256_HMAC_GENERAL:
    case CKM_SHA384_HMAC_GENERAL:
    case CKM_SHA512_HMAC_GENERAL:
    case CKM_AES_CMAC_GENERAL:
        return true;
    default:
        return false;
    }
}

static bool param_is_pss(CK_MECHANISM_TYPE m)
{
    switch (m) {
    case CKM_RSA_PKCS_PSS:
    case CKM_SHA1_RSA_PKCS_PSS:
    case CKM_SHA224_RSA_PKCS_PSS:
    case CKM_SHA256_RSA_PKCS_PSS:
    case CKM_SHA384_RSA_PKCS_PSS:
    case CKM_SHA512_RSA_PKCS_PSS:
        return true;
    default:
        return false;
    }
}

/* A byte string, or in a shape only its length. */
static void put_str(wbuf_t *b, const void *p, size_t n, bool shape)
{
    if (shape)
        wb_u64(b, n);
    else
        wb_bytes(b, p, n);
}

static CK_RV put_mech(wbuf_t *b, const CK_MECHANISM *m, bool shape)
{
    if (!m || (m->ulParameterLen && !m->pParameter) || m->ulParameterLen > 65536)
        return CKR_ARGUMENTS_BAD;
    wb_u64(b, m->mechanism);
    if (!m->pParameter) {
        wb_u8(b, PARAM_NONE);
    } else if (m->mechanism == CKM_AES_CTR && m->ulParameterLen == sizeof(CK_AES_CTR_PARAMS)) {
        CK_AES_CTR_PARAMS ctr;
        memcpy(&ctr, m->pParameter, sizeof ctr);
        wb_u8(b, PARAM_CTR);
        wb_u64(b, ctr.ulCounterBits);
        if (!shape) /* the counter block's value never makes a start fail */
            wb_raw(b, ctr.cb, sizeof ctr.cb);
    } else if (m->mechanism == CKM_AES_GCM && m->ulParameterLen == sizeof(CK_GCM_PARAMS)) {
        CK_GCM_PARAMS gcm;
        memcpy(&gcm, m->pParameter, sizeof gcm);
        if ((gcm.ulIvLen && !gcm.pIv) || (gcm.ulAADLen && !gcm.pAAD) || gcm.ulIvLen > 65536 ||
            gcm.ulAADLen > WIRE_CHUNK)
            return CKR_MECHANISM_PARAM_INVALID;
        wb_u8(b, PARAM_GCM);
        put_str(b, gcm.pIv, gcm.ulIvLen, shape);
        wb_u64(b, gcm.ulIvBits);
        put_str(b, gcm.pAAD, gcm.ulAADLen, shape);
        wb_u64(b, gcm.ulTagBits);
    } else if (m->mechanism == CKM_RSA_PKCS_OAEP &&
               m->ulParameterLen == sizeof(CK_RSA_PKCS_OAEP_PARAMS)) {
        CK_RSA_PKCS_OAEP_PARAMS o;
        memcpy(&o, m->pParameter, sizeof o);
        if ((o.ulSourceDataLen && !o.pSourceData) || o.ulSourceDataLen > 65536)
            return CKR_MECHANISM_PARAM_INVALID;
        wb_u8(b, PARAM_OAEP);
        wb_u64(b, o.hashAlg);
        wb_u64(b, o.mgf);
        wb_u64(b, o.source);
        put_str(b, o.pSourceData, o.ulSourceDataLen, shape);
    } else if ((m->mechanism == CKM_ECDH1_DERIVE || m->mechanism == CKM_ECDH1_COFACTOR_DERIVE) &&
               m->ulParameterLen == sizeof(CK_ECDH1_DERIVE_PARAMS)) {
        CK_ECDH1_DERIVE_PARAMS e;
        memcpy(&e, m->pParameter, sizeof e);
        if ((e.ulSharedDataLen && !e.pSharedData) || (e.ulPublicDataLen && !e.pPublicData) ||
            e.ulSharedDataLen > 65536 || e.ulPublicDataLen > 65536)
            return CKR_MECHANISM_PARAM_INVALID;
        wb_u8(b, PARAM_ECDH);
        wb_u64(b, e.kdf);
        put_str(b, e.pSharedData, e.ulSharedDataLen, shape);
        put_str(b, e.pPublicData, e.ulPublicDataLen, shape);
    } else if (param_is_pss(m->mechanism) && m->ulParameterLen == sizeof(CK_RSA_PKCS_PSS_PARAMS)) {
        CK_RSA_PKCS_PSS_PARAMS pss;
        memcpy(&pss, m->pParameter, sizeof pss);
        wb_u8(b, PARAM_PSS);
        wb_u64(b, pss.hashAlg);
        wb_u64(b, pss.mgf);
        wb_u64(b, pss.sLen);
    } else if (param_is_ulong(m->mechanism) && m->ulParameterLen == sizeof(CK_ULONG)) {
        CK_ULONG v;
        memcpy(&v, m->pParameter, sizeof v);
        wb_u8(b, PARAM_ULONG);
        wb_u64(b, v);
    } else {
        wb_u8(b, PARAM_BYTES);
        put_str(b, m->pParameter, m->ulParameterLen, shape);
    }
    return b->err ? CKR_ARGUMENTS_BAD : CKR_OK;
}

CK_RV proto_put_mechanism(wbuf_t *b, const CK_MECHANISM *m)
{
    return put_mech(b, m, false);
}

CK_RV proto_put_mechanism_shape(wbuf_t *b, const CK_MECHANISM *m)
{
    return put_mech(b, m, true);
}

bool proto_get_mechanism(rbuf_t *r, CK_MECHANISM *m, proto_param_t *store)
{
    size_t len;
    m->mechanism = (CK_MECHANISM_TYPE)rb_u64(r);
    m->pParameter = NULL;
    m->ulParameterLen = 0;
    switch (rb_u8(r)) {
    case PARAM_NONE:
        break;
    case PARAM_BYTES:
        m->pParameter = (void *)rb_bytes(r, &len);
        m->ulParameterLen = (CK_ULONG)len;
        break;
    case PARAM_CTR: {
        store->ctr.ulCounterBits = (CK_ULONG)rb_u64(r);
        const uint8_t *cb = rb_raw(r, sizeof store->ctr.cb);
        if (cb)
            memcpy(store->ctr.cb, cb, sizeof store->ctr.cb);
        m->pParameter = &store->ctr;
        m->ulParameterLen = sizeof store->ctr;
        break;
    }
    case PARAM_GCM:
        store->gcm.pIv = (CK_BYTE_PTR)rb_bytes(r, &len);
        store->gcm.ulIvLen = (CK_ULONG)len;
        store->gcm.ulIvBits = (CK_ULONG)rb_u64(r);
        store->gcm.pAAD = (CK_BYTE_PTR)rb_bytes(r, &len);
        store->gcm.ulAADLen = (CK_ULONG)len;
        store->gcm.ulTagBits = (CK_ULONG)rb_u64(r);
        m->pParameter = &store->gcm;
        m->ulParameterLen = sizeof store->gcm;
        break;
    case PARAM_PSS:
        store->pss.hashAlg = (CK_MECHANISM_TYPE)rb_u64(r);
        store->pss.mgf = (CK_RSA_PKCS_MGF_TYPE)rb_u64(r);
        store->pss.sLen = (CK_ULONG)rb_u64(r);
        m->pParameter = &store->pss;
        m->ulParameterLen = sizeof store->pss;
        break;
    case PARAM_OAEP:
        store->oaep.hashAlg = (CK_MECHANISM_TYPE)rb_u64(r);
        store->oaep.mgf = (CK_RSA_PKCS_MGF_TYPE)rb_u64(r);
        store->oaep.source = (CK_RSA_PKCS_OAEP_SOURCE_TYPE)rb_u64(r);
        store->oaep.pSourceData = (void *)rb_bytes(r, &len);
        store->oaep.ulSourceDataLen = (CK_ULONG)len;
        m->pParameter = &store->oaep;
        m->ulParameterLen = sizeof store->oaep;
        break;
    case PARAM_ECDH:
        store->ecdh.kdf = (CK_ULONG)rb_u64(r);
        store->ecdh.pSharedData = (CK_BYTE_PTR)rb_bytes(r, &len);
        store->ecdh.ulSharedDataLen = (CK_ULONG)len;
        store->ecdh.pPublicData = (CK_BYTE_PTR)rb_bytes(r, &len);
        store->ecdh.ulPublicDataLen = (CK_ULONG)len;
        m->pParameter = &store->ecdh;
        m->ulParameterLen = sizeof store->ecdh;
        break;
    case PARAM_ULONG:
        store->ulong = (CK_ULONG)rb_u64(r);
        m->pParameter = &store->ulong;
        m->ulParameterLen = sizeof store->ulong;
        break;
    default:
        return false;
    }
    return !r->err;
}
