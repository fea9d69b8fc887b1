/*
 * Whether the HSM runs an FM image: the policies, and for a signed image its
 * signer's certificate in the Admin Token, that certificate's validity, the
 * signature, and agreement between the signed header and the FM's own.
 * Applied when the HSM SO loads an image and again at every HSM start.
 *
 * Certificates must be valid at the time of the check (our choice, see
 * docs/fm-image.md): an expired signer certificate stops its FMs from
 * loading and from starting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fm.h"

static int refuse(char *why, size_t cap, const char *msg)
{
    snprintf(why, cap, "%s", msg);
    return -1;
}

static int policy(char *why, size_t cap, const char *msg)
{
    snprintf(why, cap, "%s", msg);
    return -2;
}

/* The image itself: the signed header agrees with the FM's own, and it is
   built for this machine. */
static int check_contents(const fm_signed_t *s, char *why, size_t cap)
{
    fm_image_info_t info;
    if (strcmp(s->arch, fm_host_arch()))
        return refuse(why, cap, "built for another architecture");
    if (fm_image_check(s->elf, s->elf_len, &info, why, cap))
        return -1;
    if (strcmp(info.name, s->name) || info.number != s->number ||
        info.version_major != s->version_major || info.version_minor != s->version_minor)
        return refuse(why, cap, "the signed header does not match the FM's own header");
    return 0;
}

/* The signer's certificate is the one the image names, valid now, and its
   key made the signature. */
static int check_signer(const fm_signed_t *s, const uint8_t *der, size_t len, uint64_t now,
                        char *why, size_t cap)
{
    uint8_t md[32];
    unsigned int ml = 0;
    if (EVP_Digest(der, len, md, &ml, EVP_sha256(), NULL) != 1 ||
        memcmp(md, s->cert_sha256, sizeof md))
        return refuse(why, cap, "the image is signed for another certificate");
    const uint8_t *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    int rc = -1;
    if (!x)
        refuse(why, cap, "the signer certificate is not an X.509 certificate");
    else if (fm_signed_cert_ok(x, now, why, cap) == 0 &&
             fm_signed_verify(s, X509_get0_pubkey(x), why, cap) == 0)
        rc = 0;
    X509_free(x);
    return rc;
}

int fm_signed_check(const uint8_t *img, size_t n, const uint8_t *cert_der, size_t cert_len,
                    uint64_t now, fm_signed_t *s, char *why, size_t cap)
{
    if (fm_signed_parse(img, n, s, why, cap) || check_contents(s, why, cap))
        return -1;
    return check_signer(s, cert_der, cert_len, now, why, cap);
}

int fm_accept(const uint8_t *img, size_t n, bool dev, const fm_trust_t *t, const uint8_t **elf,
              size_t *elf_len, char *why, size_t cap)
{
    if (!t->allow_fms)
        return policy(why, cap, "the HSM's policy allows no FMs (softfm policy set allow-fms on)");
    if (n > FM_SIGNED_MAX)
        return refuse(why, cap, "the image is larger than an FM image may be");
    if (dev) {
        fm_image_info_t info;
        if (!t->allow_unsigned)
            return policy(why, cap, "the HSM's policy refuses unsigned FMs (softfm policy set "
                                    "allow-unsigned-fms on)");
        if (t->release_only)
            return policy(why, cap, "the HSM accepts RELEASE images only, and an unsigned "
                                    "image is a development one");
        *elf = img;
        *elf_len = n;
        return fm_image_check(img, n, &info, why, cap);
    }
    fm_signed_t s;
    if (fm_signed_parse(img, n, &s, why, cap))
        return -1;
    if (t->release_only && s.build_type != FM_BUILD_RELEASE)
        return policy(why, cap, "a DEBUG image, and the HSM accepts RELEASE images only");
    if (check_contents(&s, why, cap))
        return -1;
    uint8_t *der = NULL;
    size_t dl = 0;
    int found = t->signer ? t->signer(t->ctx, s.cert_sha256, &der, &dl) : 1;
    if (found)
        return refuse(why, cap, found > 0 ? "the image's signer certificate is not in the Admin "
                                            "Token (the HSM SO puts it there, e.g. with cmu "
                                            "import)"
                                          : "cannot read the Admin Token");
    int rc = check_signer(&s, der, dl, (uint64_t)time(NULL), why, cap);
    free(der);
    if (rc == 0) {
        *elf = s.elf;
        *elf_len = s.elf_len;
    }
    return rc;
}

int fm_origin(const uint8_t *img, size_t n, bool dev, fm_origin_t *o, const uint8_t **elf,
              size_t *elf_len)
{
    memset(o, 0, sizeof *o);
    o->image_len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    if (dev) {
        o->build = FM_BUILD_UNSIGNED;
        *elf = img;
        *elf_len = n;
        return 0;
    }
    fm_signed_t s;
    char why[8];
    if (fm_signed_parse(img, n, &s, why, sizeof why))
        return -1;
    o->build = s.build_type;
    o->build_time = s.build_time;
    memcpy(o->signer, s.cert_sha256, sizeof o->signer);
    *elf = s.elf;
    *elf_len = s.elf_len;
    return 0;
}
