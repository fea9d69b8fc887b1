/*
 * ctfm: load, query, delete and verify FMs, with the vendor tool's commands
 * and options.
 *
 *   ctfm i -f FM.bin [-c CERT | -l CERTLABEL] [-p PASSWORD]   load
 *   ctfm q [-i FMID]                                          query
 *   ctfm d -i FMID [-p PASSWORD]                              delete
 *   ctfm v -f FM.bin -c CERT | -l CERTLABEL                   verify a file
 *
 * Loading and deleting take the HSM SO PIN: -p, --so-pin-file, the
 * SOFTFM_SO_PIN variable or a no-echo prompt. The HSM checks the image's
 * signature against the certificate in the Admin Token that the image names;
 * -c or -l names the certificate the SO expects, and an image signed by any
 * other is refused. -a (device) and -s (admin slot) are accepted for the
 * vendor's scripts; softfm has device 0 and its Admin Token in slot 0.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "fm.h"
#include "p11app.h"
#include "tool.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ctfm [OPTIONS] COMMAND\n"
            "commands:\n"
            "  i   load (install) a signed FM image: -f FILE [-c CERTFILE | -l CERTLABEL]\n"
            "  q   query the loaded FMs [-i FMID]\n"
            "  d   delete an FM: -i FMID\n"
            "  v   verify an image file: -f FILE -c CERTFILE | -l CERTLABEL\n"
            "options:\n"
            "  -f, --fm-file=FILE          the signed FM image\n"
            "  -c, --fm-cert-file=FILE     the signer's certificate (PEM or DER)\n"
            "  -l, --fm-cert-label=LABEL   the signer's certificate in the Admin Token\n"
            "  -i, --fmid=FMID             an FM number (decimal or 0x...)\n"
            "  -p, --password=PIN          the HSM SO PIN (else --so-pin-file, SOFTFM_SO_PIN,\n"
            "                              or a prompt)\n"
            "      --so-pin-file=FILE      read the HSM SO PIN from FILE\n"
            "  -a, --device-number=N       the HSM (0)\n"
            "  -s, --admin-slot=N          the Admin Token's slot (0)\n"
            "      --socket=PATH           softfmd's socket\n");
}

/* The DER of the Admin Token's certificate with that label, read through
   PKCS#11 (certificates are public objects). */
static int admin_cert_by_label(tool_t *t, const char *label, uint8_t **der, size_t *len)
{
    CK_RV rv = p11_ready(t);
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    if (rv == CKR_OK)
        rv = C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv)
        return fail("reading the Admin Token", rv);
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof cls },
                            { CKA_LABEL, (void *)label, strlen(label) } };
    CK_OBJECT_HANDLE o[2];
    CK_ULONG n = 0;
    rv = C_FindObjectsInit(s, tmpl, 2);
    if (rv == CKR_OK) {
        rv = C_FindObjects(s, o, 2, &n);
        C_FindObjectsFinal(s);
    }
    int rc = 1;
    if (rv)
        fail("reading the Admin Token", rv);
    else if (n != 1)
        fail_msg(n ? "the Admin Token has more than one certificate labelled %s"
                   : "the Admin Token has no certificate labelled %s",
                 label);
    else {
        CK_ATTRIBUTE v = { CKA_VALUE, NULL, 0 };
        if (C_GetAttributeValue(s, o[0], &v, 1) == CKR_OK && (v.pValue = malloc(v.ulValueLen)) &&
            C_GetAttributeValue(s, o[0], &v, 1) == CKR_OK) {
            *der = v.pValue;
            *len = v.ulValueLen;
            rc = 0;
        } else {
            free(v.pValue);
            fail_msg("cannot read the certificate labelled %s", label);
        }
    }
    C_CloseSession(s);
    return rc;
}

static int cert_file_der(const char *path, uint8_t **der, size_t *len)
{
    X509 *x = p11app_read_cert(path);
    uint8_t *out = NULL;
    int l = x ? i2d_X509(x, &out) : -1;
    X509_free(x);
    if (l <= 0)
        return fail_msg("%s is not an X.509 certificate (PEM or DER)", path);
    *der = out; /* OPENSSL_malloc'ed: freed with OPENSSL_free */
    *len = (size_t)l;
    return 0;
}

static int verify_file(tool_t *t, const char *file, const char *cert, const char *label)
{
    uint8_t *der = NULL;
    size_t dl = 0;
    if (cert ? cert_file_der(cert, &der, &dl) : admin_cert_by_label(t, label, &der, &dl))
        return 1;
    size_t n;
    uint8_t *img = p11app_read_file(file, FM_SIGNED_MAX, &n, NULL);
    if (!img) {
        cert ? OPENSSL_free(der) : free(der);
        return fail_msg("cannot read %s (or it is larger than an FM image may be, %u bytes)", file,
                        FM_SIGNED_MAX);
    }
    fm_signed_t s;
    char why[200];
    int rc = 0;
    if (fm_signed_check(img, n, der, dl, (uint64_t)time(NULL), &s, why, sizeof why))
        rc = fail_msg("%s does not verify: %s", file, why);
    else
        printf("%s verifies: FM %s %u.%u, id 0x%04x, %s, signed by %s\n", file, s.name,
               s.version_major, s.version_minor, s.number,
               s.build_type == FM_BUILD_RELEASE ? "RELEASE" : "DEBUG", cert ? cert : label);
    free(img);
    cert ? OPENSSL_free(der) : free(der);
    return rc;
}

static long parse_fmid(const char *s)
{
    char *end;
    unsigned long v = strtoul(s, &end, 0);
    return (*s && !*end && v <= 0xFFFF) ? (long)v : -1;
}

int main(int argc, char **argv)
{
    tool_t t = { 0 };
    p11app_prog = "ctfm";
    static const struct option opts[] = {
        { "fm-file", required_argument, NULL, 'f' },
        { "fm-cert-file", required_argument, NULL, 'c' },
        { "fm-cert-label", required_argument, NULL, 'l' },
        { "fmid", required_argument, NULL, 'i' },
        { "password", required_argument, NULL, 'p' },
        { "device-number", required_argument, NULL, 'a' },
        { "admin-slot", required_argument, NULL, 's' },
        { "so-pin-file", required_argument, NULL, 'P' },
        { "socket", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *file = NULL, *cert = NULL, *label = NULL, *fmid = NULL;
    client_socket_path(t.socket, sizeof t.socket);
    int c;
    while ((c = getopt_long(argc, argv, "f:c:l:i:p:a:s:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'f': file = optarg; break;
        case 'c': cert = optarg; break;
        case 'l': label = optarg; break;
        case 'i': fmid = optarg; break;
        case 'p': t.so_pin = optarg; break;
        case 'P': t.so_pin_file = optarg; break;
        case 'S': snprintf(t.socket, sizeof t.socket, "%s", optarg); break;
        case 'a':
            if (strcmp(optarg, "0"))
                return fail_msg("there is no HSM %s (softfm has device 0)", optarg), 2;
            break;
        case 's':
            if (strcmp(optarg, "0"))
                return fail_msg("the Admin Token is in slot 0, not %s", optarg), 2;
            break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("ctfm (softfm) %s\n", SOFTFM_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    long id = fmid ? parse_fmid(fmid) : -1;
    if (fmid && id < 0)
        return fail_msg("bad FM id %s (a number up to 0xFFFF)", fmid), 2;
    if (cert && label)
        return fail_msg("give -c or -l, not both"), 2;
    int rc;
    if (!strcmp(cmd, "i") || !strcmp(cmd, "load")) {
        if (!file)
            return fail_msg("i: give the image with -f FILE"), 2;
        fm_load_opts_t o = { .cert_file = cert, .cert_label = label };
        rc = fm_cmd_load(&t, file, &o);
    } else if (!strcmp(cmd, "q") || !strcmp(cmd, "query")) {
        rc = fm_cmd_status(&t, id);
    } else if (!strcmp(cmd, "d") || !strcmp(cmd, "delete")) {
        if (!fmid)
            return fail_msg("d: give the FM with -i FMID"), 2;
        char key[16];
        snprintf(key, sizeof key, "0x%04lx", (unsigned long)id);
        rc = fm_cmd_delete(&t, key);
    } else if (!strcmp(cmd, "v") || !strcmp(cmd, "verify")) {
        if (!file || (!cert && !label))
            return fail_msg("v: give -f FILE and -c CERTFILE or -l CERTLABEL"), 2;
        rc = verify_file(&t, file, cert, label);
    } else {
        fail_msg("unknown command '%s'", cmd);
        usage(stderr);
        return 2;
    }
    if (t.p11_ready)
        C_Finalize(NULL);
    client_free(t.client);
    return rc;
}
