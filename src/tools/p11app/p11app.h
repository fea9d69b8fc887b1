/*
 * What softfm's PKCS#11 applications (mkfm, cmu) share: loading a module,
 * finding a token, PINs, and turning token keys and signatures into their
 * OpenSSL forms. Errors are printed as "PROG: message" on stderr.
 */
#ifndef SOFTFM_P11APP_H
#define SOFTFM_P11APP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>
#include <p11-kit/pkcs11.h>

typedef struct p11app {
    void *lib;
    CK_FUNCTION_LIST_PTR f;
} p11app_t;

/* The program's name in messages. */
extern const char *p11app_prog;
/* Print "PROG: message" to stderr; returns 1. */
int p11app_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int p11app_vfail(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Load and initialise a module: module, else SOFTFM_MODULE, else softfm's
   own beside the program (../LIBDIR/libsoftfm-pkcs11.so). 0 or 1. */
int p11app_open(p11app_t *a, const char *module);
void p11app_close(p11app_t *a);

/* The slot with the token: by number (slot >= 0) or by token label. */
int p11app_slot(p11app_t *a, long slot, const char *label, CK_SLOT_ID *out);

/* A PIN from a file's first line, an environment variable, or a no-echo
   prompt (in that order of what is given). Wipe it after use. */
int p11app_pin(const char *file, const char *env, const char *prompt, char *pin, size_t cap);

/* The public key of a token key object (public or private key), as an
   OpenSSL key: RSA from CKA_MODULUS/CKA_PUBLIC_EXPONENT, EC from
   CKA_EC_PARAMS/CKA_EC_POINT. */
int p11app_public_key(p11app_t *a, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, EVP_PKEY **out);

/* A token's ECDSA signature (r || s) as DER (an ECDSA-Sig-Value); out holds
   at least n + 16 bytes. */
int p11app_ecdsa_der(const uint8_t *raw, size_t n, uint8_t *out, size_t *out_len);

/* A whole file of at most max bytes (malloc'ed): NULL when it cannot be
   read or is larger, with *too_big telling which (too_big may be NULL). */
uint8_t *p11app_read_file(const char *path, size_t max, size_t *n, bool *too_big);
/* An X.509 certificate from a PEM or DER file; NULL if it is not one. */
X509 *p11app_read_cert(const char *path);

/* Compare a padded 32-byte PKCS#11 label with a string. */
bool p11app_label_is(const CK_UTF8CHAR *padded, const char *want);

#endif
