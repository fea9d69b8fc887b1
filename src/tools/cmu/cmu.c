/*
 * cmu: the certificate management utility, a PKCS#11 application. It makes
 * signing keys in a token, self-signed certificates for them, and moves
 * certificates in and out of tokens (the Admin Token among them). Private
 * keys never leave the token.
 *
 *   cmu generatekeypair -keyType=RSA|EC [-modulusBits=N | -curve=P-256|P-384] -label=L
 *   cmu selfsign -label=L | -handle=N -CN=NAME [-O= -OU= -C= ...] [-startDate=YYYYMMDD]
 *                [-endDate=YYYYMMDD | -days=N] [-certLabel=L] [-outputFile=F]
 *   cmu export -label=L | -handle=N -outputFile=F [-format=pem|der]
 *   cmu import -inputFile=F -label=L
 *   cmu list
 *   cmu delete -label=L | -handle=N [-force]
 *
 * The token: -slot=N or -token=LABEL (slot 0 is softfm's Admin Token); the
 * PIN: -password=PIN, -pinFile=F, CMU_PIN, or a prompt; -so logs in as the
 * token's SO (the HSM SO on the Admin Token). Options take one dash or two,
 * "=VALUE" or a separate argument, in any letter case.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cmu.h"
#include "common.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cmu COMMAND [OPTIONS]\n"
            "commands:\n"
            "  generatekeypair  a key pair in the token: -keyType=RSA|EC, -modulusBits=2048|3072|4096\n"
            "                   or -curve=P-256|P-384, -label=LABEL\n"
            "  selfsign         a self-signed X.509 certificate for a token key pair, kept in the\n"
            "                   token: -label=LABEL|-handle=N, -CN= (or -subject=/CN=../O=..),\n"
            "                   -O= -OU= -C= -ST= -L= -email=, -startDate=YYYYMMDD,\n"
            "                   -endDate=YYYYMMDD or -days=N (365), -serialNum=HEX,\n"
            "                   -certLabel=LABEL, -outputFile=FILE\n"
            "  export           a certificate to a file: -label=|-handle=, -outputFile=FILE,\n"
            "                   -format=pem|der\n"
            "  import           a certificate (PEM or DER) into the token: -inputFile=FILE -label=\n"
            "  list             the token's objects\n"
            "  delete           objects by -handle=N or -label=LABEL (-force for several)\n"
            "common options:\n"
            "  -slot=N | -token=LABEL   the token (slot 0: the Admin Token)\n"
            "  -password=PIN | -pinFile=FILE   the PIN (else CMU_PIN, else a prompt)\n"
            "  -so                      log in as the token's SO (the HSM SO on the Admin Token)\n"
            "  -module=LIB              the PKCS#11 module (default: softfm's)\n");
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    out[2 * n] = '\0';
}

static int unhex(const char *s, uint8_t *out, size_t cap, size_t *n)
{
    size_t l = strlen(s);
    if (l == 0 || l % 2 || l / 2 > cap)
        return -1;
    for (size_t i = 0; i < l / 2; i++) {
        unsigned v;
        if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
            sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    *n = l / 2;
    return 0;
}

int cmu_find_one(cmu_t *m, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *out)
{
    const cmu_opts_t *o = m->o;
    if (o->handle >= 0 && !o->label) {
        CK_OBJECT_CLASS got;
        CK_ATTRIBUTE a = { CKA_CLASS, &got, sizeof got };
        if (m->p.f->C_GetAttributeValue(m->s, (CK_OBJECT_HANDLE)o->handle, &a, 1) != CKR_OK)
            return p11app_fail("no object %ld in the token (or it is private: log in)",
                               o->handle);
        if (cls != CK_UNAVAILABLE_INFORMATION && got != cls)
            return p11app_fail("object %ld is not a %s", o->handle,
                               cls == CKO_CERTIFICATE ? "certificate" : "private key");
        *out = (CK_OBJECT_HANDLE)o->handle;
        return 0;
    }
    if (!o->label)
        return p11app_fail("name the object with -label=LABEL or -handle=N");
    CK_ATTRIBUTE q[] = { { CKA_LABEL, (void *)o->label, strlen(o->label) },
                         { CKA_CLASS, &cls, sizeof cls } };
    CK_OBJECT_HANDLE h[2];
    CK_ULONG n = 0;
    CK_RV rv = m->p.f->C_FindObjectsInit(m->s, q, cls == CK_UNAVAILABLE_INFORMATION ? 1 : 2);
    if (rv == CKR_OK) {
        rv = m->p.f->C_FindObjects(m->s, h, 2, &n);
        m->p.f->C_FindObjectsFinal(m->s);
    }
    if (rv)
        return p11app_fail("cannot search the token: %s", ckr_name(rv));
    const char *what = cls == CKO_CERTIFICATE ? "certificate" : cls == CKO_PRIVATE_KEY ? "private key"
                                                                                       : "object";
    if (n == 0)
        return p11app_fail("no %s labelled %s in the token%s", what, o->label,
                           cls == CKO_PRIVATE_KEY ? " (or not logged in)" : "");
    if (n > 1)
        return p11app_fail("more than one %s is labelled %s: give -handle=N (see cmu list)",
                           what, o->label);
    *out = h[0];
    return 0;
}

static int generate(cmu_t *m)
{
    const cmu_opts_t *o = m->o;
    if (!o->label || !o->key_type)
        return p11app_fail("generatekeypair: give -keyType=RSA|EC and -label=LABEL");
    bool rsa = !strcasecmp(o->key_type, "RSA");
    if (!rsa && strcasecmp(o->key_type, "EC") && strcasecmp(o->key_type, "ECDSA"))
        return p11app_fail("generatekeypair: -keyType is RSA or EC");
    CK_ULONG bits = o->modulus_bits ? o->modulus_bits : 2048;
    if (rsa && bits != 2048 && bits != 3072 && bits != 4096)
        return p11app_fail("generatekeypair: -modulusBits is 2048, 3072 or 4096");
    static const CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
    static const CK_BYTE p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
    const char *curve = o->curve ? o->curve : "P-256";
    bool is384 = !strcasecmp(curve, "P-384") || !strcasecmp(curve, "secp384r1");
    if (!rsa && !is384 && strcasecmp(curve, "P-256") && strcasecmp(curve, "prime256v1") &&
        strcasecmp(curve, "secp256r1"))
        return p11app_fail("generatekeypair: -curve is P-256 or P-384");
    uint8_t id[32];
    size_t idl = 16;
    if (o->id_hex ? unhex(o->id_hex, id, sizeof id, &idl) : RAND_bytes(id, 16) != 1)
        return p11app_fail("generatekeypair: -id is 1 to 32 bytes in hex");
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_BYTE e[] = { 0x01, 0x00, 0x01 };
    CK_BYTE eb[8];
    CK_ULONG el = sizeof e;
    if (o->public_exponent) {
        unsigned long v = o->public_exponent;
        el = 0;
        for (int i = 7; i >= 0; i--)
            if ((v >> (8 * i)) || el)
                eb[el++] = (CK_BYTE)(v >> (8 * i));
    }
    size_t ll = strlen(o->label);
    /* Signing keys only: no encryption, wrapping or derivation. */
    CK_ATTRIBUTE pub[] = {
        { CKA_TOKEN, &yes, sizeof yes },     { CKA_VERIFY, &yes, sizeof yes },
        { CKA_ENCRYPT, &no, sizeof no },     { CKA_WRAP, &no, sizeof no },
        { CKA_LABEL, (void *)o->label, ll }, { CKA_ID, id, idl },
        { CKA_MODULUS_BITS, &bits, sizeof bits },
        { CKA_PUBLIC_EXPONENT, o->public_exponent ? eb : e, el },
    };
    CK_ATTRIBUTE ecpub[] = {
        { CKA_TOKEN, &yes, sizeof yes },     { CKA_VERIFY, &yes, sizeof yes },
        { CKA_ENCRYPT, &no, sizeof no },     { CKA_WRAP, &no, sizeof no },
        { CKA_LABEL, (void *)o->label, ll }, { CKA_ID, id, idl },
        { CKA_EC_PARAMS, (void *)(is384 ? p384 : p256), is384 ? sizeof p384 : sizeof p256 },
    };
    CK_ATTRIBUTE priv[] = {
        { CKA_TOKEN, &yes, sizeof yes },       { CKA_PRIVATE, &yes, sizeof yes },
        { CKA_SENSITIVE, &yes, sizeof yes },   { CKA_EXTRACTABLE, &no, sizeof no },
        { CKA_SIGN, &yes, sizeof yes },        { CKA_DECRYPT, &no, sizeof no },
        { CKA_UNWRAP, &no, sizeof no },        { CKA_DERIVE, &no, sizeof no },
        { CKA_LABEL, (void *)o->label, ll },   { CKA_ID, id, idl },
    };
    CK_MECHANISM mech = { rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    CK_OBJECT_HANDLE hpub, hpriv;
    CK_RV rv = m->p.f->C_GenerateKeyPair(m->s, &mech, rsa ? pub : ecpub,
                                         rsa ? 8 : 7, priv, 10, &hpub, &hpriv);
    if (rv)
        return p11app_fail("generatekeypair: %s", ckr_name(rv));
    char idh[65];
    hex(id, idl, idh);
    printf("generated %s key pair \"%s\": public key handle %lu, private key handle %lu, id %s\n",
           rsa ? "RSA" : is384 ? "EC P-384" : "EC P-256", o->label, (unsigned long)hpub,
           (unsigned long)hpriv, idh);
    return 0;
}

static const char *class_name(CK_OBJECT_CLASS c)
{
    switch (c) {
    case CKO_DATA: return "data";
    case CKO_CERTIFICATE: return "certificate";
    case CKO_PUBLIC_KEY: return "public key";
    case CKO_PRIVATE_KEY: return "private key";
    case CKO_SECRET_KEY: return "secret key";
    default: return "other";
    }
}

static int list(cmu_t *m)
{
    CK_OBJECT_HANDLE h[64];
    CK_ULONG n = 0, total = 0;
    CK_RV rv = m->p.f->C_FindObjectsInit(m->s, NULL, 0);
    if (rv)
        return p11app_fail("list: %s", ckr_name(rv));
    printf("%-8s %-12s %-32s %s\n", "HANDLE", "CLASS", "LABEL", "ID");
    while ((rv = m->p.f->C_FindObjects(m->s, h, 64, &n)) == CKR_OK && n) {
        for (CK_ULONG i = 0; i < n; i++) {
            CK_OBJECT_CLASS c = 0;
            char label[129] = "", id[65] = "";
            uint8_t idb[32];
            CK_ATTRIBUTE a[] = { { CKA_CLASS, &c, sizeof c },
                                 { CKA_LABEL, label, sizeof label - 1 },
                                 { CKA_ID, idb, sizeof idb } };
            m->p.f->C_GetAttributeValue(m->s, h[i], a, 3);
            if (a[1].ulValueLen < sizeof label)
                label[a[1].ulValueLen] = '\0';
            else
                label[0] = '\0';
            if (a[2].ulValueLen <= sizeof idb)
                hex(idb, a[2].ulValueLen, id);
            printf("%-8lu %-12s %-32s %s\n", (unsigned long)h[i], class_name(c), label, id);
            total++;
        }
    }
    m->p.f->C_FindObjectsFinal(m->s);
    if (rv)
        return p11app_fail("list: %s", ckr_name(rv));
    if (!total)
        printf("(no objects%s)\n", m->o->password || m->o->pin_file ? "" : " visible: log in "
                                                                           "with -password "
                                                                           "to see private ones");
    return 0;
}

static int delete_objects(cmu_t *m)
{
    const cmu_opts_t *o = m->o;
    CK_OBJECT_HANDLE h[16];
    CK_ULONG n = 0;
    if (o->handle >= 0 && !o->label) {
        h[0] = (CK_OBJECT_HANDLE)o->handle;
        n = 1;
    } else if (o->label) {
        CK_ATTRIBUTE q = { CKA_LABEL, (void *)o->label, strlen(o->label) };
        CK_RV rv = m->p.f->C_FindObjectsInit(m->s, &q, 1);
        if (rv == CKR_OK) {
            rv = m->p.f->C_FindObjects(m->s, h, 16, &n);
            m->p.f->C_FindObjectsFinal(m->s);
        }
        if (rv)
            return p11app_fail("delete: %s", ckr_name(rv));
        if (!n)
            return p11app_fail("delete: nothing labelled %s in the token", o->label);
        if (n > 1 && !o->force)
            return p11app_fail("delete: %lu objects are labelled %s; give -force to delete all "
                               "of them, or -handle=N", (unsigned long)n, o->label);
    } else {
        return p11app_fail("delete: give -handle=N or -label=LABEL");
    }
    for (CK_ULONG i = 0; i < n; i++) {
        CK_RV rv = m->p.f->C_DestroyObject(m->s, h[i]);
        if (rv)
            return p11app_fail("delete: object %lu: %s%s", (unsigned long)h[i], ckr_name(rv),
                               rv == CKR_USER_NOT_LOGGED_IN ? " (the Admin Token's objects are "
                                                              "the HSM SO's: give -so)"
                                                            : "");
        printf("deleted object %lu\n", (unsigned long)h[i]);
    }
    return 0;
}

/* Option names in lower case, so that -keyType and -keytype are one. */
static void lower_names(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        if (argv[i][0] != '-')
            continue;
        for (char *p = argv[i] + 1; *p && *p != '='; p++)
            *p = (char)tolower((unsigned char)*p);
    }
}

enum {
    O_SLOT = 256, O_TOKEN, O_PASSWORD, O_PINFILE, O_SO, O_MODULE, O_HANDLE, O_LABEL, O_ID,
    O_KEYTYPE, O_BITS, O_EXP, O_CURVE, O_SUBJECT, O_CN, O_O, O_OU, O_C, O_ST, O_L, O_EMAIL,
    O_START, O_END, O_DAYS, O_SERIAL, O_CERTLABEL, O_IN, O_OUT, O_FORMAT, O_FORCE, O_HELP,
};

int main(int argc, char **argv)
{
    p11app_prog = "cmu";
    cmu_opts_t o = { .slot = -1, .handle = -1 };
    static const struct option opts[] = {
        { "slot", required_argument, NULL, O_SLOT },
        { "token", required_argument, NULL, O_TOKEN },
        { "password", required_argument, NULL, O_PASSWORD },
        { "pinfile", required_argument, NULL, O_PINFILE },
        { "pin-file", required_argument, NULL, O_PINFILE },
        { "so", no_argument, NULL, O_SO },
        { "module", required_argument, NULL, O_MODULE },
        { "handle", required_argument, NULL, O_HANDLE },
        { "label", required_argument, NULL, O_LABEL },
        { "id", required_argument, NULL, O_ID },
        { "keytype", required_argument, NULL, O_KEYTYPE },
        { "modulusbits", required_argument, NULL, O_BITS },
        { "publicexponent", required_argument, NULL, O_EXP },
        { "curve", required_argument, NULL, O_CURVE },
        { "curvetype", required_argument, NULL, O_CURVE },
        { "subject", required_argument, NULL, O_SUBJECT },
        { "cn", required_argument, NULL, O_CN },
        { "o", required_argument, NULL, O_O },
        { "ou", required_argument, NULL, O_OU },
        { "c", required_argument, NULL, O_C },
        { "st", required_argument, NULL, O_ST },
        { "l", required_argument, NULL, O_L },
        { "email", required_argument, NULL, O_EMAIL },
        { "startdate", required_argument, NULL, O_START },
        { "enddate", required_argument, NULL, O_END },
        { "days", required_argument, NULL, O_DAYS },
        { "serialnum", required_argument, NULL, O_SERIAL },
        { "certlabel", required_argument, NULL, O_CERTLABEL },
        { "inputfile", required_argument, NULL, O_IN },
        { "outputfile", required_argument, NULL, O_OUT },
        { "format", required_argument, NULL, O_FORMAT },
        { "force", no_argument, NULL, O_FORCE },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    lower_names(argc, argv);
    int c;
    char *end;
    optind = 2;
    while ((c = getopt_long_only(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_SLOT: o.slot = strtol(optarg, &end, 0); if (*end || o.slot < 0) goto bad; break;
        case O_TOKEN: o.token = optarg; break;
        case O_PASSWORD: o.password = optarg; break;
        case O_PINFILE: o.pin_file = optarg; break;
        case O_SO: o.so = true; break;
        case O_MODULE: o.module = optarg; break;
        case O_HANDLE: o.handle = strtol(optarg, &end, 0); if (*end || o.handle < 0) goto bad; break;
        case O_LABEL: o.label = optarg; break;
        case O_ID: o.id_hex = optarg; break;
        case O_KEYTYPE: o.key_type = optarg; break;
        case O_BITS: o.modulus_bits = strtoul(optarg, &end, 0); if (*end) goto bad; break;
        case O_EXP: o.public_exponent = strtoul(optarg, &end, 0); if (*end || !(o.public_exponent & 1) || o.public_exponent < 3) goto bad; break;
        case O_CURVE: o.curve = optarg; break;
        case O_SUBJECT: o.subject = optarg; break;
        case O_CN: o.cn = optarg; break;
        case O_O: o.o = optarg; break;
        case O_OU: o.ou = optarg; break;
        case O_C: o.c = optarg; break;
        case O_ST: o.st = optarg; break;
        case O_L: o.l = optarg; break;
        case O_EMAIL: o.email = optarg; break;
        case O_START: o.start_date = optarg; break;
        case O_END: o.end_date = optarg; break;
        case O_DAYS: o.days = strtol(optarg, &end, 10); if (*end || o.days <= 0 || o.days > 36500) goto bad; break;
        case O_SERIAL: o.serial_hex = optarg; break;
        case O_CERTLABEL: o.cert_label = optarg; break;
        case O_IN: o.in_file = optarg; break;
        case O_OUT: o.out_file = optarg; break;
        case O_FORMAT: o.format = optarg; break;
        case O_FORCE: o.force = true; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        p11app_fail("unexpected argument '%s'", argv[optind]);
        return 2;
    }
    int (*run)(cmu_t *) = !strcasecmp(cmd, "generatekeypair") || !strcasecmp(cmd, "gen") ? generate
                          : !strcasecmp(cmd, "selfsign")                              ? cmu_selfsign
                          : !strcasecmp(cmd, "export")                                ? cmu_export
                          : !strcasecmp(cmd, "import")                                ? cmu_import
                          : !strcasecmp(cmd, "list")                                  ? list
                          : !strcasecmp(cmd, "delete")                                ? delete_objects
                                                                                      : NULL;
    if (!run) {
        p11app_fail("unknown command '%s'", cmd);
        usage(stderr);
        return 2;
    }
    if (o.slot < 0 && !o.token) {
        p11app_fail("name the token with -slot=N or -token=LABEL");
        return 2;
    }
    cmu_t m = { .s = CK_INVALID_HANDLE, .o = &o };
    if (p11app_open(&m.p, o.module))
        return 1;
    int rc = 1;
    CK_SLOT_ID slot;
    char pin[256] = "";
    bool login = o.password || o.pin_file || o.so || (run != list && run != cmu_export);
    if (p11app_slot(&m.p, o.slot, o.token, &slot))
        goto out;
    CK_RV rv = m.p.f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &m.s);
    if (rv) {
        p11app_fail("cannot open a session: %s", ckr_name(rv));
        goto out;
    }
    if (login) {
        if (o.password)
            snprintf(pin, sizeof pin, "%s", o.password);
        else if (p11app_pin(o.pin_file, "CMU_PIN", o.so ? "SO PIN: " : "Token PIN: ", pin,
                            sizeof pin))
            goto out;
        rv = m.p.f->C_Login(m.s, o.so ? CKU_SO : CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
        secure_zero(pin, sizeof pin);
        if (rv && rv != CKR_USER_ALREADY_LOGGED_IN) {
            p11app_fail("cannot log in%s: %s", o.so ? " as SO" : "", ckr_name(rv));
            goto out;
        }
    }
    rc = run(&m);
out:
    if (m.s != CK_INVALID_HANDLE)
        m.p.f->C_CloseSession(m.s);
    p11app_close(&m.p);
    return rc;
bad:
    p11app_fail("bad value '%s' for an option", optarg);
    return 2;
}
