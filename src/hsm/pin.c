/*
 * PINs: kept only as salted PBKDF2-HMAC-SHA256 records, checked in constant
 * time, with failures counted durably before the caller hears "incorrect",
 * so that killing the daemon between guesses gains an attacker nothing.
 *
 * Record layout (STORE_PIN_REC_LEN bytes): version 1, u32 iterations,
 * 16 bytes salt, 32 bytes hash, zero padding. All zeros: no PIN set.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "internal.h"

#define PIN_VERSION 1
#define PIN_ITER 20000u
#define PIN_SALT 16
#define PIN_HASH 32

static int derive(const CK_UTF8CHAR *pin, CK_ULONG len, const uint8_t *salt, uint32_t iter,
                  uint8_t out[PIN_HASH])
{
    return PKCS5_PBKDF2_HMAC((const char *)pin, (int)len, salt, PIN_SALT, (int)iter,
                             EVP_sha256(), PIN_HASH, out) == 1 ? 0 : -1;
}

CK_RV pin_len_ok(const CK_UTF8CHAR *pin, CK_ULONG len)
{
    if (!pin && len)
        return CKR_ARGUMENTS_BAD;
    if (len < HSM_PIN_MIN || len > HSM_PIN_MAX)
        return CKR_PIN_LEN_RANGE;
    return CKR_OK;
}

int pin_hash(const CK_UTF8CHAR *pin, CK_ULONG len, uint8_t rec[STORE_PIN_REC_LEN])
{
    memset(rec, 0, STORE_PIN_REC_LEN);
    rec[0] = PIN_VERSION;
    be32_put(rec + 1, PIN_ITER);
    if (RAND_bytes(rec + 5, PIN_SALT) != 1)
        return -1;
    return derive(pin, len, rec + 5, PIN_ITER, rec + 5 + PIN_SALT);
}

bool pin_is_set(const uint8_t rec[STORE_PIN_REC_LEN])
{
    return rec[0] == PIN_VERSION;
}

int pin_verify(const uint8_t rec[STORE_PIN_REC_LEN], const CK_UTF8CHAR *pin, CK_ULONG len)
{
    uint8_t h[PIN_HASH];
    if (!pin_is_set(rec))
        return -1;
    uint32_t iter = be32_get(rec + 1);
    if (iter == 0 || iter > 10000000u || derive(pin, len, rec + 5, iter, h))
        return -1;
    int r = ct_memcmp(h, rec + 5 + PIN_SALT, PIN_HASH) ? 1 : 0;
    secure_zero(h, sizeof h);
    return r;
}

CK_RV pin_check(hsm_t *h, token_t *tok, CK_USER_TYPE user, const CK_UTF8CHAR *pin, CK_ULONG len)
{
    CK_RV rv = pin_len_ok(pin, len);
    if (rv)
        return rv == CKR_PIN_LEN_RANGE ? CKR_PIN_INCORRECT : rv;
    bool so = user == CKU_SO;
    uint8_t rec[STORE_PIN_REC_LEN];

    /* One check at a time per token, so parallel guesses cannot outrun the
       failure counter. */
    pthread_mutex_lock(&tok->pin_lock);
    pthread_mutex_lock(&h->lock);
    unsigned long max = h->policy[so ? POL_SO_TRIES : POL_USER_TRIES];
    uint32_t fails = so ? tok->rec.so_fail : tok->rec.user_fail;
    memcpy(rec, so ? tok->rec.so_pin : tok->rec.user_pin, sizeof rec);
    pthread_mutex_unlock(&h->lock);

    if (!pin_is_set(rec)) {
        rv = so ? CKR_PIN_INCORRECT : CKR_USER_PIN_NOT_INITIALIZED;
        goto out;
    }
    if (max && fails >= max) {
        rv = CKR_PIN_LOCKED;
        goto out;
    }
    int r = pin_verify(rec, pin, len);
    if (r < 0) {
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    rv = r == 0 ? CKR_OK : CKR_PIN_INCORRECT;
    uint32_t now = r == 0 ? 0 : fails + 1;
    if (now != fails) {
        pthread_mutex_lock(&h->wlock);
        pthread_mutex_lock(&h->lock);
        store_token_t upd = tok->rec;
        bool gone = tok->deleted;
        pthread_mutex_unlock(&h->lock);
        if (gone) { /* deleted while the PIN was being checked */
            pthread_mutex_unlock(&h->wlock);
            secure_zero(&upd, sizeof upd);
            rv = CKR_TOKEN_NOT_PRESENT;
            goto out;
        }
        if (so)
            upd.so_fail = now;
        else
            upd.user_fail = now;
        if (store_token_update(h->store, &upd) == 0) {
            pthread_mutex_lock(&h->lock);
            if (so)
                tok->rec.so_fail = now;
            else
                tok->rec.user_fail = now;
            pthread_mutex_unlock(&h->lock);
        } else {
            rv = CKR_DEVICE_ERROR;
        }
        pthread_mutex_unlock(&h->wlock);
        secure_zero(&upd, sizeof upd);
    }
out:
    pthread_mutex_unlock(&tok->pin_lock);
    secure_zero(rec, sizeof rec);
    return rv;
}
