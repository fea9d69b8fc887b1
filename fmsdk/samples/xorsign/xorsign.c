/*
 * The xorsign sample: an FM that adds a mechanism to the HSM's Cryptoki.
 * It patches C_GetMechanismList/Info to advertise CKM_XOR_SIGN on every
 * slot, and C_SignInit/Sign/SignUpdate/SignFinal and C_VerifyInit/Verify to
 * implement it; the state of an operation lives with its session
 * (FM_SetSessionUserData) and is freed by the HSM when the session closes.
 * Every other mechanism goes to the HSM's own functions.
 */
#include <stdlib.h>
#include <string.h>

#include <cprovpch.h>
#include <fm.h>
#include <objstate.h>
#include <privilege.h>

#include "xorsign.h"

typedef struct op {
    int verify;
    CK_BYTE acc[XOR_SIGN_LEN];
    CK_ULONG fill;                 /* bytes of the current block */
} op_t;

static void free_op(void *p)
{
    memset(p, 0, sizeof(op_t));
    free(p);
}

static op_t *op_of(CK_SESSION_HANDLE s)
{
    void *p = NULL;
    return FM_GetSessionUserData(GetFMID(), s, &p) == CKR_OK ? p : NULL;
}

static void end_op(CK_SESSION_HANDLE s)
{
    FM_SetSessionUserData(GetFMID(), s, NULL, NULL);
}

static void absorb(op_t *o, const CK_BYTE *p, CK_ULONG n)
{
    for (CK_ULONG i = 0; i < n; i++) {
        o->acc[o->fill] ^= p[i];
        o->fill = (o->fill + 1) % XOR_SIGN_LEN;
    }
}

/* The key's value, read with privilege (it is sensitive), folded in. */
static CK_RV start(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, int verify)
{
    CK_OBJECT_CLASS cls = 0;
    CK_BBOOL can = CK_FALSE;
    CK_BYTE value[256];
    CK_ATTRIBUTE a[] = { { CKA_CLASS, &cls, sizeof cls },
                         { verify ? CKA_VERIFY : CKA_SIGN, &can, sizeof can },
                         { CKA_VALUE, value, sizeof value } };
    CT_SetPrivilegeLevel(PRIVILEGE_OVERRIDE);
    CK_RV rv = C_GetAttributeValue(s, key, a, 3);
    CT_SetPrivilegeLevel(PRIVILEGE_NORMAL);
    if (rv == CKR_OBJECT_HANDLE_INVALID)
        return CKR_KEY_HANDLE_INVALID;
    if (rv)
        return rv;
    if (cls != CKO_SECRET_KEY || !a[2].ulValueLen)
        return CKR_KEY_TYPE_INCONSISTENT;
    if (!can)
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    op_t *o = calloc(1, sizeof *o);
    if (!o)
        return CKR_HOST_MEMORY;
    o->verify = verify;
    absorb(o, value, a[2].ulValueLen);
    o->fill = 0;
    memset(value, 0, sizeof value);
    rv = FM_SetSessionUserData(GetFMID(), s, o, free_op);
    if (rv)
        free_op(o);
    return rv;
}

static CK_RV CK_ENTRY x_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list,
                                         CK_ULONG_PTR count)
{
    if (!count)
        return CKR_ARGUMENTS_BAD;
    CK_ULONG room = list ? *count : 0;
    CK_RV rv = C_GetMechanismList(slot, list, count);
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
        return rv;
    if (list && rv == CKR_OK && *count < room)
        list[*count] = CKM_XOR_SIGN;
    else if (list)
        rv = CKR_BUFFER_TOO_SMALL;
    (*count)++;
    return rv;
}

static CK_RV CK_ENTRY x_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
                                         CK_MECHANISM_INFO_PTR info)
{
    if (type != CKM_XOR_SIGN)
        return C_GetMechanismInfo(slot, type, info);
    CK_SLOT_INFO si;
    CK_RV rv = C_GetSlotInfo(slot, &si);
    if (rv)
        return rv;
    if (!info)
        return CKR_ARGUMENTS_BAD;
    info->ulMinKeySize = 1;
    info->ulMaxKeySize = 256;
    info->flags = CKF_HW | CKF_SIGN | CKF_VERIFY;
    return CKR_OK;
}

static CK_RV CK_ENTRY x_SignInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    if (!m)
        return CKR_ARGUMENTS_BAD;
    if (m->mechanism != CKM_XOR_SIGN)
        return C_SignInit(s, m, key);
    if (op_of(s))
        return CKR_OPERATION_ACTIVE;
    if (m->ulParameterLen)
        return CKR_MECHANISM_PARAM_INVALID;
    return start(s, key, 0);
}

static CK_RV out8(CK_SESSION_HANDLE s, op_t *o, CK_BYTE_PTR sig, CK_ULONG_PTR len)
{
    if (!len)
        return CKR_ARGUMENTS_BAD;
    if (!sig) {
        *len = XOR_SIGN_LEN;
        return CKR_OK; /* a length query keeps the operation */
    }
    if (*len < XOR_SIGN_LEN) {
        *len = XOR_SIGN_LEN;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(sig, o->acc, XOR_SIGN_LEN);
    *len = XOR_SIGN_LEN;
    end_op(s);
    return CKR_OK;
}

static CK_RV CK_ENTRY x_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG n, CK_BYTE_PTR sig,
                             CK_ULONG_PTR len)
{
    op_t *o = op_of(s);
    if (!o || o->verify)
        return C_Sign(s, data, n, sig, len);
    if (!data && n)
        return CKR_ARGUMENTS_BAD;
    if (!sig) /* length query: nothing absorbed yet */
        return out8(s, o, NULL, len);
    op_t copy = *o;
    absorb(&copy, data, n);
    if (len && *len >= XOR_SIGN_LEN)
        *o = copy;
    return out8(s, o, sig, len);
}

static CK_RV CK_ENTRY x_SignUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG n)
{
    op_t *o = op_of(s);
    if (!o || o->verify)
        return C_SignUpdate(s, data, n);
    if (!data && n)
        return CKR_ARGUMENTS_BAD;
    absorb(o, data, n);
    return CKR_OK;
}

static CK_RV CK_ENTRY x_SignFinal(CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG_PTR len)
{
    op_t *o = op_of(s);
    if (!o || o->verify)
        return C_SignFinal(s, sig, len);
    return out8(s, o, sig, len);
}

static CK_RV CK_ENTRY x_VerifyInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    if (!m)
        return CKR_ARGUMENTS_BAD;
    if (m->mechanism != CKM_XOR_SIGN)
        return C_VerifyInit(s, m, key);
    if (op_of(s))
        return CKR_OPERATION_ACTIVE;
    return start(s, key, 1);
}

static CK_RV CK_ENTRY x_Verify(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG n, CK_BYTE_PTR sig,
                               CK_ULONG len)
{
    op_t *o = op_of(s);
    if (!o || !o->verify)
        return C_Verify(s, data, n, sig, len);
    if ((!data && n) || !sig)
        return CKR_ARGUMENTS_BAD;
    absorb(o, data, n);
    CK_RV rv = len != XOR_SIGN_LEN ? CKR_SIGNATURE_LEN_RANGE
               : memcmp(sig, o->acc, XOR_SIGN_LEN) ? CKR_SIGNATURE_INVALID
                                                   : CKR_OK;
    end_op(s);
    return rv;
}

FM_RV Startup(void)
{
    CprovFnTable_t *t = OS_GetCprovFuncTable();
    if (!t)
        return FM_UNSUCCESSFUL;
    t->C_GetMechanismList = x_GetMechanismList;
    t->C_GetMechanismInfo = x_GetMechanismInfo;
    t->C_SignInit = x_SignInit;
    t->C_Sign = x_Sign;
    t->C_SignUpdate = x_SignUpdate;
    t->C_SignFinal = x_SignFinal;
    t->C_VerifyInit = x_VerifyInit;
    t->C_Verify = x_Verify;
    return FM_OK;
}
