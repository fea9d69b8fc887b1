/*
 * Small helpers every part uses: wiping secrets, blank-padded Cryptoki
 * strings, hex.
 */
#ifndef SOFTFM_UTIL_H
#define SOFTFM_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wipe memory in a way the compiler may not remove. */
void secure_zero(void *p, size_t n);
/* Copy a NUL-terminated string into a fixed, blank-padded Cryptoki field. */
void pad_copy(unsigned char *dst, size_t dst_len, const char *src);
/* Trim a blank-padded field into a NUL-terminated string (dst holds n + 1). */
void pad_trim(char *dst, const unsigned char *src, size_t n);
/* Lower-case hex of n bytes into dst (2n + 1 bytes). */
void hex_encode(char *dst, const uint8_t *src, size_t n);
/* Constant-time comparison: 0 when equal. */
int ct_memcmp(const void *a, const void *b, size_t n);

#endif
