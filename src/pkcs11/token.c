/*
 * Slots, tokens and mechanisms; C_InitToken, C_InitPIN, C_SetPIN.
 */
#include <string.h>

#include "p11.h"

static CK_VERSION get_version(rbuf_t *r)
{
    CK_VERSION v;
    v.major = rb_u8(r);
    v.minor = rb_u8(r);
    return v;
}

static void get_fixed(rbuf_t *r, void *dst, size_t n)
{
    const uint8_t *p = rb_raw(r, n);
    if (p)
        memcpy(dst, p, n);
    else
        memset(dst, ' ', n);
}

static CK_ULONG get_count(rbuf_t *r)
{
    uint64_t v = rb_u64(r);
    return v == PROTO_UNAVAILABLE ? CK_UNAVAILABLE_INFORMATION : (CK_ULONG)v;
}

/* Copy a list of u64 from the reply into an application buffer, with the
   usual NULL-means-length and CKR_BUFFER_TOO_SMALL rules. */
static CK_RV get_list(rbuf_t *r, CK_ULONG *list, CK_ULONG *count)
{
    uint32_t n = rb_u32(r);
    if (r->err || n > rb_left(r) / 8)
        return CKR_DEVICE_ERROR;
    CK_RV rv = CKR_OK;
    if (list) {
        if (*count < n)
            rv = CKR_BUFFER_TOO_SMALL;
        else
            for (uint32_t i = 0; i < n; i++)
                list[i] = (CK_ULONG)rb_u64(r);
    }
    *count = n;
    return rv;
}

/* The slots of every HSM set up, each named with its HSM. One that cannot
   be reached shows none (the others still answer); when none can, that is
   the answer. */
CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
    (void)tokenPresent; /* every slot holds its token, always */
    CK_RV rv = p11_ready();
    if (rv)
        return rv;
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    CK_SLOT_ID all[256];
    CK_ULONG total = 0;
    CK_RV lost = CKR_OK;
    bool answered = false;
    for (unsigned i = 0; i < p11_hsm_count(); i++) {
        call_t c;
        CK_ULONG n = 256 - total;
        if ((rv = p11_begin_at(&c, OP_GET_SLOT_LIST, i)) == CKR_OK &&
            (rv = p11_send(&c)) == CKR_OK)
            rv = get_list(&c.r, all + total, &n);
        if (rv == CKR_OK) {
            for (CK_ULONG k = 0; k < n; k++)
                all[total + k] = p11_global(&c, all[total + k]);
            total += n;
            answered = true;
        } else {
            lost = rv;
        }
        p11_end(&c);
        if (rv == CKR_BUFFER_TOO_SMALL)
            return CKR_DEVICE_ERROR; /* more than 256 slots: not an HSM of ours */
    }
    if (!answered)
        return lost;
    rv = CKR_OK;
    if (pSlotList) {
        if (*pulCount < total)
            rv = CKR_BUFFER_TOO_SMALL;
        else
            memcpy(pSlotList, all, total * sizeof all[0]);
    }
    *pulCount = total;
    return rv;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GET_SLOT_INFO);
    if (rv)
        return rv;
    wb_u64(c.w, slotID);
    if (!pInfo)
        rv = CKR_ARGUMENTS_BAD;
    else if ((rv = p11_send(&c)) == CKR_OK) {
        get_fixed(&c.r, pInfo->slotDescription, sizeof pInfo->slotDescription);
        get_fixed(&c.r, pInfo->manufacturerID, sizeof pInfo->manufacturerID);
        pInfo->flags = (CK_FLAGS)rb_u64(&c.r);
        pInfo->hardwareVersion = get_version(&c.r);
        pInfo->firmwareVersion = get_version(&c.r);
        if (c.r.err)
            rv = CKR_DEVICE_ERROR;
    }
    p11_end(&c);
    return rv;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GET_TOKEN_INFO);
    if (rv)
        return rv;
    wb_u64(c.w, slotID);
    if (!pInfo)
        rv = CKR_ARGUMENTS_BAD;
    else if ((rv = p11_send(&c)) == CKR_OK) {
        rbuf_t *r = &c.r;
        get_fixed(r, pInfo->label, sizeof pInfo->label);
        get_fixed(r, pInfo->manufacturerID, sizeof pInfo->manufacturerID);
        get_fixed(r, pInfo->model, sizeof pInfo->model);
        get_fixed(r, pInfo->serialNumber, sizeof pInfo->serialNumber);
        pInfo->flags = (CK_FLAGS)rb_u64(r);
        pInfo->ulMaxSessionCount = get_count(r);
        pInfo->ulSessionCount = get_count(r);
        pInfo->ulMaxRwSessionCount = get_count(r);
        pInfo->ulRwSessionCount = get_count(r);
        pInfo->ulMaxPinLen = get_count(r);
        pInfo->ulMinPinLen = get_count(r);
        pInfo->ulTotalPublicMemory = get_count(r);
        pInfo->ulFreePublicMemory = get_count(r);
        pInfo->ulTotalPrivateMemory = get_count(r);
        pInfo->ulFreePrivateMemory = get_count(r);
        pInfo->hardwareVersion = get_version(r);
        pInfo->firmwareVersion = get_version(r);
        get_fixed(r, pInfo->utcTime, sizeof pInfo->utcTime);
        if (r->err)
            rv = CKR_DEVICE_ERROR;
    }
    p11_end(&c);
    return rv;
}

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                         CK_ULONG_PTR pulCount)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GET_MECH_LIST);
    if (rv)
        return rv;
    wb_u64(c.w, slotID);
    if (!pulCount)
        rv = CKR_ARGUMENTS_BAD;
    else if ((rv = p11_send(&c)) == CKR_OK)
        rv = get_list(&c.r, pMechanismList, pulCount);
    p11_end(&c);
    return rv;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_GET_MECH_INFO);
    if (rv)
        return rv;
    wb_u64(c.w, slotID);
    wb_u64(c.w, type);
    if (!pInfo)
        rv = CKR_ARGUMENTS_BAD;
    else if ((rv = p11_send(&c)) == CKR_OK) {
        pInfo->ulMinKeySize = (CK_ULONG)rb_u64(&c.r);
        pInfo->ulMaxKeySize = (CK_ULONG)rb_u64(&c.r);
        pInfo->flags = (CK_FLAGS)rb_u64(&c.r);
        if (c.r.err)
            rv = CKR_DEVICE_ERROR;
    }
    p11_end(&c);
    return rv;
}

CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                  CK_UTF8CHAR_PTR pLabel)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_INIT_TOKEN);
    if (rv)
        return rv;
    if (!pLabel || (!pPin && ulPinLen) || ulPinLen > 4096) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        wb_u64(c.w, slotID);
        wb_bytes(c.w, pPin, ulPinLen);
        wb_raw(c.w, pLabel, 32);
        rv = p11_send(&c);
    }
    p11_end(&c);
    p11_ops_forget_all();
    return rv;
}

CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_INIT_PIN);
    if (rv)
        return rv;
    if ((!pPin && ulPinLen) || ulPinLen > 4096) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        wb_u64(c.w, hSession);
        wb_bytes(c.w, pPin, ulPinLen);
        rv = p11_send(&c);
    }
    p11_end(&c);
    p11_ops_changed();
    return rv;
}

CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
               CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
    call_t c;
    CK_RV rv = p11_begin(&c, OP_SET_PIN);
    if (rv)
        return rv;
    if ((!pOldPin && ulOldLen) || (!pNewPin && ulNewLen) || ulOldLen > 4096 || ulNewLen > 4096) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        wb_u64(c.w, hSession);
        wb_bytes(c.w, pOldPin, ulOldLen);
        wb_bytes(c.w, pNewPin, ulNewLen);
        rv = p11_send(&c);
    }
    p11_end(&c);
    p11_ops_changed();
    return rv;
}
