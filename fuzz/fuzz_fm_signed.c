/*
 * libFuzzer target: the signed FM image parser and the HSM's full check of
 * one (fm_signed_check) against a fixed certificate, on arbitrary bytes and
 * on bytes behind a valid magic and format so the fuzzer reaches the header
 * fields quickly. Nothing may read outside the image or crash; a parsed
 * image's parts lie inside it, in order, and the signature is not empty.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fm.h"

static uint8_t cert[1024];
static size_t cert_len;

/* A self-signed P-256 certificate, made once. */
static void make_cert(void)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!pk || !x || X509_set_version(x, X509_VERSION_3) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 86400) || X509_set_pubkey(x, pk) != 1 ||
        !X509_sign(x, pk, EVP_sha256()))
        abort();
    uint8_t *p = cert;
    int n = i2d_X509(x, NULL);
    if (n <= 0 || (size_t)n > sizeof cert || i2d_X509(x, &p) != n)
        abort();
    cert_len = (size_t)n;
    X509_free(x);
    EVP_PKEY_free(pk);
}

static void one(const uint8_t *data, size_t size)
{
    fm_signed_t s;
    char why[200];
    if (fm_signed_parse(data, size, &s, why, sizeof why) == 0) {
        const uint8_t *end = data + size;
        if (s.elf < data || s.elf + s.elf_len > end || s.sig < s.elf + s.elf_len ||
            s.sig + s.sig_len != end || !s.sig_len || s.signed_part != data ||
            s.signed_len > size)
            abort();
        fm_origin_t o;
        const uint8_t *elf;
        size_t elf_len;
        if (fm_origin(data, size, false, &o, &elf, &elf_len) || elf != s.elf)
            abort();
    }
    if (fm_signed_check(data, size, cert, cert_len, (uint64_t)time(NULL), &s, why, sizeof why) == 0)
        abort(); /* nothing the fuzzer makes is signed by the fixed key */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cert_len)
        make_cert();
    one(data, size);
    uint8_t *img = malloc(size + 12);
    if (!img)
        return 0;
    memcpy(img, FM_SIGNED_MAGIC, 8);
    img[8] = img[9] = img[10] = 0;
    img[11] = FM_SIGNED_FORMAT;
    memcpy(img + 12, data, size);
    one(img, size + 12);
    free(img);
    return 0;
}
