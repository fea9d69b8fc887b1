/*
 * Secret key generation (C_GenerateKey) and secret-key check values.
 *
 * A generated key's value comes from OpenSSL's private DRBG and never leaves
 * this process except sealed in the store; the object records truthfully that
 * it was made here (CKA_LOCAL, CKA_KEY_GEN_MECHANISM) and whether it has been
 * sensitive and unextractable since (CKA_ALWAYS_SENSITIVE,
 * CKA_NEVER_EXTRACTABLE).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "internal.h"

/* Encrypt one zero block with the key in ECB mode; keep 3 bytes. */
static int zero_block_kcv(const EVP_CIPHER *cipher, const uint8_t *key, uint8_t out[3])
{
    uint8_t zero[16] = { 0 }, enc[32];
    int n = 0, rc = -1;
    int block = EVP_CIPHER_get_block_size(cipher);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx && EVP_EncryptInit_ex(ctx, cipher, NULL, key, NULL) == 1 &&
        EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
        EVP_EncryptUpdate(ctx, enc, &n, zero, block) == 1 && n == block) {
        memcpy(out, enc, 3);
        rc = 0;
    }
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(enc, sizeof enc);
    return rc;
}

int key_check_value(CK_KEY_TYPE kt, const uint8_t *key, size_t len, uint8_t out[3])
{
    switch (kt) {
    case CKK_AES:
        return zero_block_kcv(len == 16 ? EVP_aes_128_ecb() : len == 24 ? EVP_aes_192_ecb()
                                                                        : EVP_aes_256_ecb(),
                              key, out);
    case CKK_DES3:
        return zero_block_kcv(EVP_des_ede3_ecb(), key, out);
    case CKK_DES2:
        return zero_block_kcv(EVP_des_ede_ecb(), key, out);
    case CKK_GENERIC_SECRET:
    case CKK_SHA_1_HMAC:
    case CKK_SHA224_HMAC:
    case CKK_SHA256_HMAC:
    case CKK_SHA384_HMAC:
    case CKK_SHA512_HMAC: {
        /* v2.40: the first three bytes of the SHA-1 hash of the value. */
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (EVP_Digest(key, len, md, &n, EVP_sha1(), NULL) != 1)
            return -1;
        memcpy(out, md, 3);
        return 0;
    }
    default:
        return 1;
    }
}

/* DES keys carry odd parity in the low bit of every byte. */
static void des_parity(uint8_t *key, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t b = key[i] & 0xfe;
        int ones = __builtin_popcount(b);
        key[i] = (uint8_t)(b | ((ones & 1) ? 0 : 1));
    }
}

/* What the mechanism makes, and how long its value is. */
static CK_RV plan(CK_MECHANISM_TYPE mech, const CK_ATTRIBUTE *t, CK_ULONG n, CK_KEY_TYPE *kt,
                  CK_ULONG *len)
{
    const CK_ATTRIBUTE *vl = NULL;
    for (CK_ULONG i = 0; i < n; i++) {
        if (t[i].type == CKA_VALUE)
            return CKR_ATTRIBUTE_READ_ONLY; /* the token makes the value */
        if (t[i].type == CKA_VALUE_LEN)
            vl = &t[i];
    }
    if (vl && (vl->ulValueLen != sizeof(CK_ULONG) || !vl->pValue))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    CK_ULONG want = 0;
    if (vl)
        memcpy(&want, vl->pValue, sizeof want);
    switch (mech) {
    case CKM_AES_KEY_GEN:
        *kt = CKK_AES;
        if (!vl)
            return CKR_TEMPLATE_INCOMPLETE;
        if (want != 16 && want != 24 && want != 32)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        *len = want;
        return CKR_OK;
    case CKM_DES3_KEY_GEN:
        *kt = CKK_DES3;
        if (vl && want != 24)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        *len = 24;
        return CKR_OK;
    case CKM_GENERIC_SECRET_KEY_GEN:
        *kt = CKK_GENERIC_SECRET;
        if (!vl)
            return CKR_TEMPLATE_INCOMPLETE;
        if (want < 1 || want > 512)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        *len = want;
        return CKR_OK;
    default:
        return CKR_MECHANISM_INVALID;
    }
}

CK_RV hsm_generate_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_MECHANISM *m,
                       const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    CK_RV rv;
    session_t *s;
    CK_USER_TYPE who;
    CK_KEY_TYPE kt = 0;
    CK_ULONG len = 0;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    uint8_t value[512];
    CK_ATTRIBUTE *full = NULL;
    object_t *o = NULL;

    if (!m || !out || (n && !t))
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    rv = session_get(h, app, handle, &s);
    if (rv == CKR_OK)
        who = login_state(h, app, s->tok);
    pthread_mutex_unlock(&h->lock);
    if (rv)
        return rv;
    if (!mech_find(m->mechanism) || !(mech_find(m->mechanism)->flags & CKF_GENERATE)) {
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    if (m->pParameter || m->ulParameterLen) {
        rv = CKR_MECHANISM_PARAM_INVALID;
        goto out;
    }
    if ((rv = plan(m->mechanism, t, n, &kt, &len)))
        goto out;
    /* The class and key type follow from the mechanism; a template may
       repeat them, not contradict them. */
    for (CK_ULONG i = 0; i < n; i++) {
        CK_ULONG v;
        if (t[i].type != CKA_CLASS && t[i].type != CKA_KEY_TYPE)
            continue;
        if (t[i].ulValueLen != sizeof v || !t[i].pValue) {
            rv = CKR_ATTRIBUTE_VALUE_INVALID;
            goto out;
        }
        memcpy(&v, t[i].pValue, sizeof v);
        if (v != (t[i].type == CKA_CLASS ? cls : kt)) {
            rv = CKR_TEMPLATE_INCONSISTENT;
            goto out;
        }
    }
    if (RAND_priv_bytes(value, (int)len) != 1) {
        rv = CKR_FUNCTION_FAILED;
        goto out;
    }
    if (kt == CKK_DES3)
        des_parity(value, len);

    /* The template as the token completes it: without CKA_VALUE_LEN (the
       value's length says it), with class, key type and value. */
    full = calloc(n + 3, sizeof *full);
    if (!full) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    CK_ULONG k = 0;
    for (CK_ULONG i = 0; i < n; i++)
        if (t[i].type != CKA_VALUE_LEN && t[i].type != CKA_CLASS && t[i].type != CKA_KEY_TYPE)
            full[k++] = t[i];
    full[k++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
    full[k++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof kt };
    full[k++] = (CK_ATTRIBUTE){ CKA_VALUE, value, len };
    o = calloc(1, sizeof *o);
    if (!o) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    attr_origin_t origin = { .mech = m->mechanism };
    if ((rv = attrs_build(full, k, who, &origin, o)))
        goto out;
    if ((rv = object_add(h, s, o, who, out)) == CKR_OK)
        o = NULL;
out:
    OPENSSL_cleanse(value, sizeof value);
    free(full);
    object_free(o);
    pthread_mutex_lock(&h->lock);
    session_put(h, s);
    pthread_mutex_unlock(&h->lock);
    return rv;
}
