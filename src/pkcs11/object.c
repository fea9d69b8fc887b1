/*
 * Objects and their attributes.
 */
#include <string.h>

#include "p11.h"

static CK_RV templated(uint32_t op, CK_SESSION_HANDLE s, const CK_OBJECT_HANDLE *obj,
                       CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
    call_t c;
    CK_RV rv = p11_begin(&c, op);
    if (rv)
        return rv;
    wb_u64(c.w, s);
    if (obj)
        wb_u64(c.w, *obj);
    if ((op == OP_CREATE_OBJECT || op == OP_COPY_OBJECT) && !out)
        rv = CKR_ARGUMENTS_BAD;
    else if (n && !t)
        rv = CKR_ARGUMENTS_BAD;
    else
        rv = proto_put_template(c.w, t, n);
    if (rv == CKR_OK && (rv = p11_send(&c)) == CKR_OK && out) {
        *out = (CK_OBJECT_HANDLE)rb_u64(&c.r);
        if (c.r.err)
            rv = CKR_DEVICE_ERROR;
    }
    p11_end(&c);
    return rv;
}

CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                     CK_OBJECT_HANDLE_PTR phObject)
{
    return templated(OP_CREATE_OBJECT, hSession, NULL, pTemplate, ulCount, phObject);
}

CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                   CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject)
{
    return templated(OP_COPY_OBJECT, hSession, &hObject, pTemplate, ulCount, phNewObject);
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    p11_ops_changed(); /* before and after: a start in between is not remembered */
    CK_RV rv = templated(OP_SET_ATTRIBUTE_VALUE, hSession, &hObject, pTemplate, ulCount, NULL);
    p11_ops_changed();
    return rv;
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    return templated(OP_FIND_OBJECTS_INIT, hSession, NULL, pTemplate, ulCount, NULL);
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
    p11_ops_changed();
    CK_RV rv = p11_simple(OP_DESTROY_OBJECT, 2, hSession, hObject);
    p11_ops_changed();
    return rv;
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GET_OBJECT_SIZE);
    if (rv)
        return rv;
    if (!pulSize) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        wb_u64(c.w, hSession);
        wb_u64(c.w, hObject);
        if ((rv = p11_send(&c)) == CKR_OK) {
            *pulSize = (CK_ULONG)rb_u64(&c.r);
            if (c.r.err)
                rv = CKR_DEVICE_ERROR;
        }
    }
    p11_end(&c);
    return rv;
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GET_ATTRIBUTE_VALUE);
    if (rv)
        return rv;
    if ((ulCount && !pTemplate) || ulCount > PROTO_MAX_ATTRS) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    wb_u64(c.w, hSession);
    wb_u64(c.w, hObject);
    wb_u32(c.w, (uint32_t)ulCount);
    for (CK_ULONG i = 0; i < ulCount; i++) {
        const CK_ATTRIBUTE *a = &pTemplate[i];
        wb_u64(c.w, a->type);
        if (proto_is_attr_array(a->type)) {
            /* Fetched whole: its native size is known only once decoded. */
            wb_u8(c.w, 1);
            wb_u64(c.w, PROTO_MAX_ARRAY_WIRE);
            continue;
        }
        wb_u8(c.w, a->pValue != NULL);
        wb_u64(c.w, a->pValue ? proto_wire_len(a->type, a->ulValueLen) : 0);
    }
    rv = p11_send(&c);
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
        rv != CKR_BUFFER_TOO_SMALL)
        goto out;
    if (rb_u32(&c.r) != ulCount) {
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    for (CK_ULONG i = 0; i < ulCount; i++) {
        CK_ATTRIBUTE *a = &pTemplate[i];
        uint64_t wl = rb_u64(&c.r);
        if (c.r.err) {
            rv = CKR_DEVICE_ERROR;
            break;
        }
        if (wl == PROTO_UNAVAILABLE) {
            a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            continue;
        }
        if (proto_is_attr_array(a->type)) {
            const uint8_t *src = rb_raw(&c.r, (size_t)wl);
            CK_RV arv = src ? proto_get_attr_array(src, (size_t)wl, a) : CKR_DEVICE_ERROR;
            if (arv == CKR_DEVICE_ERROR) {
                rv = arv;
                break;
            }
            if (arv != CKR_OK && rv == CKR_OK)
                rv = arv;
            continue;
        }
        CK_ULONG native = proto_native_len(a->type, wl);
        if (a->pValue) {
            const uint8_t *src = rb_raw(&c.r, (size_t)wl);
            if (!src || native > a->ulValueLen) {
                rv = CKR_DEVICE_ERROR;
                break;
            }
            proto_get_value(src, wl, a->type, a->pValue);
        }
        a->ulValueLen = native;
    }
out:
    p11_end(&c);
    return rv;
}

CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                    CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_FIND_OBJECTS);
    if (rv)
        return rv;
    if (!phObject || !pulObjectCount) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    CK_ULONG got = 0;
    /* One request per PROTO_MAX_FIND handles, until enough or no more. */
    while (rv == CKR_OK) {
        CK_ULONG want = ulMaxObjectCount - got;
        if (want > PROTO_MAX_FIND)
            want = PROTO_MAX_FIND;
        wb_reset(c.w);
        wb_u32(c.w, OP_FIND_OBJECTS);
        wb_u64(c.w, hSession);
        wb_u64(c.w, want);
        if ((rv = p11_send(&c)) != CKR_OK)
            break;
        uint32_t n = rb_u32(&c.r);
        if (c.r.err || n > want || n > rb_left(&c.r) / 8) {
            rv = CKR_DEVICE_ERROR;
            break;
        }
        for (uint32_t i = 0; i < n; i++)
            phObject[got++] = (CK_OBJECT_HANDLE)rb_u64(&c.r);
        if (n < want || got == ulMaxObjectCount)
            break;
    }
    if (rv == CKR_OK)
        *pulObjectCount = got;
out:
    p11_end(&c);
    return rv;
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
    return p11_simple(OP_FIND_OBJECTS_FINAL, 1, hSession);
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GENERATE_KEY);
    if (rv)
        return rv;
    wb_u64(c.w, hSession);
    if (!phKey || (ulCount && !pTemplate))
        rv = CKR_ARGUMENTS_BAD;
    else if ((rv = proto_put_mechanism(c.w, pMechanism)) == CKR_OK &&
             (rv = proto_put_template(c.w, pTemplate, ulCount)) == CKR_OK &&
             (rv = p11_send(&c)) == CKR_OK) {
        *phKey = (CK_OBJECT_HANDLE)rb_u64(&c.r);
        if (c.r.err)
            rv = CKR_DEVICE_ERROR;
    }
    p11_end(&c);
    return rv;
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                        CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                        CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GENERATE_KEY_PAIR);
    if (rv)
        return rv;
    wb_u64(c.w, hSession);
    if (!phPublicKey || !phPrivateKey || (ulPublicKeyAttributeCount && !pPublicKeyTemplate) ||
        (ulPrivateKeyAttributeCount && !pPrivateKeyTemplate))
        rv = CKR_ARGUMENTS_BAD;
    else if ((rv = proto_put_mechanism(c.w, pMechanism)) == CKR_OK &&
             (rv = proto_put_template(c.w, pPublicKeyTemplate, ulPublicKeyAttributeCount)) == CKR_OK &&
             (rv = proto_put_template(c.w, pPrivateKeyTemplate, ulPrivateKeyAttributeCount)) ==
                 CKR_OK &&
             (rv = p11_send(&c)) == CKR_OK) {
        *phPublicKey = (CK_OBJECT_HANDLE)rb_u64(&c.r);
        *phPrivateKey = (CK_OBJECT_HANDLE)rb_u64(&c.r);
        if (c.r.err)
            rv = CKR_DEVICE_ERROR;
    }
    p11_end(&c);
    return rv;
}

CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey,
                CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_WRAP_KEY);
    if (rv)
        return rv;
    wb_u64(c.w, hSession);
    if (!pulWrappedKeyLen)
        rv = CKR_ARGUMENTS_BAD;
    else if ((rv = proto_put_mechanism(c.w, pMechanism)) == CKR_OK) {
        wb_u64(c.w, hWrappingKey);
        wb_u64(c.w, hKey);
        wb_u8(c.w, pWrappedKey != NULL);
        wb_u64(c.w, pWrappedKey ? *pulWrappedKeyLen : 0);
        rv = p11_send(&c);
        rv = p11_get_output(&c, rv, pWrappedKey, pulWrappedKeyLen);
    }
    p11_end(&c);
    return rv;
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                  CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen,
                  CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_UNWRAP_KEY);
    if (rv)
        return rv;
    wb_u64(c.w, hSession);
    if (!phKey || (!pWrappedKey && ulWrappedKeyLen) || ulWrappedKeyLen > WIRE_CHUNK ||
        (ulAttributeCount && !pTemplate))
        rv = CKR_ARGUMENTS_BAD;
    else if ((rv = proto_put_mechanism(c.w, pMechanism)) == CKR_OK) {
        wb_u64(c.w, hUnwrappingKey);
        wb_bytes(c.w, pWrappedKey, ulWrappedKeyLen);
        if ((rv = proto_put_template(c.w, pTemplate, ulAttributeCount)) == CKR_OK &&
            (rv = p11_send(&c)) == CKR_OK) {
            *phKey = (CK_OBJECT_HANDLE)rb_u64(&c.r);
            if (c.r.err)
                rv = CKR_DEVICE_ERROR;
        }
    }
    p11_end(&c);
    return rv;
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey,
                  CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_DERIVE_KEY);
    if (rv)
        return rv;
    wb_u64(c.w, hSession);
    if (!phKey || (ulAttributeCount && !pTemplate))
        rv = CKR_ARGUMENTS_BAD;
    else if ((rv = proto_put_mechanism(c.w, pMechanism)) == CKR_OK) {
        wb_u64(c.w, hBaseKey);
        if ((rv = proto_put_template(c.w, pTemplate, ulAttributeCount)) == CKR_OK &&
            (rv = p11_send(&c)) == CKR_OK) {
            *phKey = (CK_OBJECT_HANDLE)rb_u64(&c.r);
            if (c.r.err)
                rv = CKR_DEVICE_ERROR;
        }
    }
    p11_end(&c);
    return rv;
}

CK_RV C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_DIGEST_KEY);
    if (rv)
        return rv;
    wb_u64(c.w, hSession);
    wb_u64(c.w, hKey);
    rv = p11_send_op(&c, OPK_DIGEST, hSession);
    p11_op_after(OPK_DIGEST, hSession, rv, false);
    p11_end(&c);
    return rv;
}
