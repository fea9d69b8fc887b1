/*
 * The crypto FM: Cryptoki inside an FM. It opens sessions on behalf of the
 * calling process (or under one shared AppId), signs and encrypts with keys
 * of a partition found by label, and reads a sensitive key or unwraps with
 * a key not marked for unwrapping when it raises its privilege level.
 */
#include <string.h>

#include <fm.h>
#include <fmappid.h>
#include <privilege.h>
#include "fm/common/fm_byteorder.h"

#include "crypto.h"

typedef struct rd {
    const uint8_t *p;
    uint32_t n;
    int bad;
} rd_t;

static uint32_t get32(rd_t *r)
{
    uint32_t v = 0;
    if (r->n < 4) {
        r->bad = 1;
        return 0;
    }
    memcpy(&v, r->p, 4);
    r->p += 4;
    r->n -= 4;
    return fm_betoh32(v);
}

static uint8_t get8(rd_t *r)
{
    if (r->n < 1) {
        r->bad = 1;
        return 0;
    }
    r->n--;
    return *r->p++;
}

static const uint8_t *get_str(rd_t *r, uint32_t *len)
{
    *len = get32(r);
    if (r->bad || *len > r->n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *s = r->p;
    r->p += *len;
    r->n -= *len;
    return s;
}

/* Reply: the CK_RV, then n bytes. */
static void answer(HI_MsgHandle token, CK_RV rv, const void *data, uint32_t n)
{
    uint8_t *out = SVC_GetReplyBuffer(token, 4 + n);
    if (!out) {
        SVC_SendReply(token, FM_ERR_OUT_OF_MEMORY);
        return;
    }
    uint32_t be = fm_htobe32((uint32_t)rv);
    memcpy(out, &be, 4);
    if (n)
        memcpy(out + 4, data, n);
    SVC_SendReply(token, FM_OK);
}

static CK_RV find_key(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const uint8_t *label,
                      uint32_t len, CK_OBJECT_HANDLE *key)
{
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_LABEL, (void *)label, len } };
    CK_ULONG found = 0;
    CK_RV rv = C_FindObjectsInit(s, t, 2);
    if (rv == CKR_OK) {
        rv = C_FindObjects(s, key, 1, &found);
        C_FindObjectsFinal(s);
    }
    return rv == CKR_OK && found != 1 ? CKR_KEY_HANDLE_INVALID : rv;
}

static void dispatch(HI_MsgHandle token, void *req, uint32_t len)
{
    rd_t r = { req, len, 0 };
    uint32_t cmd = get32(&r);
    if (get8(&r))
        FM_SetCurrentAppId((unsigned long)-1);
    uint8_t out[512];
    uint32_t n = 0;
    CK_RV rv = CKR_ARGUMENTS_BAD;
    switch (cmd) {
    case CRYPTO_INIT:
        rv = C_Initialize(NULL);
        break;
    case CRYPTO_OPEN: {
        CK_SLOT_ID slot = get32(&r);
        uint32_t pl;
        const uint8_t *pin = get_str(&r, &pl);
        CK_SESSION_HANDLE s;
        if (r.bad)
            break;
        rv = C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
        if (rv == CKR_OK) {
            CK_RV lr = C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, pl);
            rv = lr == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : lr;
            uint32_t be = fm_htobe32((uint32_t)s);
            memcpy(out, &be, 4);
            n = 4;
        }
        break;
    }
    case CRYPTO_SESSION: {
        CK_SESSION_INFO info;
        CK_SESSION_HANDLE s = get32(&r);
        if (!r.bad)
            rv = C_GetSessionInfo(s, &info);
        break;
    }
    case CRYPTO_CLOSE_ALL: {
        CK_SLOT_ID slot = get32(&r);
        if (!r.bad)
            rv = C_CloseAllSessions(slot);
        break;
    }
    case CRYPTO_HMAC:
    case CRYPTO_ENCRYPT: {
        CK_SESSION_HANDLE s = get32(&r);
        uint32_t ll;
        const uint8_t *label = get_str(&r, &ll);
        CK_OBJECT_HANDLE key;
        if (r.bad || r.n > 256)
            break;
        if ((rv = find_key(s, CKO_SECRET_KEY, label, ll, &key)))
            break;
        CK_ULONG got = sizeof out;
        if (cmd == CRYPTO_HMAC) {
            CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
            if ((rv = C_SignInit(s, &m, key)) == CKR_OK)
                rv = C_Sign(s, (CK_BYTE_PTR)r.p, r.n, out, &got);
        } else {
            CK_BYTE iv[16] = { 0 };
            CK_MECHANISM m = { CKM_AES_CBC_PAD, iv, sizeof iv };
            if ((rv = C_EncryptInit(s, &m, key)) == CKR_OK)
                rv = C_Encrypt(s, (CK_BYTE_PTR)r.p, r.n, out, &got);
        }
        n = rv == CKR_OK ? (uint32_t)got : 0;
        break;
    }
    case CRYPTO_READ_VALUE:
    case CRYPTO_UNWRAP: {
        int override = get8(&r);
        CK_SESSION_HANDLE s = get32(&r);
        uint32_t ll;
        const uint8_t *label = get_str(&r, &ll);
        CK_OBJECT_HANDLE key;
        if (r.bad)
            break;
        if ((rv = find_key(s, CKO_SECRET_KEY, label, ll, &key)))
            break;
        if (override)
            CT_SetPrivilegeLevel(PRIVILEGE_OVERRIDE);
        if (cmd == CRYPTO_UNWRAP) {
            CK_MECHANISM m = { CKM_AES_KEY_WRAP, NULL, 0 };
            CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
            CK_KEY_TYPE kt = CKK_AES;
            CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
            CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
                                 { CKA_SENSITIVE, &no, 1 }, { CKA_EXTRACTABLE, &yes, 1 } };
            CK_OBJECT_HANDLE k2;
            rv = C_UnwrapKey(s, &m, key, (CK_BYTE_PTR)r.p, r.n, t, 4, &k2);
            key = k2;
        }
        if (rv == CKR_OK) {
            CK_ATTRIBUTE v = { CKA_VALUE, out, sizeof out };
            rv = C_GetAttributeValue(s, key, &v, 1);
            n = rv == CKR_OK ? (uint32_t)v.ulValueLen : 0;
        }
        CT_SetPrivilegeLevel(PRIVILEGE_NORMAL);
        break;
    }
    default:
        SVC_SendReply(token, FM_ERR_INVALID_CMD);
        return;
    }
    answer(token, rv, out, n);
}

FM_RV Startup(void)
{
    return FMSW_RegisterDispatch(GetFMID(), dispatch) == FMSW_OK ? FM_OK : FM_UNSUCCESSFUL;
}
