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

int fm_accept(const uint8_t *img, size_t n, bool dev, const fm_trust_t *t, const uint8_t **elf,
              size_t *elf_len, char *why, size_t cap)
{
    if (!t->allow_fms)
        return policy(why, cap, "the HSM's policy allows no FMs (softfm policy set allow-fms on)");
    if (n > FM_SIGNED_MAX)
        return refuse(why, cap, "the image is larger than an FM image may be (16 MiB)");
    fm_image_info_t info;
    if (dev) {
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
    if (fm_image_check(s.elf, s.elf_len, &info, why, cap))
        return -1;
    if (strcmp(info.name, s.name) || info.number != s.number ||
        info.version_major != s.version_major || info.version_minor != s.version_minor)
        return refuse(why, cap, "the signed header does not match the FM's own header");
#if defined(__x86_64__)
    const char *arch = "x86_64";
#else
    const char *arch = "aarch64";
#endif
    if (strcmp(s.arch, arch))
        return refuse(why, cap, "built for another architecture");
    uint8_t *der = NULL;
    size_t dl = 0;
    int found = t->signer ? t->signer(t->ctx, s.cert_sha256, &der, &dl) : 1;
    if (found)
        return refuse(why, cap, found > 0 ? "the image's signer certificate is not in the Admin "
                                            "Token (the HSM SO puts it there, e.g. with cmu "
                                            "import)"
                                          : "cannot read the Admin Token");
    const uint8_t *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)dl);
    free(der);
    int rc = -1;
    if (!x)
        refuse(why, cap, "the signer certificate in the Admin Token is not an X.509 certificate");
    else if (fm_signed_cert_ok(x, (uint64_t)time(NULL), why, cap) == 0 &&
             fm_signed_verify(&s, X509_get0_pubkey(x), why, cap) == 0)
        rc = 0;
    X509_free(x);
    if (rc == 0) {
        *elf = s.elf;
        *elf_len = s.elf_len;
    }
    return rc;
}
