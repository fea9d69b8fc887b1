/*
 * PKCS#11 application helpers (see p11app.h).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common.h"
#include "p11app.h"

const char *p11app_prog = "softfm";

int p11app_vfail(const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", p11app_prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    return 1;
}

int p11app_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    p11app_vfail(fmt, ap);
    va_end(ap);
    return 1;
}

/* softfm's module as installed beside this program. */
static void default_module(char *buf, size_t cap)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, cap, "%s/../%s/libsoftfm-pkcs11.so", exe, SOFTFM_LIBDIR);
            if (access(buf, R_OK) == 0)
                return;
        }
    }
    snprintf(buf, cap, "libsoftfm-pkcs11.so");
}

int p11app_open(p11app_t *a, const char *module)
{
    char path[4200];
    memset(a, 0, sizeof *a);
    if (!module || !*module)
        module = getenv("SOFTFM_MODULE");
    if (!module || !*module) {
        default_module(path, sizeof path);
        module = path;
    }
    a->lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (!a->lib)
        return p11app_fail("cannot load the PKCS#11 module %s: %s", module, dlerror());
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(a->lib, "C_GetFunctionList");
    CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
    CK_RV rv = CKR_FUNCTION_FAILED;
    if (!gfl || (rv = gfl(&a->f)) != CKR_OK || (rv = a->f->C_Initialize(&args)) != CKR_OK) {
        p11app_fail("cannot use the PKCS#11 module %s: %s", module, ckr_name(rv));
        dlclose(a->lib);
        a->lib = NULL;
        a->f = NULL;
        return 1;
    }
    return 0;
}

void p11app_close(p11app_t *a)
{
    if (a->f)
        a->f->C_Finalize(NULL);
    if (a->lib)
        dlclose(a->lib);
    memset(a, 0, sizeof *a);
}

bool p11app_label_is(const CK_UTF8CHAR *padded, const char *want)
{
    size_t n = strlen(want);
    if (n > 32 || memcmp(padded, want, n))
        return false;
    for (size_t i = n; i < 32; i++)
        if (padded[i] != ' ')
            return false;
    return true;
}

int p11app_slot(p11app_t *a, long slot, const char *label, CK_SLOT_ID *out)
{
    CK_SLOT_ID slots[256];
    CK_ULONG n = 256;
    CK_RV rv = a->f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv)
        return p11app_fail("cannot list the slots: %s", ckr_name(rv));
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (slot >= 0 ? slots[i] == (CK_SLOT_ID)slot
                      : a->f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
                            p11app_label_is(ti.label, label)) {
            *out = slots[i];
            return 0;
        }
    }
    if (slot >= 0)
        return p11app_fail("no token in slot %ld", slot);
    return p11app_fail("no token labelled %s", label);
}

static int read_tty(const char *prompt, char *buf, size_t cap)
{
    FILE *tty = fopen("/dev/tty", "r+e");
    if (!tty)
        return -1;
    struct termios old, quiet;
    bool restore = tcgetattr(fileno(tty), &old) == 0;
    if (restore) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    fputs(prompt, tty);
    fflush(tty);
    int rc = fgets(buf, (int)cap, tty) ? 0 : -1;
    if (restore) {
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
        fputc('\n', tty);
    }
    fclose(tty);
    if (rc == 0)
        buf[strcspn(buf, "\r\n")] = '\0';
    return rc;
}

int p11app_pin(const char *file, const char *env, const char *prompt, char *pin, size_t cap)
{
    if (file) {
        FILE *f = fopen(file, "re");
        bool ok = f && fgets(pin, (int)cap, f);
        if (f)
            fclose(f);
        if (!ok)
            return p11app_fail("cannot read the PIN from %s", file);
        pin[strcspn(pin, "\r\n")] = '\0';
        return 0;
    }
    const char *e = env ? getenv(env) : NULL;
    if (e) {
        snprintf(pin, cap, "%s", e);
        return 0;
    }
    if (read_tty(prompt, pin, cap))
        return p11app_fail("no PIN: give a PIN file%s%s or use a terminal", env ? ", set " : "",
                           env ? env : "");
    return 0;
}

static int get_attr(p11app_t *a, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t,
                    uint8_t *buf, size_t cap, size_t *len)
{
    CK_ATTRIBUTE at = { t, buf, cap };
    if (a->f->C_GetAttributeValue(s, o, &at, 1) != CKR_OK)
        return -1;
    *len = at.ulValueLen;
    return 0;
}

int p11app_public_key(p11app_t *a, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, EVP_PKEY **out)
{
    CK_KEY_TYPE kt = 0;
    size_t l;
    *out = NULL;
    if (get_attr(a, s, key, CKA_KEY_TYPE, (uint8_t *)&kt, sizeof kt, &l))
        return p11app_fail("cannot read the key's type");
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *nb = NULL, *eb = NULL;
    ASN1_OCTET_STRING *os = NULL; /* the builder points into it until to_param */
    int rc = 1;
    if (!b)
        goto out;
    if (kt == CKK_RSA) {
        uint8_t n[1024], e[16];
        size_t nl, el;
        if (get_attr(a, s, key, CKA_MODULUS, n, sizeof n, &nl) ||
            get_attr(a, s, key, CKA_PUBLIC_EXPONENT, e, sizeof e, &el)) {
            p11app_fail("cannot read the RSA key's modulus and exponent");
            goto out;
        }
        nb = BN_bin2bn(n, (int)nl, NULL);
        eb = BN_bin2bn(e, (int)el, NULL);
        if (!nb || !eb || !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, nb) ||
            !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, eb))
            goto out;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    } else if (kt == CKK_EC) {
        uint8_t par[64], pt[160];
        size_t pl, ptl;
        if (get_attr(a, s, key, CKA_EC_PARAMS, par, sizeof par, &pl) ||
            get_attr(a, s, key, CKA_EC_POINT, pt, sizeof pt, &ptl)) {
            p11app_fail("cannot read the EC key's parameters and point");
            goto out;
        }
        const uint8_t *pp = par;
        ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &pp, (long)pl);
        const char *curve = oid ? OBJ_nid2sn(OBJ_obj2nid(oid)) : NULL;
        ASN1_OBJECT_free(oid);
        /* CKA_EC_POINT is a DER OCTET STRING holding the point. */
        const uint8_t *q = pt;
        os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)ptl);
        bool ok = curve && os &&
                  OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, curve, 0) &&
                  OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY,
                                                   ASN1_STRING_get0_data(os),
                                                   (size_t)ASN1_STRING_length(os));
        if (!ok) {
            p11app_fail("the EC key's curve or point is not one OpenSSL reads");
            goto out;
        }
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    } else {
        p11app_fail("the key is neither RSA nor EC");
        goto out;
    }
    params = OSSL_PARAM_BLD_to_param(b);
    if (ctx && params && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1)
        rc = 0;
    else {
        p11app_fail("cannot make an OpenSSL key of the token's public key");
    }
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    BN_free(nb);
    BN_free(eb);
    ASN1_OCTET_STRING_free(os);
    return rc;
}

int p11app_ecdsa_der(const uint8_t *raw, size_t n, uint8_t *out, size_t *out_len)
{
    if (n == 0 || n % 2 || n > 264)
        return -1;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(n / 2), NULL), *s = BN_bin2bn(raw + n / 2, (int)(n / 2), NULL);
    int rc = -1;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* es owns them */
        uint8_t *der = NULL;
        int dl = i2d_ECDSA_SIG(es, &der);
        if (dl > 0 && (size_t)dl <= n + 16) {
            memcpy(out, der, (size_t)dl);
            *out_len = (size_t)dl;
            rc = 0;
        }
        OPENSSL_free(der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return rc;
}

uint8_t *p11app_read_file(const char *path, size_t max, size_t *n, bool *too_big)
{
    if (too_big)
        *too_big = false;
    FILE *f = fopen(path, "rbe");
    if (!f)
        return NULL;
    uint8_t *b = malloc(max + 1);
    *n = b ? fread(b, 1, max + 1, f) : 0;
    bool err = ferror(f) != 0;
    fclose(f);
    if (b && (*n > max || err)) {
        if (too_big)
            *too_big = *n > max;
        free(b);
        return NULL;
    }
    return b;
}

X509 *p11app_read_cert(const char *path)
{
    size_t n;
    uint8_t *b = p11app_read_file(path, 64u * 1024u, &n, NULL);
    if (!b)
        return NULL;
    BIO *bio = BIO_new_mem_buf(b, (int)n);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (!x) {
        const uint8_t *p = b;
        x = d2i_X509(NULL, &p, (long)n);
    }
    BIO_free(bio);
    free(b);
    return x;
}
