/*
 * Message digests and random numbers.
 *
 * The digest work runs with the session checked out (busy) and no HSM lock
 * held, so sessions digest in parallel on all cores. The EVP_MD methods are
 * fetched once: fetching per operation would take OpenSSL's global locks.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "internal.h"

static const struct {
    CK_MECHANISM_TYPE mech;
    const char *name;
} digest_names[] = {
    { CKM_SHA_1, "SHA1" },     { CKM_SHA224, "SHA224" }, { CKM_SHA256, "SHA256" },
    { CKM_SHA384, "SHA384" }, { CKM_SHA512, "SHA512" },  { CKM_SHA3_256, "SHA3-256" },
    { CKM_SHA3_384, "SHA3-384" }, { CKM_SHA3_512, "SHA3-512" },
};

#define NDIGESTS (sizeof digest_names / sizeof digest_names[0])

static EVP_MD *digest_md[NDIGESTS];
static pthread_once_t digest_once = PTHREAD_ONCE_INIT;

static void fetch_digests(void)
{
    for (size_t i = 0; i < NDIGESTS; i++)
        digest_md[i] = EVP_MD_fetch(NULL, digest_names[i].name, NULL);
}

static const EVP_MD *md_for(CK_MECHANISM_TYPE mech)
{
    pthread_once(&digest_once, fetch_digests);
    for (size_t i = 0; i < NDIGESTS; i++)
        if (digest_names[i].mech == mech)
            return digest_md[i];
    return NULL;
}

static bool digest_active(const session_t *s)
{
    return s->md && EVP_MD_CTX_get0_md(s->md);
}

static void digest_end(session_t *s)
{
    if (s->md)
        EVP_MD_CTX_reset(s->md);
    s->digest_updated = false;
}

CK_RV hsm_digest_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_MECHANISM *m)
{
    session_t *s;
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    const EVP_MD *md = m ? md_for(m->mechanism) : NULL;
    if (!m)
        rv = CKR_ARGUMENTS_BAD;
    else if (digest_active(s))
        rv = CKR_OPERATION_ACTIVE;
    else if (!md)
        rv = CKR_MECHANISM_INVALID;
    else if (m->pParameter || m->ulParameterLen)
        rv = CKR_MECHANISM_PARAM_INVALID;
    else if (!s->md && !(s->md = EVP_MD_CTX_new()))
        rv = CKR_HOST_MEMORY;
    else if (EVP_DigestInit_ex(s->md, md, NULL) != 1)
        rv = CKR_FUNCTION_FAILED;
    s->digest_updated = false;
    session_checkin(h, s);
    return rv;
}

/* The length query and buffer check both single-part and final share. */
static CK_RV output_ready(session_t *s, CK_BYTE *out, CK_ULONG *out_len, bool *done)
{
    CK_ULONG need = (CK_ULONG)EVP_MD_CTX_get_size(s->md);
    *done = false;
    if (!out_len)
        return CKR_ARGUMENTS_BAD;
    if (!out) {
        *out_len = need;
        *done = true;
        return CKR_OK;
    }
    if (*out_len < need) {
        *out_len = need;
        *done = true;
        return CKR_BUFFER_TOO_SMALL;
    }
    return CKR_OK;
}

static CK_RV finish(session_t *s, CK_BYTE *out, CK_ULONG *out_len)
{
    unsigned int n = 0;
    CK_RV rv = EVP_DigestFinal_ex(s->md, out, &n) == 1 ? CKR_OK : CKR_FUNCTION_FAILED;
    if (rv == CKR_OK)
        *out_len = n;
    return rv;
}

CK_RV hsm_digest(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_BYTE *data,
                 CK_ULONG len, CK_BYTE *out, CK_ULONG *out_len)
{
    session_t *s;
    bool done;
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    if (!digest_active(s)) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
        goto out;
    }
    if (s->digest_updated) {
        rv = CKR_OPERATION_ACTIVE; /* a multi-part digest is under way */
        goto out;
    }
    if (!data && len) {
        rv = CKR_ARGUMENTS_BAD;
    } else if ((rv = output_ready(s, out, out_len, &done)) == CKR_OK && !done) {
        if (len && EVP_DigestUpdate(s->md, data, len) != 1)
            rv = CKR_FUNCTION_FAILED;
        else
            rv = finish(s, out, out_len);
        done = false;
    }
    if (!(rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && done)))
        digest_end(s);
out:
    session_checkin(h, s);
    return rv;
}

CK_RV hsm_digest_update(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_BYTE *data,
                        CK_ULONG len)
{
    session_t *s;
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    if (!digest_active(s))
        rv = CKR_OPERATION_NOT_INITIALIZED;
    else if (!data && len)
        rv = CKR_ARGUMENTS_BAD;
    else if (len && EVP_DigestUpdate(s->md, data, len) != 1)
        rv = CKR_FUNCTION_FAILED;
    if (rv == CKR_OK)
        s->digest_updated = true;
    else if (rv != CKR_OPERATION_NOT_INITIALIZED)
        digest_end(s);
    session_checkin(h, s);
    return rv;
}

CK_RV hsm_digest_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, CK_BYTE *out,
                       CK_ULONG *out_len)
{
    session_t *s;
    bool done;
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    if (!digest_active(s)) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
        goto out;
    }
    if ((rv = output_ready(s, out, out_len, &done)) == CKR_OK && !done) {
        rv = finish(s, out, out_len);
        done = false;
    }
    if (!(rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && done)))
        digest_end(s);
out:
    session_checkin(h, s);
    return rv;
}

CK_RV hsm_digest_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, CK_OBJECT_HANDLE key)
{
    session_t *s;
    key_use_t k;
    memset(&k, 0, sizeof k);
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    if (!digest_active(s)) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else if ((rv = key_for_use(h, s, key, KEY_USE_ANY, CK_UNAVAILABLE_INFORMATION, &k))) {
        digest_end(s);
    } else if (k.cls != CKO_SECRET_KEY) {
        rv = CKR_KEY_INDIGESTIBLE;
        digest_end(s);
    } else if (k.len && EVP_DigestUpdate(s->md, k.value, k.len) != 1) {
        rv = CKR_FUNCTION_FAILED;
        digest_end(s);
    } else {
        s->digest_updated = true;
    }
    key_use_free(&k);
    session_checkin(h, s);
    return rv;
}

CK_RV hsm_seed_random(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_BYTE *seed,
                      CK_ULONG len)
{
    session_t *s;
    if (!seed && len)
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    /* Mixed into OpenSSL's DRBG as additional input; it never replaces the
       operating system's entropy. */
    if (len)
        RAND_add(seed, (int)(len > INT32_MAX ? INT32_MAX : len), 0.0);
    session_checkin(h, s);
    return CKR_OK;
}

CK_RV hsm_generate_random(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, CK_BYTE *out,
                          CK_ULONG len)
{
    session_t *s;
    if (!out && len)
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    while (len && rv == CKR_OK) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        if (RAND_bytes(out, n) != 1)
            rv = CKR_FUNCTION_FAILED;
        out += n;
        len -= (CK_ULONG)n;
    }
    session_checkin(h, s);
    return rv;
}
