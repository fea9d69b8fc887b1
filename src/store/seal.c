/*
 * AES-256-GCM with a random 96-bit nonce for each seal. Keys are never
 * reused across purposes: the associated data names what the blob is and
 * where it belongs, so a blob moved to another row fails to open.
 */
#include "seal.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

int seal(const uint8_t key[SEAL_KEY_LEN], const uint8_t *aad, size_t aad_len,
         const uint8_t *in, size_t in_len, uint8_t *out)
{
    int rc = -1, n = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx || in_len > INT32_MAX || aad_len > INT32_MAX)
        goto out;
    if (RAND_bytes(out, 12) != 1)
        goto out;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out) != 1)
        goto out;
    if (aad_len && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
        goto out;
    if (in_len && EVP_EncryptUpdate(ctx, out + 12, &n, in, (int)in_len) != 1)
        goto out;
    if (EVP_EncryptFinal_ex(ctx, out + 12 + in_len, &n) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + in_len) != 1)
        goto out;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int unseal(const uint8_t key[SEAL_KEY_LEN], const uint8_t *aad, size_t aad_len,
           const uint8_t *in, size_t in_len, uint8_t *out)
{
    int rc = -1, n = 0;
    EVP_CIPHER_CTX *ctx = NULL;
    if (in_len < SEAL_OVERHEAD || in_len > INT32_MAX || aad_len > INT32_MAX)
        return -1;
    size_t clen = in_len - SEAL_OVERHEAD;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        goto out;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in) != 1)
        goto out;
    if (aad_len && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
        goto out;
    if (clen && EVP_DecryptUpdate(ctx, out, &n, in + 12, (int)clen) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in + 12 + clen)) != 1)
        goto out;
    if (EVP_DecryptFinal_ex(ctx, out + clen, &n) != 1)
        goto out;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (rc)
        OPENSSL_cleanse(out, clen);
    return rc;
}
