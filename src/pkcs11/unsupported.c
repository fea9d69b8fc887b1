/*
 * Functions this release does not offer yet. Each checks that the library is
 * initialised (and the session valid, where it names one) and then answers
 * CKR_FUNCTION_NOT_SUPPORTED, as PKCS#11 v2.40 allows; C_GetMechanismList
 * lists no mechanism that would need them. Key generation, encryption,
 * signing, wrapping and derivation come with the cryptography release.
 */
#include "p11.h"

/* CKR_FUNCTION_NOT_SUPPORTED once the session is known to be valid. */
static CK_RV not_supported(CK_SESSION_HANDLE s)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GET_SESSION_INFO);
    if (rv)
        return rv;
    wb_u64(c.w, s);
    rv = p11_send(&c);
    p11_end(&c);
    return rv == CKR_OK ? CKR_FUNCTION_NOT_SUPPORTED : rv;
}

#define NS_SESSION(name, ...)                                                                      \
    CK_RV name(CK_SESSION_HANDLE hSession, __VA_ARGS__)                                          \
    {                                                                                              \
        return not_supported(hSession);                                                           \
    }

#define U __attribute__((unused))

NS_SESSION(C_GetOperationState, CK_BYTE_PTR a U, CK_ULONG_PTR b U)
NS_SESSION(C_SetOperationState, CK_BYTE_PTR a U, CK_ULONG b U, CK_OBJECT_HANDLE c U,
           CK_OBJECT_HANDLE d U)
NS_SESSION(C_SignRecoverInit, CK_MECHANISM_PTR a U, CK_OBJECT_HANDLE b U)
NS_SESSION(C_SignRecover, CK_BYTE_PTR a U, CK_ULONG b U, CK_BYTE_PTR c U, CK_ULONG_PTR d U)
NS_SESSION(C_VerifyRecoverInit, CK_MECHANISM_PTR a U, CK_OBJECT_HANDLE b U)
NS_SESSION(C_VerifyRecover, CK_BYTE_PTR a U, CK_ULONG b U, CK_BYTE_PTR c U, CK_ULONG_PTR d U)
NS_SESSION(C_DigestEncryptUpdate, CK_BYTE_PTR a U, CK_ULONG b U, CK_BYTE_PTR c U,
           CK_ULONG_PTR d U)
NS_SESSION(C_DecryptDigestUpdate, CK_BYTE_PTR a U, CK_ULONG b U, CK_BYTE_PTR c U,
           CK_ULONG_PTR d U)
NS_SESSION(C_SignEncryptUpdate, CK_BYTE_PTR a U, CK_ULONG b U, CK_BYTE_PTR c U,
           CK_ULONG_PTR d U)
NS_SESSION(C_DecryptVerifyUpdate, CK_BYTE_PTR a U, CK_ULONG b U, CK_BYTE_PTR c U,
           CK_ULONG_PTR d U)

/* Legacy functions: v2.40 says they answer CKR_FUNCTION_NOT_PARALLEL. */
CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
    CK_RV rv = not_supported(hSession);
    return rv == CKR_FUNCTION_NOT_SUPPORTED ? CKR_FUNCTION_NOT_PARALLEL : rv;
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession)
{
    CK_RV rv = not_supported(hSession);
    return rv == CKR_FUNCTION_NOT_SUPPORTED ? CKR_FUNCTION_NOT_PARALLEL : rv;
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
    (void)flags;
    (void)pSlot;
    (void)pReserved;
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GET_SLOT_LIST);
    if (rv)
        return rv;
    p11_end(&c);
    return CKR_FUNCTION_NOT_SUPPORTED;
}
