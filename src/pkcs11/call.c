/*
 * Helpers every function family of the module shares, over the transport
 * (p11_begin / p11_send): outputs in the length-query convention, operation
 * starts, and calls with only integer arguments. The same code serves
 * libsoftfm-pkcs11.so and, inside an fmhost, the FM's Cryptoki.
 */
#include <stdarg.h>
#include <string.h>

#include "p11.h"

CK_RV p11_get_output(call_t *c, CK_RV rv, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
        return rv;
    uint64_t got = rb_u64(&c->r);
    if (c->r.err)
        return CKR_DEVICE_ERROR;
    if (rv == CKR_OK && out) {
        const uint8_t *p = rb_raw(&c->r, (size_t)got);
        if (!p || got > *out_len)
            return CKR_DEVICE_ERROR;
        if (got)
            memcpy(out, p, (size_t)got);
    }
    *out_len = (CK_ULONG)got;
    return rv;
}

CK_RV p11_init_op(uint32_t op, uint8_t dir, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
                  CK_OBJECT_HANDLE key)
{
    opkind_t kind = OPK_NONE;
    if (op == OP_CRYPT_INIT)
        kind = dir ? OPK_DECRYPT : OPK_ENCRYPT;
    else if (op == OP_SIGN_INIT)
        kind = dir ? OPK_VERIFY : OPK_SIGN;
    return p11_start(kind, op, s, dir, m, true, key);
}

CK_RV p11_check_init_args(CK_VOID_PTR pInitArgs)
{
    if (pInitArgs) {
        CK_C_INITIALIZE_ARGS *a = pInitArgs;
        int fns = !!a->CreateMutex + !!a->DestroyMutex + !!a->LockMutex + !!a->UnlockMutex;
        if (a->pReserved || (fns != 0 && fns != 4))
            return CKR_ARGUMENTS_BAD;
        /* With or without CKF_OS_LOCKING_OK, and with the application's
           mutex functions or without: the locks here are POSIX ones, which
           serve every thread an application can make. */
    }
    return CKR_OK;
}

void p11_fill_info(CK_INFO_PTR pInfo, const char *description)
{
    memset(pInfo, 0, sizeof *pInfo);
    pInfo->cryptokiVersion.major = 2;
    pInfo->cryptokiVersion.minor = 40;
    pad_copy(pInfo->manufacturerID, sizeof pInfo->manufacturerID, "softfm");
    pad_copy(pInfo->libraryDescription, sizeof pInfo->libraryDescription, description);
    pInfo->libraryVersion.major = 0;
    pInfo->libraryVersion.minor = 1;
}

CK_RV p11_simple(uint32_t op, int nargs, ...)
{
    call_t c;
    CK_RV rv = p11_begin(&c, op);
    if (rv)
        return rv;
    va_list ap;
    va_start(ap, nargs);
    for (int i = 0; i < nargs; i++)
        wb_u64(c.w, va_arg(ap, CK_ULONG));
    va_end(ap);
    rv = p11_send(&c);
    p11_end(&c);
    return rv;
}

CK_ULONG p11_global(const call_t *c, CK_ULONG local)
{
    return (CK_ULONG)((uint64_t)c->hsm << P11_HSM_SHIFT) | local;
}
