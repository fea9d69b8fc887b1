/*
 * AES-256-GCM sealing of blobs at rest (private to the store).
 * A sealed blob is nonce (12) || ciphertext || tag (16).
 */
#ifndef SOFTFM_STORE_SEAL_H
#define SOFTFM_STORE_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_KEY_LEN 32
#define SEAL_OVERHEAD (12 + 16)

int seal(const uint8_t key[SEAL_KEY_LEN], const uint8_t *aad, size_t aad_len,
         const uint8_t *in, size_t in_len, uint8_t *out);
/* Returns 0, or -1 when the blob is not authentic. out holds len - 28. */
int unseal(const uint8_t key[SEAL_KEY_LEN], const uint8_t *aad, size_t aad_len,
           const uint8_t *in, size_t in_len, uint8_t *out);

#endif
