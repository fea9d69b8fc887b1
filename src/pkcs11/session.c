/*
 * Sessions and login.
 */
#include "p11.h"

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
                    CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
    (void)pApplication;
    (void)Notify; /* softfm makes no surrender callbacks */
    call_t c;
    CK_RV rv = p11_begin(&c, OP_OPEN_SESSION);
    if (rv)
        return rv;
    if (!phSession) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        wb_u64(c.w, slotID);
        wb_u64(c.w, flags);
        if ((rv = p11_send(&c)) == CKR_OK) {
            uint64_t h = rb_u64(&c.r);
            *phSession = p11_global(&c, (CK_SESSION_HANDLE)h);
            if (c.r.err || h >> P11_HSM_SHIFT)
                rv = CKR_DEVICE_ERROR;
            else
                p11_ops_forget(*phSession); /* a handle the daemon used before */
        }
    }
    p11_end(&c);
    return rv;
}

CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
    CK_RV rv = p11_simple(OP_CLOSE_SESSION, 1, hSession);
    p11_ops_forget(hSession);
    return rv;
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
    CK_RV rv = p11_simple(OP_CLOSE_ALL_SESSIONS, 1, slotID);
    p11_ops_forget_all();
    return rv;
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GET_SESSION_INFO);
    if (rv)
        return rv;
    if (!pInfo) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        wb_u64(c.w, hSession);
        if ((rv = p11_send(&c)) == CKR_OK) {
            pInfo->slotID = p11_global(&c, (CK_SLOT_ID)rb_u64(&c.r));
            pInfo->state = (CK_STATE)rb_u64(&c.r);
            pInfo->flags = (CK_FLAGS)rb_u64(&c.r);
            pInfo->ulDeviceError = (CK_ULONG)rb_u64(&c.r);
            if (c.r.err)
                rv = CKR_DEVICE_ERROR;
        }
    }
    p11_end(&c);
    return rv;
}

CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
              CK_ULONG ulPinLen)
{
    /* A context-specific login needs the daemon to see the operation. */
    CK_RV rv = p11_flush_starts(hSession);
    if (rv)
        return rv;
    call_t c;
    p11_ops_changed();
    if ((rv = p11_begin(&c, OP_LOGIN)))
        return rv;
    if ((!pPin && ulPinLen) || ulPinLen > 4096) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        wb_u64(c.w, hSession);
        wb_u64(c.w, userType);
        wb_bytes(c.w, pPin, ulPinLen);
        rv = p11_send(&c);
    }
    p11_end(&c);
    p11_ops_changed();
    return rv;
}

CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
    CK_RV rv = p11_simple(OP_LOGOUT, 1, hSession);
    p11_ops_changed();
    return rv;
}
