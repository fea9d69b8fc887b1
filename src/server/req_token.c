/*
 * Requests about slots, tokens, PINs, sessions and login.
 */
#include <stdlib.h>
#include <string.h>

#include "requests.h"

static CK_RV op_hello(req_t *q)
{
    uint32_t version = rb_u32(q->r);
    if (version != PROTO_VERSION)
        return CKR_DEVICE_ERROR;
    wb_u64(q->w, q->app);
    return CKR_OK;
}

static CK_RV op_finalize(req_t *q)
{
    hsm_app_finalize(q->h, q->app);
    return CKR_OK;
}

static CK_RV op_get_slot_list(req_t *q)
{
    CK_ULONG n = 0;
    CK_RV rv = hsm_get_slot_list(q->h, NULL, &n);
    if (rv)
        return rv;
    CK_SLOT_ID *list = calloc(n + 1, sizeof *list);
    if (!list)
        return CKR_HOST_MEMORY;
    rv = hsm_get_slot_list(q->h, list, &n);
    if (rv == CKR_OK) {
        CK_ULONG seen = 0;
        for (CK_ULONG i = 0; i < n; i++)
            if (slot_visible(q, list[i]))
                list[seen++] = list[i];
        wb_u32(q->w, (uint32_t)seen);
        for (CK_ULONG i = 0; i < seen; i++)
            wb_u64(q->w, list[i]);
    }
    free(list);
    return rv;
}

static CK_RV op_get_slot_info(req_t *q)
{
    CK_SLOT_INFO info;
    CK_SLOT_ID slot = U64(q);
    CK_RV rv = slot_visible(q, slot) ? hsm_get_slot_info(q->h, slot, &info) : CKR_SLOT_ID_INVALID;
    if (rv)
        return rv;
    wb_raw(q->w, info.slotDescription, sizeof info.slotDescription);
    wb_raw(q->w, info.manufacturerID, sizeof info.manufacturerID);
    wb_u64(q->w, info.flags);
    put_version(q->w, info.hardwareVersion);
    put_version(q->w, info.firmwareVersion);
    return CKR_OK;
}

static CK_RV op_get_token_info(req_t *q)
{
    CK_TOKEN_INFO t;
    CK_SLOT_ID slot = U64(q);
    CK_RV rv = slot_visible(q, slot) ? hsm_get_token_info(q->h, slot, &t) : CKR_SLOT_ID_INVALID;
    if (rv)
        return rv;
    wb_raw(q->w, t.label, sizeof t.label);
    wb_raw(q->w, t.manufacturerID, sizeof t.manufacturerID);
    wb_raw(q->w, t.model, sizeof t.model);
    wb_raw(q->w, t.serialNumber, sizeof t.serialNumber);
    wb_u64(q->w, t.flags);
    CK_ULONG counts[] = { t.ulMaxSessionCount, t.ulSessionCount, t.ulMaxRwSessionCount,
                          t.ulRwSessionCount, t.ulMaxPinLen, t.ulMinPinLen,
                          t.ulTotalPublicMemory, t.ulFreePublicMemory, t.ulTotalPrivateMemory,
                          t.ulFreePrivateMemory };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        wb_u64(q->w, counts[i] == CK_UNAVAILABLE_INFORMATION ? PROTO_UNAVAILABLE : counts[i]);
    put_version(q->w, t.hardwareVersion);
    put_version(q->w, t.firmwareVersion);
    wb_raw(q->w, t.utcTime, sizeof t.utcTime);
    return CKR_OK;
}

static CK_RV op_get_mech_list(req_t *q)
{
    CK_MECHANISM_TYPE list[64];
    CK_ULONG n = 64;
    CK_SLOT_ID slot = U64(q);
    CK_RV rv = slot_visible(q, slot) ? hsm_get_mechanism_list(q->h, slot, list, &n)
                                     : CKR_SLOT_ID_INVALID;
    if (rv)
        return rv;
    wb_u32(q->w, (uint32_t)n);
    for (CK_ULONG i = 0; i < n; i++)
        wb_u64(q->w, list[i]);
    return CKR_OK;
}

static CK_RV op_get_mech_info(req_t *q)
{
    CK_SLOT_ID slot = U64(q);
    CK_MECHANISM_TYPE type = U64(q);
    CK_MECHANISM_INFO info;
    CK_RV rv = slot_visible(q, slot) ? hsm_get_mechanism_info(q->h, slot, type, &info)
                                     : CKR_SLOT_ID_INVALID;
    if (rv)
        return rv;
    wb_u64(q->w, info.ulMinKeySize);
    wb_u64(q->w, info.ulMaxKeySize);
    wb_u64(q->w, info.flags);
    return CKR_OK;
}

static CK_RV op_init_token(req_t *q)
{
    size_t pin_len;
    CK_SLOT_ID slot = U64(q);
    const uint8_t *pin = rb_bytes(q->r, &pin_len);
    const uint8_t *label = rb_raw(q->r, 32);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    if (!slot_visible(q, slot))
        return CKR_SLOT_ID_INVALID;
    return hsm_init_token(q->h, q->app, slot, pin, pin_len, label);
}

static CK_RV op_init_pin(req_t *q)
{
    size_t pin_len;
    CK_SESSION_HANDLE s = U64(q);
    const uint8_t *pin = rb_bytes(q->r, &pin_len);
    return hsm_init_pin(q->h, q->app, s, pin, pin_len);
}

static CK_RV op_set_pin(req_t *q)
{
    size_t old_len, new_len;
    CK_SESSION_HANDLE s = U64(q);
    const uint8_t *old_pin = rb_bytes(q->r, &old_len);
    const uint8_t *new_pin = rb_bytes(q->r, &new_len);
    return hsm_set_pin(q->h, q->app, s, old_pin, old_len, new_pin, new_len);
}

static CK_RV op_open_session(req_t *q)
{
    CK_SLOT_ID slot = U64(q);
    CK_FLAGS flags = U64(q);
    CK_SESSION_HANDLE s = 0;
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = slot_visible(q, slot) ? hsm_open_session(q->h, q->app, slot, flags, &s)
                                     : CKR_SLOT_ID_INVALID;
    wb_u64(q->w, s);
    return rv;
}

static CK_RV op_close_session(req_t *q)
{
    return hsm_close_session(q->h, q->app, U64(q));
}

static CK_RV op_close_all(req_t *q)
{
    CK_SLOT_ID slot = U64(q);
    return slot_visible(q, slot) ? hsm_close_all_sessions(q->h, q->app, slot)
                                 : CKR_SLOT_ID_INVALID;
}

static CK_RV op_get_session_info(req_t *q)
{
    CK_SESSION_INFO info;
    CK_RV rv = hsm_get_session_info(q->h, q->app, U64(q), &info);
    if (rv)
        return rv;
    wb_u64(q->w, info.slotID);
    wb_u64(q->w, info.state);
    wb_u64(q->w, info.flags);
    wb_u64(q->w, info.ulDeviceError);
    return CKR_OK;
}

static CK_RV op_login(req_t *q)
{
    size_t pin_len;
    CK_SESSION_HANDLE s = U64(q);
    CK_USER_TYPE user = U64(q);
    const uint8_t *pin = rb_bytes(q->r, &pin_len);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    return hsm_login(q->h, q->app, s, user, pin, pin_len);
}

static CK_RV op_logout(req_t *q)
{
    return hsm_logout(q->h, q->app, U64(q));
}

const op_entry_t ops_token[] = {
    { OP_HELLO, op_hello },
    { OP_FINALIZE, op_finalize },
    { OP_GET_SLOT_LIST, op_get_slot_list },
    { OP_GET_SLOT_INFO, op_get_slot_info },
    { OP_GET_TOKEN_INFO, op_get_token_info },
    { OP_GET_MECH_LIST, op_get_mech_list },
    { OP_GET_MECH_INFO, op_get_mech_info },
    { OP_INIT_TOKEN, op_init_token },
    { OP_INIT_PIN, op_init_pin },
    { OP_SET_PIN, op_set_pin },
    { OP_OPEN_SESSION, op_open_session },
    { OP_CLOSE_SESSION, op_close_session },
    { OP_CLOSE_ALL_SESSIONS, op_close_all },
    { OP_GET_SESSION_INFO, op_get_session_info },
    { OP_LOGIN, op_login },
    { OP_LOGOUT, op_logout },
};

const size_t ops_token_count = sizeof ops_token / sizeof ops_token[0];
