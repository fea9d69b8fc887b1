/*
 * Signed FM images (docs/fm-image.md): a header, the FM's ELF object, and a
 * signature over both by a key whose certificate the HSM SO put in the
 * Admin Token. Parsing is strict: every length is checked against what is
 * left, nothing may follow the signature, and the fields must agree with
 * the ELF object's own FM header.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common.h"
#include "fm.h"

static int fail(char *why, size_t cap, const char *msg)
{
    snprintf(why, cap, "%s", msg);
    return -1;
}

static void get_name(rbuf_t *r, char *out, size_t cap)
{
    size_t n;
    const uint8_t *p = rb_bytes(r, &n);
    if (!p || n >= cap || memchr(p, '\0', n)) {
        r->err = true;
        out[0] = '\0';
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

static void put_name(wbuf_t *w, const char *s)
{
    wb_bytes(w, s, strlen(s));
}

int fm_signed_header(wbuf_t *w, const fm_signed_t *s)
{
    wb_raw(w, FM_SIGNED_MAGIC, 8);
    wb_u32(w, FM_SIGNED_FORMAT);
    put_name(w, s->name);
    wb_u8(w, s->version_major);
    wb_u8(w, s->version_minor);
    put_name(w, s->manufacturer);
    wb_u32(w, s->number);
    wb_u8(w, s->build_type);
    put_name(w, s->arch);
    wb_u64(w, s->build_time);
    wb_raw(w, s->cert_sha256, sizeof s->cert_sha256);
    wb_u8(w, s->sig_alg);
    wb_bytes(w, s->elf, s->elf_len);
    return w->err ? -1 : 0;
}

int fm_signed_parse(const uint8_t *p, size_t n, fm_signed_t *s, char *why, size_t cap)
{
    memset(s, 0, sizeof *s);
    if (n < 8 || memcmp(p, FM_SIGNED_MAGIC, 8))
        return fail(why, cap, "not a signed FM image (mkfm makes them; an unsigned image "
                              "loads only with --dev)");
    if (n > FM_SIGNED_MAX)
        return fail(why, cap, "the image is larger than an FM image may be");
    rbuf_t r;
    rb_init(&r, p + 8, n - 8);
    uint32_t format = rb_u32(&r);
    if (r.err || format != FM_SIGNED_FORMAT)
        return fail(why, cap, "an FM image format this HSM does not know");
    get_name(&r, s->name, sizeof s->name);
    s->version_major = rb_u8(&r);
    s->version_minor = rb_u8(&r);
    get_name(&r, s->manufacturer, sizeof s->manufacturer);
    uint32_t number = rb_u32(&r);
    s->build_type = rb_u8(&r);
    get_name(&r, s->arch, sizeof s->arch);
    s->build_time = rb_u64(&r);
    const uint8_t *fp = rb_raw(&r, sizeof s->cert_sha256);
    s->sig_alg = rb_u8(&r);
    size_t elf_len;
    s->elf = rb_bytes(&r, &elf_len);
    s->elf_len = elf_len;
    s->signed_len = 8 + r.off;
    s->signed_part = p;
    size_t sig_len;
    s->sig = rb_bytes(&r, &sig_len);
    s->sig_len = sig_len;
    if (r.err || !fp || !s->elf)
        return fail(why, cap, "the image is truncated or damaged");
    if (!rb_done(&r))
        return fail(why, cap, "the image has bytes after its signature");
    memcpy(s->cert_sha256, fp, sizeof s->cert_sha256);
    if (number > 0xFFFF || (s->build_type != FM_BUILD_DEBUG && s->build_type != FM_BUILD_RELEASE))
        return fail(why, cap, "the image header is damaged");
    s->number = (uint16_t)number;
    if (s->sig_alg != FM_SIG_RSA_PSS_SHA256 && s->sig_alg != FM_SIG_ECDSA_SHA256 &&
        s->sig_alg != FM_SIG_ECDSA_SHA384)
        return fail(why, cap, "the image is signed with an algorithm this HSM does not accept");
    if (!s->sig_len)
        return fail(why, cap, "the image has no signature");
    return 0;
}

static const EVP_MD *sig_md(uint8_t alg)
{
    return alg == FM_SIG_ECDSA_SHA384 ? EVP_sha384() : EVP_sha256();
}

int fm_signed_check_key(uint8_t alg, EVP_PKEY *pk, char *why, size_t cap)
{
    int id = EVP_PKEY_get_base_id(pk), bits = EVP_PKEY_get_bits(pk);
    if (alg == FM_SIG_RSA_PSS_SHA256 && id == EVP_PKEY_RSA && bits >= 2048 && bits <= 4096)
        return 0;
    if (alg == FM_SIG_ECDSA_SHA256 && id == EVP_PKEY_EC && bits == 256)
        return 0;
    if (alg == FM_SIG_ECDSA_SHA384 && id == EVP_PKEY_EC && bits == 384)
        return 0;
    return fail(why, cap, "the signer's key is not RSA 2048-4096 (PSS) or EC P-256/P-384 "
                          "(ECDSA) for the image's algorithm");
}

int fm_signed_verify(const fm_signed_t *s, EVP_PKEY *pk, char *why, size_t cap)
{
    if (fm_signed_check_key(s->sig_alg, pk, why, cap))
        return -1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = md && EVP_DigestVerifyInit(md, &pctx, sig_md(s->sig_alg), NULL, pk) == 1;
    if (ok && s->sig_alg == FM_SIG_RSA_PSS_SHA256)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
    ok = ok && EVP_DigestVerify(md, s->sig, s->sig_len, s->signed_part, s->signed_len) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : fail(why, cap, "the image's signature does not verify with the certificate "
                                   "it names (altered, or signed by another key)");
}

int fm_signed_cert_ok(X509 *cert, uint64_t now, char *why, size_t cap)
{
    time_t t = (time_t)now;
    if (X509_cmp_time(X509_get0_notBefore(cert), &t) > 0)
        return fail(why, cap, "the signer's certificate is not valid yet");
    if (X509_cmp_time(X509_get0_notAfter(cert), &t) < 0)
        return fail(why, cap, "the signer's certificate has expired");
    return 0;
}
