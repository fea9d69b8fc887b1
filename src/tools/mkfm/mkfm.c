/*
 * mkfm: sign an FM image, check one, describe one.
 *
 *   mkfm -f FM.so -o FM.bin -k KEY -c CERT [--release] [-p PIN | --pin-file F]
 *        [--module LIB] [--target-arch x86_64|aarch64]
 *   mkfm --verify -f FM.bin -c CERT
 *   mkfm --info -f FM.bin
 *
 * KEY is a private key in a token, reached through PKCS#11 — TOKENLABEL/
 * KEYLABEL, TOKENLABEL(PIN)/KEYLABEL or SLOTID=n/KEYLABEL — the production
 * path, where the key never leaves the HSM; or, for development only, a PEM
 * file. CERT is the signer's certificate (PEM or DER), the one the HSM SO
 * puts in the Admin Token. Images are DEBUG unless --release, and for this
 * machine's HSMs unless --target-arch names another. The token's PIN comes
 * from -p, the KEY, --pin-file, MKFM_PIN or a no-echo prompt. The output is
 * written to a temporary file and renamed into place.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "common.h"
#include "fm.h"
#include "p11app.h"

#define MAX_FILE SFM_FM_IMAGE_MAX

/* The SHA-256 of the certificate's DER, as the image names its signer. */
static int cert_sha256(X509 *x, uint8_t out[32])
{
    unsigned int l = 0;
    return X509_digest(x, EVP_sha256(), out, &l) == 1 && l == 32 ? 0 : -1;
}

static uint8_t alg_for(EVP_PKEY *pk)
{
    if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA)
        return FM_SIG_RSA_PSS_SHA256;
    return EVP_PKEY_get_bits(pk) == 384 ? FM_SIG_ECDSA_SHA384 : FM_SIG_ECDSA_SHA256;
}

/* ---- signing with a PEM key (development) ---- */

static int sign_pem(const char *path, uint8_t alg, const uint8_t *msg, size_t n, uint8_t *sig,
                    size_t *sig_len)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *pk = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!pk)
        return p11app_fail("cannot read the private key in %s", path);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = md && EVP_DigestSignInit(md, &pctx, alg == FM_SIG_ECDSA_SHA384 ? EVP_sha384()
                                                                            : EVP_sha256(),
                                      NULL, pk) == 1;
    if (ok && alg == FM_SIG_RSA_PSS_SHA256)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) == 1;
    ok = ok && EVP_DigestSign(md, sig, sig_len, msg, n) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    return ok ? 0 : p11app_fail("signing with %s failed", path);
}

/* ---- signing through PKCS#11 (the key stays in the token) ---- */

typedef struct keyspec {
    char token[33];
    char pin[256];
    long slot;          /* -1: by token label */
    char label[128];
} keyspec_t;

static int parse_keyspec(const char *k, keyspec_t *ks)
{
    memset(ks, 0, sizeof *ks);
    ks->slot = -1;
    const char *slash = strrchr(k, '/');
    if (!slash || !slash[1] || slash == k || strlen(slash + 1) >= sizeof ks->label)
        return -1;
    snprintf(ks->label, sizeof ks->label, "%s", slash + 1);
    char head[300];
    size_t hn = (size_t)(slash - k);
    if (hn >= sizeof head)
        return -1;
    memcpy(head, k, hn);
    head[hn] = '\0';
    char *open = strchr(head, '(');
    if (open) {
        char *close = strrchr(open, ')');
        if (!close || close[1])
            return -1;
        *close = '\0';
        snprintf(ks->pin, sizeof ks->pin, "%s", open + 1);
        *open = '\0';
    }
    if (!strncmp(head, "SLOTID=", 7)) {
        char *end;
        ks->slot = strtol(head + 7, &end, 0);
        return *end || ks->slot < 0 ? -1 : 0;
    }
    size_t tl = strlen(head);
    if (!tl || tl >= sizeof ks->token)
        return -1;
    memcpy(ks->token, head, tl + 1);
    return 0;
}

static int sign_p11(const char *module, const keyspec_t *ks, const char *pin, uint8_t *alg,
                    const uint8_t *msg, size_t n, uint8_t *sig, size_t *sig_len)
{
    p11app_t p;
    if (p11app_open(&p, module))
        return 1;
    int rc = 1;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    if (p11app_slot(&p, ks->slot, ks->token, &slot))
        goto out;
    CK_RV rv = p.f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv == CKR_OK)
        rv = p.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        p11app_fail("cannot log in to the token: %s", ckr_name(rv));
        goto out;
    }
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE q[] = { { CKA_CLASS, &cls, sizeof cls },
                         { CKA_LABEL, (void *)ks->label, strlen(ks->label) } };
    CK_OBJECT_HANDLE key[2];
    CK_ULONG found = 0;
    if (p.f->C_FindObjectsInit(s, q, 2) != CKR_OK || p.f->C_FindObjects(s, key, 2, &found) != CKR_OK ||
        p.f->C_FindObjectsFinal(s) != CKR_OK || found != 1) {
        p11app_fail(found > 1 ? "more than one private key is labelled %s in the token"
                      : "no private key labelled %s in the token",
            ks->label);
        goto out;
    }
    CK_KEY_TYPE kt;
    CK_BYTE params[32];
    CK_ATTRIBUTE a[] = { { CKA_KEY_TYPE, &kt, sizeof kt }, { CKA_EC_PARAMS, params, sizeof params } };
    if (p.f->C_GetAttributeValue(s, key[0], a, 1) != CKR_OK) {
        p11app_fail("cannot read the key's type");
        goto out;
    }
    CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
    CK_MECHANISM m = { CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof pss };
    *alg = FM_SIG_RSA_PSS_SHA256;
    if (kt == CKK_EC) {
        static const CK_BYTE p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
        bool is384 = p.f->C_GetAttributeValue(s, key[0], a + 1, 1) == CKR_OK &&
                     a[1].ulValueLen == sizeof p384 && !memcmp(params, p384, sizeof p384);
        m = (CK_MECHANISM){ is384 ? CKM_ECDSA_SHA384 : CKM_ECDSA_SHA256, NULL, 0 };
        *alg = is384 ? FM_SIG_ECDSA_SHA384 : FM_SIG_ECDSA_SHA256;
    } else if (kt != CKK_RSA) {
        p11app_fail("the key is neither RSA nor EC");
        goto out;
    }
    CK_BYTE raw[512];
    CK_ULONG rl = sizeof raw;
    if ((rv = p.f->C_SignInit(s, &m, key[0])) != CKR_OK ||
        (rv = p.f->C_Sign(s, (CK_BYTE_PTR)msg, n, raw, &rl)) != CKR_OK) {
        p11app_fail("the token would not sign: %s", ckr_name(rv));
        goto out;
    }
    if (kt == CKK_RSA) {
        memcpy(sig, raw, rl);
        *sig_len = rl;
    } else if (p11app_ecdsa_der(raw, rl, sig, sig_len)) { /* r || s from the token */
        p11app_fail("cannot encode the signature");
        goto out;
    }
    rc = 0;
out:
    if (s != CK_INVALID_HANDLE)
        p.f->C_CloseSession(s);
    p11app_close(&p);
    return rc;
}

static void print_info(const fm_signed_t *s)
{
    char when[32] = "-";
    time_t t = (time_t)s->build_time;
    struct tm tm;
    if (t && gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("name:         %s\n", s->name);
    printf("number:       0x%04x\n", s->number);
    printf("version:      %u.%u\n", s->version_major, s->version_minor);
    printf("manufacturer: %s\n", s->manufacturer);
    printf("build:        %s\n", s->build_type == FM_BUILD_RELEASE ? "RELEASE" : "DEBUG");
    printf("architecture: %s\n", s->arch);
    printf("built:        %s\n", when);
    printf("signature:    %s\n", s->sig_alg == FM_SIG_RSA_PSS_SHA256 ? "RSA-PSS SHA-256"
                                 : s->sig_alg == FM_SIG_ECDSA_SHA384 ? "ECDSA SHA-384"
                                                                    : "ECDSA SHA-256");
    printf("signer cert:  sha256:");
    for (int i = 0; i < 32; i++)
        printf("%02x", s->cert_sha256[i]);
    printf("\n");
}

static int verify(const char *file, const char *cert_path, bool info_only)
{
    size_t n;
    uint8_t *img = p11app_read_file(file, MAX_FILE, &n, NULL);
    if (!img)
        return p11app_fail("cannot read %s", file);
    fm_signed_t s;
    char why[200];
    int rc = 1;
    if (fm_signed_parse(img, n, &s, why, sizeof why)) {
        p11app_fail("%s: %s", file, why);
        goto out;
    }
    fm_image_info_t info;
    uint16_t machine = 0;
    if (fm_arch_machine(s.arch, &machine) ||
        fm_image_check_for(s.elf, s.elf_len, machine, &info, why, sizeof why)) {
        p11app_fail("%s: the FM inside: %s", file, why);
        goto out;
    }
    if (info_only) {
        print_info(&s);
        rc = 0;
        goto out;
    }
    X509 *x = p11app_read_cert(cert_path);
    uint8_t *der = NULL;
    int dl = x ? i2d_X509(x, &der) : -1;
    X509_free(x);
    if (dl <= 0) {
        p11app_fail("cannot read the certificate %s", cert_path);
        goto out;
    }
    if (fm_signed_check(img, n, der, (size_t)dl, (uint64_t)time(NULL), &s, why, sizeof why)) {
        p11app_fail("%s: %s", file, why);
    } else {
        printf("%s: the signature verifies (%s %u.%u, %s)\n", file, s.name, s.version_major,
               s.version_minor, s.build_type == FM_BUILD_RELEASE ? "RELEASE" : "DEBUG");
        rc = 0;
    }
    OPENSSL_free(der);
out:
    free(img);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mkfm -f FM.so -o FM.bin -k KEY -c CERT [--release] [-p PIN | --pin-file F]"
               " [--module LIB]\n"
               "            [--target-arch x86_64|aarch64]\n"
               "       mkfm --verify -f FM.bin -c CERT\n"
               "       mkfm --info -f FM.bin\n"
               "KEY: TOKENLABEL/KEYLABEL, TOKENLABEL(PIN)/KEYLABEL, SLOTID=n/KEYLABEL, or a PEM file"
               " (development)\n");
}

int main(int argc, char **argv)
{
    p11app_prog = "mkfm";
    const char *in = NULL, *out = NULL, *key = NULL, *cert = NULL, *pin_arg = NULL,
               *pin_file = NULL, *module = NULL, *arch = fm_host_arch();
    bool release = false, do_verify = false, do_info = false;
    static const struct option opts[] = {
        { "file", required_argument, NULL, 'f' },    { "output", required_argument, NULL, 'o' },
        { "key", required_argument, NULL, 'k' },     { "cert", required_argument, NULL, 'c' },
        { "pin", required_argument, NULL, 'p' },     { "pin-file", required_argument, NULL, 'P' },
        { "module", required_argument, NULL, 'm' },  { "release", no_argument, NULL, 'R' },
        { "debug", no_argument, NULL, 'D' },         { "verify", no_argument, NULL, 'V' },
        { "info", no_argument, NULL, 'I' },          { "show-info", no_argument, NULL, 'I' },
        { "target-arch", required_argument, NULL, 'A' },
        { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "f:o:k:c:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': in = optarg; break;
        case 'o': out = optarg; break;
        case 'k': key = optarg; break;
        case 'c': cert = optarg; break;
        case 'p': pin_arg = optarg; break;
        case 'P': pin_file = optarg; break;
        case 'm': module = optarg; break;
        case 'R': release = true; break;
        case 'D': release = false; break;
        case 'V': do_verify = true; break;
        case 'I': do_info = true; break;
        case 'A': arch = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (do_info && in)
        return verify(in, NULL, true);
    if (do_verify && in && cert)
        return verify(in, cert, false);
    if (!in || !out || !key || !cert || do_info || do_verify) {
        usage(stderr);
        return 2;
    }
    size_t n;
    uint8_t *elf = p11app_read_file(in, MAX_FILE, &n, NULL);
    if (!elf)
        return p11app_fail("cannot read %s", in);
    fm_image_info_t info;
    char why[200];
    uint16_t machine;
    if (fm_arch_machine(arch, &machine)) {
        free(elf);
        return p11app_fail("--target-arch is x86_64 or aarch64, not %s", arch);
    }
    if (fm_image_check_for(elf, n, machine, &info, why, sizeof why)) {
        free(elf);
        return p11app_fail("%s: %s%s", in, why, strcmp(arch, fm_host_arch()) ? "" : " (for another "
                                         "machine's HSM, give --target-arch)");
    }
    X509 *x = p11app_read_cert(cert);
    fm_signed_t s;
    memset(&s, 0, sizeof s);
    if (!x || cert_sha256(x, s.cert_sha256)) {
        free(elf);
        X509_free(x);
        return p11app_fail("cannot read the certificate %s", cert);
    }
    snprintf(s.name, sizeof s.name, "%s", info.name);
    snprintf(s.manufacturer, sizeof s.manufacturer, "%s", info.manufacturer);
    s.version_major = info.version_major;
    s.version_minor = info.version_minor;
    s.number = info.number;
    s.build_type = release ? FM_BUILD_RELEASE : FM_BUILD_DEBUG;
    snprintf(s.arch, sizeof s.arch, "%s", arch);
    s.build_time = info.build_time ? info.build_time : (uint64_t)time(NULL);
    s.elf = elf;
    s.elf_len = n;
    EVP_PKEY *cert_key = X509_get0_pubkey(x);
    s.sig_alg = alg_for(cert_key);
    if (fm_signed_check_key(s.sig_alg, cert_key, why, sizeof why)) {
        free(elf);
        X509_free(x);
        return p11app_fail("%s", why);
    }
    wbuf_t w;
    wb_init(&w);
    uint8_t sig[1024];
    size_t sig_len = sizeof sig;
    int rc = 1;
    if (fm_signed_header(&w, &s)) {
        p11app_fail("the image is too large");
        goto out;
    }
    size_t body_len;
    const uint8_t *body = wb_payload(&w, &body_len);
    keyspec_t ks;
    if (access(key, R_OK) == 0) { /* a key file: development only */
        if (sign_pem(key, s.sig_alg, body, body_len, sig, &sig_len))
            goto out;
    } else {
        if (parse_keyspec(key, &ks)) {
            p11app_fail("KEY is TOKENLABEL/KEYLABEL, TOKENLABEL(PIN)/KEYLABEL, SLOTID=n/KEYLABEL or a PEM "
                "file");
            goto out;
        }
        char pin[256];
        if (ks.pin[0])
            snprintf(pin, sizeof pin, "%s", ks.pin);
        else if (pin_arg)
            snprintf(pin, sizeof pin, "%s", pin_arg);
        else if (p11app_pin(pin_file, "MKFM_PIN", "Token PIN: ", pin, sizeof pin))
            goto out;
        uint8_t used = 0;
        int r = sign_p11(module, &ks, pin, &used, body, body_len, sig, &sig_len);
        secure_zero(pin, sizeof pin);
        if (r)
            goto out;
        if (used != s.sig_alg) {
            p11app_fail("the token's key is not the certificate's key");
            goto out;
        }
    }
    /* The result must verify with the certificate it names. */
    wb_bytes(&w, sig, sig_len);
    size_t total;
    const uint8_t *img = wb_payload(&w, &total);
    if (total > FM_SIGNED_MAX) {
        p11app_fail("the signed image would have %zu bytes; an FM image may have %u", total,
            FM_SIGNED_MAX);
        goto out;
    }
    fm_signed_t check;
    if (fm_signed_parse(img, total, &check, why, sizeof why) ||
        fm_signed_verify(&check, cert_key, why, sizeof why)) {
        p11app_fail("the signature does not verify with %s: is it the key's certificate?", cert);
        goto out;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", out, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(img, 1, total, f) != total || fclose(f) || rename(tmp, out)) {
        if (f)
            unlink(tmp);
        p11app_fail("cannot write %s: %s", out, strerror(errno));
        goto out;
    }
    printf("%s: %s %u.%u (0x%04x), %s, signed\n", out, s.name, s.version_major, s.version_minor,
           s.number, release ? "RELEASE" : "DEBUG");
    rc = 0;
out:
    wb_free(&w);
    free(elf);
    X509_free(x);
    return rc;
}
