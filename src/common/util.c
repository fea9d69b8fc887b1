#include "util.h"

#include <string.h>

void secure_zero(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

void pad_copy(unsigned char *dst, size_t dst_len, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n > dst_len)
        n = dst_len;
    memset(dst, ' ', dst_len);
    if (n)
        memcpy(dst, src, n);
}

void pad_trim(char *dst, const unsigned char *src, size_t n)
{
    memcpy(dst, src, n);
    while (n && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
        n--;
    dst[n] = '\0';
}

void hex_encode(char *dst, const uint8_t *src, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[src[i] >> 4];
        dst[2 * i + 1] = digits[src[i] & 15];
    }
    dst[2 * n] = '\0';
}

int ct_memcmp(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(x[i] ^ y[i]);
    return d;
}
