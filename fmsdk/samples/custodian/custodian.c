/*
 * The key custodian FM: the seed's recommended way to keep keys in the
 * SMFS. Startup restores the keys from one SMFS file (open, read, close);
 * they live in memory while the FM runs; every change is written back at
 * once (open, write, close), so no SMFS handle is kept. Keys are made with
 * the HSM's random generator and used for HMAC-SHA256 through Cryptoki, as
 * session objects that exist only for the call.
 */
#include <string.h>

#include <fm.h>
#include <fmappid.h>
#include <fmsmfs.h>
#include "fm/common/fm_byteorder.h"

#include "custodian.h"

#define DIR_PATH "/custodian"
#define FILE_PATH "/custodian/keys"

typedef struct key {
    uint8_t used;
    char name[CUSTODIAN_NAME_MAX + 1];
    uint8_t value[32];
} ckey_t;

static ckey_t keys[CUSTODIAN_KEYS];
static CK_SESSION_HANDLE session;

/* Write every key back: open, write, close. */
static int save(void)
{
    SMFS_HANDLE fh;
    int rc = SmFsOpenFile(&fh, FILE_PATH);
    if (rc)
        return rc;
    rc = SmFsWriteFile(fh, 0, (char *)keys, sizeof keys);
    int c = SmFsCloseFile(fh);
    return rc ? rc : c;
}

static int restore(void)
{
    int rc = SmFsCreateDir(DIR_PATH, 4);
    if (rc && rc != SMFS_ERR_EXIST)
        return rc;
    rc = SmFsCreateFile(FILE_PATH, sizeof keys); /* zero-filled: no keys */
    if (rc && rc != SMFS_ERR_EXIST)
        return rc;
    SMFS_HANDLE fh;
    if ((rc = SmFsOpenFile(&fh, FILE_PATH)))
        return rc;
    rc = SmFsReadFile(fh, 0, (char *)keys, sizeof keys);
    int c = SmFsCloseFile(fh);
    return rc ? rc : c;
}

static ckey_t *find(const char *name)
{
    for (int i = 0; i < CUSTODIAN_KEYS; i++)
        if (keys[i].used && !strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

/* HMAC-SHA256 of data under a key, with a session object made for it. */
static CK_RV hmac(const ckey_t *k, const uint8_t *data, uint32_t n, uint8_t mac[32])
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
                         { CKA_TOKEN, &no, 1 }, { CKA_PRIVATE, &no, 1 },
                         { CKA_SIGN, &yes, 1 }, { CKA_VALUE, (void *)k->value, sizeof k->value } };
    CK_OBJECT_HANDLE obj;
    CK_RV rv = C_CreateObject(session, t, 6, &obj);
    if (rv)
        return rv;
    CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
    CK_ULONG len = 32;
    if ((rv = C_SignInit(session, &m, obj)) == CKR_OK)
        rv = C_Sign(session, (CK_BYTE_PTR)data, n, mac, &len);
    C_DestroyObject(session, obj);
    return rv;
}

static void reply(HI_MsgHandle token, uint32_t status, const void *data, uint32_t n)
{
    uint8_t *out = n ? SVC_GetReplyBuffer(token, n) : NULL;
    if (out)
        memcpy(out, data, n);
    SVC_SendReply(token, n && !out ? FM_ERR_OUT_OF_MEMORY : status);
}

static void dispatch(HI_MsgHandle token, void *req, uint32_t len)
{
    const uint8_t *p = req;
    uint32_t cmd, nl = 0;
    char name[CUSTODIAN_NAME_MAX + 1] = "";
    if (len < 4) {
        reply(token, FM_ERR_INVALID_LENGTH, NULL, 0);
        return;
    }
    memcpy(&cmd, p, 4);
    cmd = fm_betoh32(cmd);
    if (cmd != CUSTODIAN_LIST) {
        if (len < 8 || (memcpy(&nl, p + 4, 4), nl = fm_betoh32(nl)) == 0 ||
            nl > CUSTODIAN_NAME_MAX || nl > len - 8) {
            reply(token, FM_ERR_INVALID_LENGTH, NULL, 0);
            return;
        }
        memcpy(name, p + 8, nl);
        name[nl] = '\0';
    }
    const uint8_t *data = p + 8 + nl;
    uint32_t dn = cmd == CUSTODIAN_LIST ? 0 : len - 8 - nl;
    FM_SetCurrentAppId((unsigned long)-1); /* one AppId for the FM's session */
    ckey_t *k = cmd == CUSTODIAN_LIST ? NULL : find(name);
    switch (cmd) {
    case CUSTODIAN_GENERATE: {
        if (k) {
            reply(token, FM_ERR_INVALID_REQUEST, NULL, 0);
            return;
        }
        for (int i = 0; i < CUSTODIAN_KEYS && !k; i++)
            if (!keys[i].used)
                k = &keys[i];
        if (!k || C_GenerateRandom(session, k->value, sizeof k->value) != CKR_OK) {
            reply(token, FM_INSUFFICIENT_RESOURCES, NULL, 0);
            return;
        }
        k->used = 1;
        memcpy(k->name, name, nl + 1);
        if (save()) { /* not kept: as if it had not happened */
            memset(k, 0, sizeof *k);
            reply(token, FM_UNSUCCESSFUL, NULL, 0);
            return;
        }
        reply(token, FM_OK, NULL, 0);
        return;
    }
    case CUSTODIAN_USE: {
        uint8_t mac[32];
        if (!k || hmac(k, data, dn, mac) != CKR_OK)
            reply(token, k ? FM_UNSUCCESSFUL : FM_ERR_INVALID_REQUEST, NULL, 0);
        else
            reply(token, FM_OK, mac, sizeof mac);
        return;
    }
    case CUSTODIAN_DELETE: {
        if (!k) {
            reply(token, FM_ERR_INVALID_REQUEST, NULL, 0);
            return;
        }
        ckey_t old = *k;
        memset(k, 0, sizeof *k);
        if (save()) {
            *k = old;
            reply(token, FM_UNSUCCESSFUL, NULL, 0);
            return;
        }
        reply(token, FM_OK, NULL, 0);
        return;
    }
    case CUSTODIAN_LIST: {
        char out[CUSTODIAN_KEYS * (CUSTODIAN_NAME_MAX + 1)];
        uint32_t n = 0;
        for (int i = 0; i < CUSTODIAN_KEYS; i++) {
            if (!keys[i].used)
                continue;
            size_t l = strlen(keys[i].name);
            memcpy(out + n, keys[i].name, l);
            n += (uint32_t)l;
            out[n++] = '\n';
        }
        reply(token, FM_OK, out, n);
        return;
    }
    default:
        reply(token, FM_ERR_INVALID_CMD, NULL, 0);
    }
}

FM_RV Startup(void)
{
    /* The HSM starts FMs only with the SMFS active: the keys are there. */
    if (restore())
        return FM_UNSUCCESSFUL;
    CK_RV rv = C_Initialize(NULL);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        return FM_UNSUCCESSFUL;
    /* Outside a request the AppId is FM_DEFAULT_PID, the same one requests
       use after FM_SetCurrentAppId((unsigned long)-1). */
    if (C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &session) != CKR_OK)
        return FM_UNSUCCESSFUL;
    return FMSW_RegisterDispatch(GetFMID(), dispatch) == FMSW_OK ? FM_OK : FM_UNSUCCESSFUL;
}
