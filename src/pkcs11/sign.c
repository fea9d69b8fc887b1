/*
 * Signatures and MACs. Data larger than one frame goes in pieces through the
 * multi-part calls; a single-part C_Sign first checks the output buffer, so
 * that a buffer too small leaves the operation as it was.
 */
#include <string.h>

#include "p11.h"

static CK_RV sign_init(uint8_t dir, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    return p11_init_op(OP_SIGN_INIT, dir, s, m, key);
}

/* OP_SIGN (with data) or OP_SIGN_FINAL. */
static CK_RV sign_call(uint32_t op, CK_SESSION_HANDLE s, const CK_BYTE *data, CK_ULONG n,
                       CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
    call_t c;
    CK_RV rv = p11_begin(&c, op);
    if (rv)
        return rv;
    wb_u64(c.w, s);
    wb_u8(c.w, sig != NULL);
    wb_u64(c.w, sig ? *sig_len : 0);
    if (op == OP_SIGN)
        wb_bytes(c.w, data, n);
    rv = p11_send_op(&c, OPK_SIGN, s);
    rv = p11_get_output(&c, rv, sig, sig_len);
    p11_op_after(OPK_SIGN, s, rv, sig != NULL);
    p11_end(&c);
    return rv;
}

static CK_RV update_call(uint8_t dir, CK_SESSION_HANDLE s, const CK_BYTE *data, CK_ULONG n)
{
    if (!data && n)
        return CKR_ARGUMENTS_BAD;
    CK_RV rv;
    do {
        CK_ULONG chunk = n > WIRE_CHUNK ? WIRE_CHUNK : n;
        call_t c;
        if ((rv = p11_begin(&c, OP_SIGN_UPDATE)))
            return rv;
        wb_u64(c.w, s);
        wb_u8(c.w, dir);
        wb_bytes(c.w, data, chunk);
        opkind_t kind = dir ? OPK_VERIFY : OPK_SIGN;
        rv = p11_send_op(&c, kind, s);
        p11_op_after(kind, s, rv, false);
        p11_end(&c);
        data += chunk;
        n -= chunk;
    } while (rv == CKR_OK && n);
    return rv;
}

static CK_RV verify_call(uint32_t op, CK_SESSION_HANDLE s, const CK_BYTE *data, CK_ULONG n,
                         const CK_BYTE *sig, CK_ULONG sig_len)
{
    call_t c;
    CK_RV rv = p11_begin(&c, op);
    if (rv)
        return rv;
    if ((!sig && sig_len) || sig_len > WIRE_CHUNK) {
        p11_end(&c);
        return CKR_ARGUMENTS_BAD;
    }
    wb_u64(c.w, s);
    if (op == OP_VERIFY)
        wb_bytes(c.w, data, n);
    wb_bytes(c.w, sig, sig_len);
    rv = p11_send_op(&c, OPK_VERIFY, s);
    p11_op_after(OPK_VERIFY, s, rv, true);
    p11_end(&c);
    return rv;
}

CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return sign_init(0, hSession, pMechanism, hKey);
}

CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
             CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    if (!pulSignatureLen || (!pData && ulDataLen))
        return CKR_ARGUMENTS_BAD;
    if (!pSignature || ulDataLen <= WIRE_CHUNK)
        return sign_call(OP_SIGN, hSession, pData, ulDataLen, pSignature, pulSignatureLen);
    CK_ULONG need = 0;
    CK_RV rv = sign_call(OP_SIGN, hSession, NULL, 0, NULL, &need);
    if (rv)
        return rv;
    if (*pulSignatureLen < need) {
        *pulSignatureLen = need;
        return CKR_BUFFER_TOO_SMALL;
    }
    if ((rv = update_call(0, hSession, pData, ulDataLen)))
        return rv;
    return sign_call(OP_SIGN_FINAL, hSession, NULL, 0, pSignature, pulSignatureLen);
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    return update_call(0, hSession, pPart, ulPartLen);
}

CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    if (!pulSignatureLen)
        return CKR_ARGUMENTS_BAD;
    return sign_call(OP_SIGN_FINAL, hSession, NULL, 0, pSignature, pulSignatureLen);
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return sign_init(1, hSession, pMechanism, hKey);
}

CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
               CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    if (!pData && ulDataLen)
        return CKR_ARGUMENTS_BAD;
    if (ulDataLen <= WIRE_CHUNK)
        return verify_call(OP_VERIFY, hSession, pData, ulDataLen, pSignature, ulSignatureLen);
    CK_RV rv = update_call(1, hSession, pData, ulDataLen);
    if (rv)
        return rv;
    return verify_call(OP_VERIFY_FINAL, hSession, NULL, 0, pSignature, ulSignatureLen);
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    return update_call(1, hSession, pPart, ulPartLen);
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    return verify_call(OP_VERIFY_FINAL, hSession, NULL, 0, pSignature, ulSignatureLen);
}

static CK_RV recover_init(uint8_t dir, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    return p11_init_op(OP_RECOVER_INIT, dir, s, m, key);
}

static CK_RV recover(uint8_t dir, CK_SESSION_HANDLE s, const CK_BYTE *in, CK_ULONG n,
                     CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_RECOVER);
    if (rv)
        return rv;
    if (!out_len || (!in && n) || n > WIRE_CHUNK) {
        p11_end(&c);
        return CKR_ARGUMENTS_BAD;
    }
    wb_u64(c.w, s);
    wb_u8(c.w, dir);
    wb_u8(c.w, out != NULL);
    wb_u64(c.w, out ? *out_len : 0);
    wb_bytes(c.w, in, n);
    rv = p11_send(&c);
    rv = p11_get_output(&c, rv, out, out_len);
    p11_end(&c);
    return rv;
}

CK_RV C_SignRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return recover_init(0, hSession, pMechanism, hKey);
}

CK_RV C_SignRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                    CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    return recover(0, hSession, pData, ulDataLen, pSignature, pulSignatureLen);
}

CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                          CK_OBJECT_HANDLE hKey)
{
    return recover_init(1, hSession, pMechanism, hKey);
}

CK_RV C_VerifyRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen,
                      CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
    return recover(1, hSession, pSignature, ulSignatureLen, pData, pulDataLen);
}
