/*
 * Identities on the network link: P-256 keys, self-signed certificates,
 * their fingerprints, and their files.
 */
#include "net.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static int add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int rc = X509_add_ext(cert, ext, -1) == 1 ? 0 : -1;
    X509_EXTENSION_free(ext);
    return rc;
}

int net_make_identity(const char *common_name, long valid_s, EVP_PKEY **key, X509 **cert)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    BIGNUM *bn = BN_new();
    int rc = -1;
    if (!k || !x || !name || !serial || !bn)
        goto out;
    /* A random 64-bit serial: two identities made with one name differ. */
    if (!BN_rand(bn, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) || !BN_to_ASN1_INTEGER(bn, serial))
        goto out;
    if (X509_set_version(x, 2) != 1 || X509_set_serialNumber(x, serial) != 1 ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"softfm",
                                    -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)common_name, -1, -1, 0) ||
        X509_set_subject_name(x, name) != 1 || X509_set_issuer_name(x, name) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -300) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), valid_s) ||
        X509_set_pubkey(x, k) != 1 || add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(x, NID_key_usage, "critical,digitalSignature") ||
        add_ext(x, NID_subject_key_identifier, "hash") ||
        X509_sign(x, k, EVP_sha256()) <= 0)
        goto out;
    *key = k;
    *cert = x;
    k = NULL;
    x = NULL;
    rc = 0;
out:
    BN_free(bn);
    ASN1_INTEGER_free(serial);
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int net_fingerprint(X509 *cert, uint8_t fp[NET_FP_LEN])
{
    unsigned n = 0;
    return X509_digest(cert, EVP_sha256(), fp, &n) == 1 && n == NET_FP_LEN ? 0 : -1;
}

void net_fp_text(const uint8_t fp[NET_FP_LEN], char out[NET_FP_TEXT])
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < NET_FP_LEN; i++) {
        out[3 * i] = hex[fp[i] >> 4];
        out[3 * i + 1] = hex[fp[i] & 15];
        out[3 * i + 2] = i + 1 < NET_FP_LEN ? ':' : '\0';
    }
}

X509 *net_cert_from_der(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    if (len > 65536)
        return NULL;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x && p != der + len) { /* trailing bytes: not one certificate */
        X509_free(x);
        x = NULL;
    }
    return x;
}

EVP_PKEY *net_key_from_der(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    if (len > 65536)
        return NULL;
    return d2i_AutoPrivateKey(NULL, &p, (long)len);
}

int net_cert_to_der(X509 *cert, uint8_t **der, size_t *len)
{
    unsigned char *p = NULL;
    int n = i2d_X509(cert, &p);
    if (n <= 0)
        return -1;
    *der = p;
    *len = (size_t)n;
    return 0;
}

int net_key_to_der(EVP_PKEY *key, uint8_t **der, size_t *len)
{
    unsigned char *p = NULL;
    int n = i2d_PrivateKey(key, &p);
    if (n <= 0)
        return -1;
    *der = p;
    *len = (size_t)n;
    return 0;
}

X509 *net_read_cert(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    if (!x) { /* DER, as `openssl x509 -outform DER` writes */
        rewind(f);
        x = d2i_X509_fp(f, NULL);
    }
    fclose(f);
    return x;
}

EVP_PKEY *net_read_key(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

int net_write_cert(const char *path, X509 *cert)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -1;
    int ok = PEM_write_X509(f, cert);
    return fclose(f) == 0 && ok == 1 ? 0 : -1;
}

int net_write_key(const char *path, EVP_PKEY *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok == 1 ? 0 : -1;
}

void net_cert_name(X509 *cert, char *buf, size_t cap)
{
    buf[0] = '\0';
    X509_NAME *n = X509_get_subject_name(cert);
    if (n && X509_NAME_get_text_by_NID(n, NID_commonName, buf, (int)cap) < 0)
        buf[0] = '\0';
    for (char *p = buf; *p; p++) /* for logs: printable only */
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

bool net_cert_current(X509 *cert)
{
    return X509_cmp_current_time(X509_get0_notBefore(cert)) < 0 &&
           X509_cmp_current_time(X509_get0_notAfter(cert)) > 0;
}
