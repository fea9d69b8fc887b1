/*
 * The functions this release answers without doing the work, each after
 * checking that the library is initialised and the session valid, with the
 * code PKCS#11 v2.40 allows for it:
 * - operation state cannot be saved (CKR_STATE_UNSAVEABLE) or restored
 *   (CKR_SAVED_STATE_INVALID);
 * - the dual-function updates are not offered
 *   (CKR_FUNCTION_NOT_SUPPORTED; no listed mechanism claims them);
 * - the legacy parallel functions answer CKR_FUNCTION_NOT_PARALLEL;
 * - tokens are never inserted or removed: C_WaitForSlotEvent has no event to
 *   report (CKR_NO_EVENT) and does not block.
 */
#include "p11.h"

/* CKR_OK when the session is valid, else the daemon's answer. */
static CK_RV session_ok(CK_SESSION_HANDLE s)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GET_SESSION_INFO);
    if (rv)
        return rv;
    wb_u64(c.w, s);
    rv = p11_send(&c);
    p11_end(&c);
    return rv;
}

static CK_RV answer(CK_SESSION_HANDLE s, CK_RV code)
{
    CK_RV rv = session_ok(s);
    return rv == CKR_OK ? code : rv;
}

#define U __attribute__((unused))

CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState U,
                          CK_ULONG_PTR pulOperationStateLen)
{
    if (!pulOperationStateLen)
        return CKR_ARGUMENTS_BAD;
    return answer(hSession, CKR_STATE_UNSAVEABLE);
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                          CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey U,
                          CK_OBJECT_HANDLE hAuthenticationKey U)
{
    if (!pOperationState && ulOperationStateLen)
        return CKR_ARGUMENTS_BAD;
    return answer(hSession, CKR_SAVED_STATE_INVALID);
}

CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart U, CK_ULONG ulPartLen U,
                            CK_BYTE_PTR pEncryptedPart U, CK_ULONG_PTR pulEncryptedPartLen U)
{
    return answer(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart U,
                            CK_ULONG ulEncryptedPartLen U, CK_BYTE_PTR pPart U,
                            CK_ULONG_PTR pulPartLen U)
{
    return answer(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart U, CK_ULONG ulPartLen U,
                          CK_BYTE_PTR pEncryptedPart U, CK_ULONG_PTR pulEncryptedPartLen U)
{
    return answer(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart U,
                            CK_ULONG ulEncryptedPartLen U, CK_BYTE_PTR pPart U,
                            CK_ULONG_PTR pulPartLen U)
{
    return answer(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
    return answer(hSession, CKR_FUNCTION_NOT_PARALLEL);
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession)
{
    return answer(hSession, CKR_FUNCTION_NOT_PARALLEL);
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GET_SLOT_LIST);
    if (rv)
        return rv;
    p11_end(&c);
    if (!pSlot || pReserved)
        return CKR_ARGUMENTS_BAD;
    /* Every slot holds its token for good: there is never an event. A
       caller that asks to block would wait for ever; it is told so. */
    return (flags & CKF_DONT_BLOCK) ? CKR_NO_EVENT : CKR_FUNCTION_NOT_SUPPORTED;
}
