/*
 * Signatures and MACs: HMAC with SHA-1 and SHA-2 (full length and the
 * _GENERAL forms that truncate), and AES-CMAC (full and general).
 *
 * The operation rules are those of cipher.c: a length query or a buffer too
 * small changes nothing; any other error ends the operation; single-part and
 * multi-part calls do not mix. A MAC is verified by computing it and
 * comparing in constant time.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "internal.h"

enum sign_kind { S_HMAC, S_CMAC };

typedef struct sign_mech {
    CK_MECHANISM_TYPE mech;
    enum sign_kind kind;
    const char *digest;        /* HMAC */
    size_t full_len;           /* output length of the plain form */
    bool general;              /* parameter: the output length wanted */
    CK_KEY_TYPE hmac_key;      /* the HMAC key type that also fits */
} sign_mech_t;

static const sign_mech_t sign_mechs[] = {
    { CKM_SHA_1_HMAC, S_HMAC, "SHA1", 20, false, CKK_SHA_1_HMAC },
    { CKM_SHA_1_HMAC_GENERAL, S_HMAC, "SHA1", 20, true, CKK_SHA_1_HMAC },
    { CKM_SHA224_HMAC, S_HMAC, "SHA224", 28, false, CKK_SHA224_HMAC },
    { CKM_SHA224_HMAC_GENERAL, S_HMAC, "SHA224", 28, true, CKK_SHA224_HMAC },
    { CKM_SHA256_HMAC, S_HMAC, "SHA256", 32, false, CKK_SHA256_HMAC },
    { CKM_SHA256_HMAC_GENERAL, S_HMAC, "SHA256", 32, true, CKK_SHA256_HMAC },
    { CKM_SHA384_HMAC, S_HMAC, "SHA384", 48, false, CKK_SHA384_HMAC },
    { CKM_SHA384_HMAC_GENERAL, S_HMAC, "SHA384", 48, true, CKK_SHA384_HMAC },
    { CKM_SHA512_HMAC, S_HMAC, "SHA512", 64, false, CKK_SHA512_HMAC },
    { CKM_SHA512_HMAC_GENERAL, S_HMAC, "SHA512", 64, true, CKK_SHA512_HMAC },
    { CKM_AES_CMAC, S_CMAC, NULL, 16, false, 0 },
    { CKM_AES_CMAC_GENERAL, S_CMAC, NULL, 16, true, 0 },
};

static const sign_mech_t *sign_mech(CK_MECHANISM_TYPE m)
{
    for (size_t i = 0; i < sizeof sign_mechs / sizeof sign_mechs[0]; i++)
        if (sign_mechs[i].mech == m)
            return &sign_mechs[i];
    return NULL;
}

static EVP_MAC *mac_hmac, *mac_cmac;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;

static void fetch_macs(void)
{
    mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    mac_cmac = EVP_MAC_fetch(NULL, "CMAC", NULL);
}

void sign_op_end(sign_op_t *op)
{
    EVP_MAC_CTX_free(op->mac); /* wipes the key schedule */
    memset(op, 0, sizeof *op);
}

static CK_RV key_fits(const sign_mech_t *sm, const key_use_t *k)
{
    if (k->cls != CKO_SECRET_KEY)
        return CKR_KEY_TYPE_INCONSISTENT;
    if (sm->kind == S_CMAC) {
        if (k->type != CKK_AES)
            return CKR_KEY_TYPE_INCONSISTENT;
        return k->len == 16 || k->len == 24 || k->len == 32 ? CKR_OK : CKR_KEY_SIZE_RANGE;
    }
    if (k->type != CKK_GENERIC_SECRET && k->type != sm->hmac_key)
        return CKR_KEY_TYPE_INCONSISTENT;
    return k->len ? CKR_OK : CKR_KEY_SIZE_RANGE;
}

static CK_RV mac_start(sign_op_t *op, const sign_mech_t *sm, const key_use_t *k)
{
    OSSL_PARAM params[2];
    const char *cipher = k->len == 16 ? "AES-128-CBC" : k->len == 24 ? "AES-192-CBC" : "AES-256-CBC";
    pthread_once(&mac_once, fetch_macs);
    op->mac = EVP_MAC_CTX_new(sm->kind == S_HMAC ? mac_hmac : mac_cmac);
    if (!op->mac)
        return CKR_HOST_MEMORY;
    if (sm->kind == S_HMAC)
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)sm->digest, 0);
    else
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)cipher, 0);
    params[1] = OSSL_PARAM_construct_end();
    return EVP_MAC_init(op->mac, k->value, k->len, params) == 1 ? CKR_OK : CKR_FUNCTION_FAILED;
}

CK_RV hsm_sign_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, enum hsm_sign_dir dir,
                    const CK_MECHANISM *m, CK_OBJECT_HANDLE key)
{
    session_t *s;
    key_use_t k;
    memset(&k, 0, sizeof k);
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    sign_op_t *op = &s->sign[dir];
    const sign_mech_t *sm = m ? sign_mech(m->mechanism) : NULL;
    if (!m)
        rv = CKR_ARGUMENTS_BAD;
    else if (op->active)
        rv = CKR_OPERATION_ACTIVE;
    else if (!sm || !mech_find(m->mechanism))
        rv = CKR_MECHANISM_INVALID;
    else if ((rv = key_for_use(h, s, key, dir == HSM_SIGN ? CKA_SIGN : CKA_VERIFY, m->mechanism,
                               &k)))
        ;
    else if ((rv = key_fits(sm, &k)))
        ;
    else if (sm->general) {
        CK_ULONG want = 0;
        if (!m->pParameter || m->ulParameterLen != sizeof want)
            rv = CKR_MECHANISM_PARAM_INVALID;
        else if (memcpy(&want, m->pParameter, sizeof want), want < 1 || want > sm->full_len)
            rv = CKR_MECHANISM_PARAM_INVALID;
        op->out_len = want;
    } else {
        if (m->pParameter || m->ulParameterLen)
            rv = CKR_MECHANISM_PARAM_INVALID;
        op->out_len = sm->full_len;
    }
    if (rv == CKR_OK)
        rv = mac_start(op, sm, &k);
    if (rv == CKR_OK) {
        op->active = true;
        op->sm = sm;
    } else if (rv != CKR_OPERATION_ACTIVE) {
        sign_op_end(op);
    }
    key_use_free(&k);
    session_checkin(h, s);
    return rv;
}

static CK_RV enter(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, enum hsm_sign_dir dir,
                   session_t **s, sign_op_t **op)
{
    CK_RV rv = session_checkout(h, app, handle, s);
    if (rv)
        return rv;
    *op = &(*s)->sign[dir];
    if (!(*op)->active) {
        session_checkin(h, *s);
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    return CKR_OK;
}

static CK_RV leave(hsm_t *h, session_t *s, sign_op_t *op, CK_RV rv, bool keep)
{
    if (!keep)
        sign_op_end(op);
    session_checkin(h, s);
    return rv;
}

static CK_RV mac_update(sign_op_t *op, const CK_BYTE *data, CK_ULONG len)
{
    return !len || EVP_MAC_update(op->mac, data, len) == 1 ? CKR_OK : CKR_FUNCTION_FAILED;
}

/* The MAC, truncated to the length asked for. */
static CK_RV mac_final(sign_op_t *op, CK_BYTE *out)
{
    uint8_t full[EVP_MAX_MD_SIZE];
    size_t n = 0;
    if (EVP_MAC_final(op->mac, full, &n, sizeof full) != 1 || n < op->out_len)
        return CKR_FUNCTION_FAILED;
    memcpy(out, full, op->out_len);
    secure_zero(full, sizeof full);
    return CKR_OK;
}

/* Sign output rules shared by C_Sign and C_SignFinal. */
static CK_RV sign_out(sign_op_t *op, CK_BYTE *sig, CK_ULONG *sig_len, bool *keep)
{
    *keep = true;
    if (!sig) {
        *sig_len = op->out_len;
        return CKR_OK;
    }
    if (*sig_len < op->out_len) {
        *sig_len = op->out_len;
        return CKR_BUFFER_TOO_SMALL;
    }
    *keep = false;
    CK_RV rv = mac_final(op, sig);
    if (rv == CKR_OK)
        *sig_len = op->out_len;
    return rv;
}

CK_RV hsm_sign(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_BYTE *data, CK_ULONG len,
               CK_BYTE *sig, CK_ULONG *sig_len)
{
    session_t *s;
    sign_op_t *op;
    bool keep = false;
    CK_RV rv = enter(h, app, handle, HSM_SIGN, &s, &op);
    if (rv)
        return rv;
    if (op->multi)
        return leave(h, s, op, CKR_OPERATION_ACTIVE, true);
    if ((!data && len) || !sig_len)
        return leave(h, s, op, CKR_ARGUMENTS_BAD, false);
    if (sig && *sig_len >= op->out_len && (rv = mac_update(op, data, len)))
        return leave(h, s, op, rv, false);
    rv = sign_out(op, sig, sig_len, &keep);
    return leave(h, s, op, rv, keep);
}

CK_RV hsm_sign_update(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, enum hsm_sign_dir dir,
                      const CK_BYTE *data, CK_ULONG len)
{
    session_t *s;
    sign_op_t *op;
    CK_RV rv = enter(h, app, handle, dir, &s, &op);
    if (rv)
        return rv;
    if (!data && len)
        return leave(h, s, op, CKR_ARGUMENTS_BAD, false);
    op->multi = true;
    rv = mac_update(op, data, len);
    return leave(h, s, op, rv, rv == CKR_OK);
}

CK_RV hsm_sign_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, CK_BYTE *sig,
                     CK_ULONG *sig_len)
{
    session_t *s;
    sign_op_t *op;
    bool keep = false;
    CK_RV rv = enter(h, app, handle, HSM_SIGN, &s, &op);
    if (rv)
        return rv;
    if (!sig_len)
        return leave(h, s, op, CKR_ARGUMENTS_BAD, false);
    rv = sign_out(op, sig, sig_len, &keep);
    return leave(h, s, op, rv, keep);
}

static CK_RV mac_check(sign_op_t *op, const CK_BYTE *sig, CK_ULONG sig_len)
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    if (!sig && sig_len)
        return CKR_ARGUMENTS_BAD;
    if (sig_len != op->out_len)
        return CKR_SIGNATURE_LEN_RANGE;
    CK_RV rv = mac_final(op, mac);
    if (rv == CKR_OK && ct_memcmp(mac, sig, op->out_len))
        rv = CKR_SIGNATURE_INVALID;
    secure_zero(mac, sizeof mac);
    return rv;
}

CK_RV hsm_verify(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_BYTE *data,
                 CK_ULONG len, const CK_BYTE *sig, CK_ULONG sig_len)
{
    session_t *s;
    sign_op_t *op;
    CK_RV rv = enter(h, app, handle, HSM_VERIFY, &s, &op);
    if (rv)
        return rv;
    if (op->multi)
        return leave(h, s, op, CKR_OPERATION_ACTIVE, true);
    if (!data && len)
        return leave(h, s, op, CKR_ARGUMENTS_BAD, false);
    if ((rv = mac_update(op, data, len)) == CKR_OK)
        rv = mac_check(op, sig, sig_len);
    return leave(h, s, op, rv, false);
}

CK_RV hsm_verify_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_BYTE *sig,
                       CK_ULONG sig_len)
{
    session_t *s;
    sign_op_t *op;
    CK_RV rv = enter(h, app, handle, HSM_VERIFY, &s, &op);
    if (rv)
        return rv;
    rv = mac_check(op, sig, sig_len);
    return leave(h, s, op, rv, false);
}
