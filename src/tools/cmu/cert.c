/*
 * cmu's certificates: a self-signed X.509 certificate for a token key pair
 * (OpenSSL builds the to-be-signed part, the token signs it), export to a
 * file, import from one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cmu.h"
#include "common.h"

#define CERT_MAX (64u * 1024u)

static int add_name(X509_NAME *n, const char *field, const char *v)
{
    return !v || X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8, (const uint8_t *)v, -1, -1,
                                            0) == 1
               ? 0
               : -1;
}

static X509_NAME *subject_of(const cmu_opts_t *o)
{
    X509_NAME *n = NULL;
    if (o->subject) {
        n = X509_NAME_new();
        /* "/CN=x/O=y": fields split on '/' */
        char *copy = strdup(o->subject), *save = NULL;
        bool ok = n && copy;
        for (char *f = copy ? strtok_r(copy, "/", &save) : NULL; ok && f;
             f = strtok_r(NULL, "/", &save)) {
            char *eq = strchr(f, '=');
            ok = eq && eq != f && eq[1];
            if (ok) {
                *eq = '\0';
                ok = add_name(n, f, eq + 1) == 0;
            }
        }
        free(copy);
        if (!ok || X509_NAME_entry_count(n) == 0) {
            X509_NAME_free(n);
            p11app_fail("selfsign: -subject is /FIELD=VALUE/... (e.g. /CN=fm-dev/O=Example)");
            return NULL;
        }
        return n;
    }
    if (!o->cn) {
        p11app_fail("selfsign: give the subject with -CN=NAME (and -O=, -OU=, ...) or -subject=");
        return NULL;
    }
    n = X509_NAME_new();
    if (!n || add_name(n, "C", o->c) || add_name(n, "ST", o->st) || add_name(n, "L", o->l) ||
        add_name(n, "O", o->o) || add_name(n, "OU", o->ou) || add_name(n, "CN", o->cn) ||
        add_name(n, "emailAddress", o->email)) {
        X509_NAME_free(n);
        p11app_fail("selfsign: a subject field is not valid (C is two letters)");
        return NULL;
    }
    return n;
}

/* YYYYMMDD[HHMMSS] (UTC) to seconds since 1970. */
static int parse_date(const char *s, time_t *out)
{
    struct tm tm = { 0 };
    size_t n = strlen(s);
    if ((n != 8 && n != 14) || strspn(s, "0123456789") != n)
        return -1;
    if (sscanf(s, "%4d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
        return -1;
    if (n == 14 && sscanf(s + 8, "%2d%2d%2d", &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 3)
        return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1950)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = timegm(&tm);
    return 0;
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* The public key object of a private key: the same CKA_ID, else the same
   label; the private key itself when it carries the public parts. */
static CK_OBJECT_HANDLE public_of(cmu_t *m, CK_OBJECT_HANDLE priv)
{
    uint8_t id[64];
    char label[129];
    CK_ATTRIBUTE a[] = { { CKA_ID, id, sizeof id }, { CKA_LABEL, label, sizeof label } };
    CK_OBJECT_CLASS pub = CKO_PUBLIC_KEY;
    for (int i = 0; i < 2; i++) {
        if (m->p.f->C_GetAttributeValue(m->s, priv, &a[i], 1) != CKR_OK || !a[i].ulValueLen)
            continue;
        CK_ATTRIBUTE q[] = { { CKA_CLASS, &pub, sizeof pub }, a[i] };
        CK_OBJECT_HANDLE h[2];
        CK_ULONG n = 0;
        if (m->p.f->C_FindObjectsInit(m->s, q, 2) == CKR_OK) {
            m->p.f->C_FindObjects(m->s, h, 2, &n);
            m->p.f->C_FindObjectsFinal(m->s);
        }
        if (n == 1)
            return h[0];
    }
    return priv;
}

/* Put a certificate in the token (DER), with the key's CKA_ID if given. */
static int store_cert(cmu_t *m, X509 *x, const char *label, const uint8_t *id, size_t idl,
                      CK_OBJECT_HANDLE *out)
{
    uint8_t *der = NULL, *subj = NULL, *iss = NULL, *ser = NULL;
    int dl = i2d_X509(x, &der);
    int sl = i2d_X509_NAME(X509_get_subject_name(x), &subj);
    int il = i2d_X509_NAME(X509_get_issuer_name(x), &iss);
    int nl = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &ser);
    int rc = 1;
    if (dl <= 0 || sl <= 0 || il <= 0 || nl <= 0) {
        p11app_fail("cannot encode the certificate");
        goto out;
    }
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_CERTIFICATE_TYPE ct = CKC_X_509;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {
        { CKA_CLASS, &cls, sizeof cls },      { CKA_CERTIFICATE_TYPE, &ct, sizeof ct },
        { CKA_TOKEN, &yes, sizeof yes },      { CKA_PRIVATE, &no, sizeof no },
        { CKA_LABEL, (void *)label, strlen(label) },
        { CKA_VALUE, der, (CK_ULONG)dl },     { CKA_SUBJECT, subj, (CK_ULONG)sl },
        { CKA_ISSUER, iss, (CK_ULONG)il },    { CKA_SERIAL_NUMBER, ser, (CK_ULONG)nl },
        { CKA_ID, (void *)id, idl },
    };
    CK_RV rv = m->p.f->C_CreateObject(m->s, t, idl ? 10 : 9, out);
    if (rv)
        p11app_fail("cannot put the certificate in the token: %s%s", ckr_name(rv),
                    rv == CKR_USER_NOT_LOGGED_IN ? " (the Admin Token takes certificates from "
                                                   "the HSM SO only: give -so)"
                                                 : "");
    else
        rc = 0;
out:
    OPENSSL_free(der);
    OPENSSL_free(subj);
    OPENSSL_free(iss);
    OPENSSL_free(ser);
    return rc;
}

static int write_cert(X509 *x, const char *path, bool der)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wbe");
    if (!f)
        return p11app_fail("cannot write %s", path);
    int ok = der ? i2d_X509_fp(f, x) : PEM_write_X509(f, x);
    if (fclose(f) || !ok || rename(tmp, path)) {
        remove(tmp);
        return p11app_fail("cannot write %s", path);
    }
    return 0;
}

/* The token signs the certificate's to-be-signed part. */
static int token_sign(cmu_t *m, CK_OBJECT_HANDLE key, EVP_PKEY *pk, X509 *x)
{
    bool rsa = EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA;
    int bits = EVP_PKEY_get_bits(pk);
    CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
    int nid = NID_sha256WithRSAEncryption;
    if (!rsa) {
        mech.mechanism = bits > 384 ? CKM_ECDSA_SHA512 : bits > 256 ? CKM_ECDSA_SHA384
                                                                    : CKM_ECDSA_SHA256;
        nid = bits > 384 ? NID_ecdsa_with_SHA512 : bits > 256 ? NID_ecdsa_with_SHA384
                                                              : NID_ecdsa_with_SHA256;
    }
    /* Both algorithm identifiers (in the TBS part and beside the
       signature) name what the token signs with. */
    X509_ALGOR *in_tbs = (X509_ALGOR *)X509_get0_tbs_sigalg(x);
    const X509_ALGOR *outer_c;
    const ASN1_BIT_STRING *sig_c;
    X509_get0_signature(&sig_c, &outer_c, x);
    X509_ALGOR *outer = (X509_ALGOR *)outer_c;
    ASN1_BIT_STRING *sig_bits = (ASN1_BIT_STRING *)sig_c;
    int ptype = rsa ? V_ASN1_NULL : V_ASN1_UNDEF;
    if (X509_ALGOR_set0(in_tbs, OBJ_nid2obj(nid), ptype, NULL) != 1 ||
        X509_ALGOR_set0(outer, OBJ_nid2obj(nid), ptype, NULL) != 1)
        return p11app_fail("cannot set the signature algorithm");
    uint8_t *tbs = NULL;
    int tl = i2d_re_X509_tbs(x, &tbs);
    if (tl <= 0)
        return p11app_fail("cannot encode the certificate");
    uint8_t raw[1024], der[1100];
    CK_ULONG rl = sizeof raw;
    size_t dl = 0;
    CK_RV rv = m->p.f->C_SignInit(m->s, &mech, key);
    if (rv == CKR_OK)
        rv = m->p.f->C_Sign(m->s, tbs, (CK_ULONG)tl, raw, &rl);
    OPENSSL_free(tbs);
    if (rv)
        return p11app_fail("the token would not sign: %s", ckr_name(rv));
    const uint8_t *sig = raw;
    if (!rsa) {
        if (p11app_ecdsa_der(raw, rl, der, &dl))
            return p11app_fail("cannot encode the signature");
        sig = der;
        rl = dl;
    }
    if (ASN1_BIT_STRING_set(sig_bits, (uint8_t *)sig, (int)rl) != 1)
        return p11app_fail("cannot set the signature");
    /* a whole number of bytes: no unused bits */
    sig_bits->flags &= ~(long)(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    sig_bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    return 0;
}

int cmu_selfsign(cmu_t *m)
{
    const cmu_opts_t *o = m->o;
    CK_OBJECT_HANDLE key;
    if (cmu_find_one(m, CKO_PRIVATE_KEY, &key))
        return 1;
    EVP_PKEY *pk = NULL;
    X509 *x = NULL;
    X509_NAME *name = subject_of(o);
    int rc = 1;
    time_t now = time(NULL), start = now - 60, end;
    if (!name)
        goto out;
    if (o->start_date && parse_date(o->start_date, &start)) {
        p11app_fail("selfsign: -startDate is YYYYMMDD or YYYYMMDDHHMMSS (UTC)");
        goto out;
    }
    end = start + (time_t)(o->days ? o->days : 365) * 86400;
    if (o->end_date && parse_date(o->end_date, &end)) {
        p11app_fail("selfsign: -endDate is YYYYMMDD or YYYYMMDDHHMMSS (UTC)");
        goto out;
    }
    if (end <= start) {
        p11app_fail("selfsign: the end date is not after the start date");
        goto out;
    }
    if (p11app_public_key(&m->p, m->s, public_of(m, key), &pk))
        goto out;
    uint8_t serial[20];
    size_t sl = 16;
    if (o->serial_hex) {
        BIGNUM *b = NULL;
        size_t hl = strlen(o->serial_hex);
        bool ok = hl && hl <= 40 && (size_t)BN_hex2bn(&b, o->serial_hex) == hl && !BN_is_zero(b) &&
                  BN_bn2binpad(b, serial, 20) == 20;
        BN_free(b);
        if (!ok) {
            p11app_fail("selfsign: -serialNum is 1 to 20 bytes of hex, not zero");
            goto out;
        }
        sl = 20;
    } else if (RAND_bytes(serial, (int)sl) != 1) {
        goto out;
    } else {
        serial[0] &= 0x7f; /* a positive INTEGER of 16 bytes */
        serial[0] |= 0x40;
    }
    BIGNUM *sn = BN_bin2bn(serial, (int)sl, NULL);
    x = X509_new();
    bool ok = x && sn && X509_set_version(x, X509_VERSION_3) == 1 &&
              BN_to_ASN1_INTEGER(sn, X509_get_serialNumber(x)) &&
              X509_set_subject_name(x, name) == 1 && X509_set_issuer_name(x, name) == 1 &&
              X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &start) &&
              X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &end) && X509_set_pubkey(x, pk) == 1 &&
              add_ext(x, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
              add_ext(x, NID_key_usage, "critical,digitalSignature") == 0 &&
              add_ext(x, NID_subject_key_identifier, "hash") == 0;
    BN_free(sn);
    if (!ok) {
        p11app_fail("selfsign: cannot build the certificate");
        goto out;
    }
    if (token_sign(m, key, pk, x))
        goto out;
    if (X509_verify(x, pk) != 1) {
        p11app_fail("selfsign: the token's signature does not verify with its public key");
        goto out;
    }
    uint8_t id[64];
    CK_ATTRIBUTE ida = { CKA_ID, id, sizeof id };
    size_t idl = m->p.f->C_GetAttributeValue(m->s, key, &ida, 1) == CKR_OK ? ida.ulValueLen : 0;
    const char *label = o->cert_label ? o->cert_label : o->label ? o->label : "certificate";
    CK_OBJECT_HANDLE h;
    if (store_cert(m, x, label, id, idl, &h))
        goto out;
    if (o->out_file && write_cert(x, o->out_file, o->format && !strcasecmp(o->format, "der")))
        goto out;
    uint8_t md[32];
    unsigned int ml = 0;
    X509_digest(x, EVP_sha256(), md, &ml);
    printf("certificate \"%s\" made: handle %lu, SHA-256 ", label, (unsigned long)h);
    for (unsigned i = 0; i < ml; i++)
        printf("%02x", md[i]);
    printf("%s%s\n", o->out_file ? ", written to " : "", o->out_file ? o->out_file : "");
    rc = 0;
out:
    X509_free(x);
    X509_NAME_free(name);
    EVP_PKEY_free(pk);
    return rc;
}

int cmu_export(cmu_t *m)
{
    const cmu_opts_t *o = m->o;
    if (!o->out_file)
        return p11app_fail("export: give -outputFile=FILE");
    bool der = false;
    if (o->format && !(der = !strcasecmp(o->format, "der")) && strcasecmp(o->format, "pem"))
        return p11app_fail("export: -format is pem or der");
    CK_OBJECT_HANDLE h;
    if (cmu_find_one(m, CKO_CERTIFICATE, &h))
        return 1;
    uint8_t *buf = malloc(CERT_MAX);
    CK_ATTRIBUTE v = { CKA_VALUE, buf, CERT_MAX };
    if (!buf || m->p.f->C_GetAttributeValue(m->s, h, &v, 1) != CKR_OK) {
        free(buf);
        return p11app_fail("export: cannot read the certificate");
    }
    const uint8_t *p = buf;
    X509 *x = d2i_X509(NULL, &p, (long)v.ulValueLen);
    free(buf);
    if (!x)
        return p11app_fail("export: the object's value is not an X.509 certificate");
    int rc = write_cert(x, o->out_file, der);
    X509_free(x);
    if (!rc)
        printf("certificate %lu written to %s (%s)\n", (unsigned long)h, o->out_file,
               der ? "DER" : "PEM");
    return rc;
}

int cmu_import(cmu_t *m)
{
    const cmu_opts_t *o = m->o;
    if (!o->in_file || !o->label)
        return p11app_fail("import: give -inputFile=FILE and -label=LABEL");
    X509 *x = p11app_read_cert(o->in_file);
    if (!x)
        return p11app_fail("import: %s is not an X.509 certificate (PEM or DER)", o->in_file);
    uint8_t id[32];
    size_t idl = 0;
    if (o->id_hex) {
        idl = strlen(o->id_hex) / 2;
        BIGNUM *b = NULL;
        if (idl == 0 || idl > sizeof id || strlen(o->id_hex) % 2 ||
            (size_t)BN_hex2bn(&b, o->id_hex) != strlen(o->id_hex) ||
            BN_bn2binpad(b, id, (int)idl) != (int)idl) {
            BN_free(b);
            X509_free(x);
            return p11app_fail("import: -id is 1 to 32 bytes in hex");
        }
        BN_free(b);
    }
    CK_OBJECT_HANDLE h;
    int rc = store_cert(m, x, o->label, id, idl, &h);
    if (!rc) {
        uint8_t md[32];
        unsigned int ml = 0;
        X509_digest(x, EVP_sha256(), md, &ml);
        printf("certificate \"%s\" imported: handle %lu, SHA-256 ", o->label, (unsigned long)h);
        for (unsigned i = 0; i < ml; i++)
            printf("%02x", md[i]);
        printf("\n");
    }
    X509_free(x);
    return rc;
}
