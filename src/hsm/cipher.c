/*
 * Symmetric encryption and decryption: AES (ECB, CBC, CBC with PKCS#7
 * padding, CTR, GCM) and DES3 (ECB, CBC, CBC with padding).
 *
 * The rules of PKCS#11 v2.40 for an operation: a NULL output buffer asks for
 * the length and changes nothing; a buffer too small answers
 * CKR_BUFFER_TOO_SMALL with the length needed and changes nothing; any other
 * error ends the operation; single-part and multi-part calls do not mix.
 * Where the exact output length is known only after the work (a padded or
 * authenticated decryption), the work is done on a copy of the cipher state
 * so that a too-small buffer leaves the operation as it was. GCM decryption
 * releases no plaintext before the tag has been checked.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "internal.h"

enum cipher_mode {
    M_ECB, M_CBC, M_CBC_PAD, M_CTR, M_GCM, M_KW, M_KWP, /* AES modes index aes_names */
    M_RSA_PKCS, M_RSA_X509, M_RSA_OAEP,
};

static bool is_rsa_mode(int mode)
{
    return mode >= M_RSA_PKCS;
}

/* Modes that work on the whole input at once (no C_*Update). */
static bool single_only(int mode)
{
    return mode == M_KW || mode == M_KWP || is_rsa_mode(mode);
}

typedef struct cipher_mech {
    CK_MECHANISM_TYPE mech;
    CK_KEY_TYPE key_type;
    enum cipher_mode mode;
} cipher_mech_t;

static const cipher_mech_t cipher_mechs[] = {
    { CKM_AES_ECB, CKK_AES, M_ECB },        { CKM_AES_CBC, CKK_AES, M_CBC },
    { CKM_AES_CBC_PAD, CKK_AES, M_CBC_PAD }, { CKM_AES_CTR, CKK_AES, M_CTR },
    { CKM_AES_GCM, CKK_AES, M_GCM },        { CKM_DES3_ECB, CKK_DES3, M_ECB },
    { CKM_DES3_CBC, CKK_DES3, M_CBC },      { CKM_DES3_CBC_PAD, CKK_DES3, M_CBC_PAD },
    { CKM_RSA_PKCS, CKK_RSA, M_RSA_PKCS },  { CKM_RSA_X_509, CKK_RSA, M_RSA_X509 },
    { CKM_RSA_PKCS_OAEP, CKK_RSA, M_RSA_OAEP },
    { CKM_AES_KEY_WRAP, CKK_AES, M_KW },    { CKM_AES_KEY_WRAP_PAD, CKK_AES, M_KWP },
};

static const cipher_mech_t *cipher_mech(CK_MECHANISM_TYPE m)
{
    for (size_t i = 0; i < sizeof cipher_mechs / sizeof cipher_mechs[0]; i++)
        if (cipher_mechs[i].mech == m)
            return &cipher_mechs[i];
    return NULL;
}

/* OpenSSL cipher methods, fetched once (an implicit fetch per operation
   would take OpenSSL's global locks). Index: key size x mode. */
static const char *const aes_names[3][7] = {
    { "AES-128-ECB", "AES-128-CBC", "AES-128-CBC", "AES-128-CTR", "AES-128-GCM", "AES-128-WRAP",
      "AES-128-WRAP-PAD" },
    { "AES-192-ECB", "AES-192-CBC", "AES-192-CBC", "AES-192-CTR", "AES-192-GCM", "AES-192-WRAP",
      "AES-192-WRAP-PAD" },
    { "AES-256-ECB", "AES-256-CBC", "AES-256-CBC", "AES-256-CTR", "AES-256-GCM", "AES-256-WRAP",
      "AES-256-WRAP-PAD" },
};
static EVP_CIPHER *aes_ciphers[3][7];
static EVP_CIPHER *des3_ciphers[2];
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_ciphers(void)
{
    for (int k = 0; k < 3; k++)
        for (int m = 0; m < 7; m++)
            aes_ciphers[k][m] = EVP_CIPHER_fetch(NULL, aes_names[k][m], NULL);
    des3_ciphers[0] = EVP_CIPHER_fetch(NULL, "DES-EDE3-ECB", NULL);
    des3_ciphers[1] = EVP_CIPHER_fetch(NULL, "DES-EDE3-CBC", NULL);
}

static const EVP_CIPHER *evp_cipher(const cipher_mech_t *cm, size_t key_len)
{
    pthread_once(&fetch_once, fetch_ciphers);
    if (cm->key_type == CKK_DES3)
        return key_len == 24 ? des3_ciphers[cm->mode == M_ECB ? 0 : 1] : NULL;
    int k = key_len == 16 ? 0 : key_len == 24 ? 1 : key_len == 32 ? 2 : -1;
    return k < 0 ? NULL : aes_ciphers[k][cm->mode];
}

void crypt_op_end(crypt_op_t *op)
{
    if (op->ctx)
        EVP_CIPHER_CTX_reset(op->ctx);
    if (op->buf)
        secure_zero(op->buf, op->len);
    op->len = 0;
    op->active = false;
    op->multi = false;
    op->need_auth = false;
    op->pending = 0;
    EVP_PKEY_free(op->pkey);
    op->pkey = NULL;
    free(op->label);
    op->label = NULL;
    op->label_len = 0;
}

/* RSA: the key's role, and OAEP's parameters. */
static CK_RV rsa_setup(crypt_op_t *op, const cipher_mech_t *cm, const CK_MECHANISM *m,
                       key_use_t *k, bool enc)
{
    if (k->cls != (enc ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY))
        return CKR_KEY_TYPE_INCONSISTENT;
    op->mode = cm->mode;
    op->block = 1;
    op->pkey = k->pkey;
    k->pkey = NULL;
    op->need_auth = !enc && k->always_authenticate;
    if (cm->mode != M_RSA_OAEP)
        return m->pParameter || m->ulParameterLen ? CKR_MECHANISM_PARAM_INVALID : CKR_OK;
    if (!m->pParameter || m->ulParameterLen != sizeof(CK_RSA_PKCS_OAEP_PARAMS))
        return CKR_MECHANISM_PARAM_INVALID;
    const CK_RSA_PKCS_OAEP_PARAMS *p = m->pParameter;
    op->oaep_md = md_by_mech(p->hashAlg);
    op->oaep_mgf = md_by_mgf(p->mgf);
    if (!op->oaep_md || !op->oaep_mgf || (p->source && p->source != CKZ_DATA_SPECIFIED) ||
        (!p->source && p->ulSourceDataLen) || (p->ulSourceDataLen && !p->pSourceData))
        return CKR_MECHANISM_PARAM_INVALID;
    if (p->ulSourceDataLen) {
        if (!(op->label = malloc(p->ulSourceDataLen)))
            return CKR_HOST_MEMORY;
        memcpy(op->label, p->pSourceData, p->ulSourceDataLen);
        op->label_len = p->ulSourceDataLen;
    }
    return CKR_OK;
}

/* One RSA encryption or decryption; *n is the room in out, then the length. */
static CK_RV rsa_run(crypt_op_t *op, bool enc, const uint8_t *in, size_t len, uint8_t *out,
                     size_t *n)
{
    size_t k = (size_t)EVP_PKEY_get_size(op->pkey);
    uint8_t x509[1024];
    if (enc) {
        size_t h = op->oaep_md ? (size_t)EVP_MD_get_size(op->oaep_md) : 0;
        size_t max = op->mode == M_RSA_PKCS ? k - 11 : op->mode == M_RSA_OAEP ? k - 2 * h - 2 : k;
        if (len > max || k > sizeof x509)
            return CKR_DATA_LEN_RANGE;
        if (op->mode == M_RSA_X509) {
            memset(x509, 0, k - len);
            memcpy(x509 + k - len, in, len);
            in = x509;
            len = k;
        }
    } else if (len != k) {
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    }
    int pad = op->mode == M_RSA_PKCS ? RSA_PKCS1_PADDING
            : op->mode == M_RSA_OAEP ? RSA_PKCS1_OAEP_PADDING : RSA_NO_PADDING;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, op->pkey, NULL);
    CK_RV rv = CKR_FUNCTION_FAILED;
    if (ctx && (enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, pad) == 1 &&
        (op->mode != M_RSA_OAEP ||
         (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, op->oaep_md) == 1 &&
          EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, op->oaep_mgf) == 1))) {
        if (op->label_len) {
            uint8_t *l = OPENSSL_memdup(op->label, op->label_len);
            if (!l || EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, (int)op->label_len) != 1) {
                OPENSSL_free(l);
                goto out;
            }
        }
        if ((enc ? EVP_PKEY_encrypt(ctx, out, n, in, len) : EVP_PKEY_decrypt(ctx, out, n, in, len)) == 1)
            rv = CKR_OK;
        else
            rv = enc ? (op->mode == M_RSA_X509 ? CKR_DATA_INVALID : CKR_FUNCTION_FAILED)
                     : CKR_ENCRYPTED_DATA_INVALID;
    }
out:
    EVP_PKEY_CTX_free(ctx);
    secure_zero(x509, sizeof x509);
    return rv;
}

void crypt_op_free(crypt_op_t *op)
{
    crypt_op_end(op);
    free(op->label);
    EVP_CIPHER_CTX_free(op->ctx);
    if (op->buf)
        secure_zero(op->buf, op->cap);
    free(op->buf);
    memset(op, 0, sizeof *op);
}

/* Check the mechanism's parameter and set the cipher up. */
static CK_RV setup(crypt_op_t *op, const cipher_mech_t *cm, const CK_MECHANISM *m,
                   const EVP_CIPHER *cipher, const key_use_t *k, int enc)
{
    const uint8_t *iv = NULL;
    size_t block = (size_t)EVP_CIPHER_get_block_size(cipher);
    const CK_GCM_PARAMS *gcm = NULL;
    op->mode = cm->mode;
    op->block = cm->mode == M_CTR || cm->mode == M_GCM ? 1 : cm->mode >= M_KW ? 8 : block;
    op->tag_len = 0;
    switch (cm->mode) {
    case M_ECB:
        if (m->pParameter || m->ulParameterLen)
            return CKR_MECHANISM_PARAM_INVALID;
        break;
    case M_CBC:
    case M_CBC_PAD:
        if (!m->pParameter || m->ulParameterLen != block)
            return CKR_MECHANISM_PARAM_INVALID;
        iv = m->pParameter;
        break;
    case M_CTR: {
        if (!m->pParameter || m->ulParameterLen != sizeof(CK_AES_CTR_PARAMS))
            return CKR_MECHANISM_PARAM_INVALID;
        const CK_AES_CTR_PARAMS *ctr = m->pParameter;
        if (ctr->ulCounterBits == 0 || ctr->ulCounterBits > 128)
            return CKR_MECHANISM_PARAM_INVALID;
        iv = ctr->cb;
        break;
    }
    case M_GCM:
        if (!m->pParameter || m->ulParameterLen != sizeof(CK_GCM_PARAMS))
            return CKR_MECHANISM_PARAM_INVALID;
        gcm = m->pParameter;
        if (gcm->ulIvLen < 1 || gcm->ulIvLen > 256 || (gcm->ulAADLen && !gcm->pAAD) ||
            gcm->ulTagBits < 32 || gcm->ulTagBits > 128 || gcm->ulTagBits % 8)
            return CKR_MECHANISM_PARAM_INVALID;
        op->tag_len = gcm->ulTagBits / 8;
        break;
    case M_KW:
    case M_KWP:
        /* An IV other than the RFC's default, when given, has its length. */
        if (m->pParameter && m->ulParameterLen != (cm->mode == M_KW ? 8u : 4u))
            return CKR_MECHANISM_PARAM_INVALID;
        if (!m->pParameter && m->ulParameterLen)
            return CKR_MECHANISM_PARAM_INVALID;
        iv = m->pParameter;
        break;
    default:
        return CKR_MECHANISM_INVALID; /* RSA modes are set up by rsa_setup */
    }
    if (!op->ctx && !(op->ctx = EVP_CIPHER_CTX_new()))
        return CKR_HOST_MEMORY;
    EVP_CIPHER_CTX_set_flags(op->ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex(op->ctx, cipher, NULL, NULL, NULL, enc) != 1)
        return CKR_FUNCTION_FAILED;
    if (gcm && EVP_CIPHER_CTX_ctrl(op->ctx, EVP_CTRL_GCM_SET_IVLEN, (int)gcm->ulIvLen, NULL) != 1)
        return CKR_MECHANISM_PARAM_INVALID;
    if (EVP_CipherInit_ex(op->ctx, NULL, NULL, k->value, gcm ? gcm->pIv : iv, enc) != 1)
        return CKR_FUNCTION_FAILED;
    EVP_CIPHER_CTX_set_padding(op->ctx, cm->mode == M_CBC_PAD);
    if (gcm && gcm->ulAADLen) {
        int n = 0;
        if (gcm->ulAADLen > INT32_MAX ||
            EVP_CipherUpdate(op->ctx, NULL, &n, gcm->pAAD, (int)gcm->ulAADLen) != 1)
            return CKR_FUNCTION_FAILED;
    }
    return CKR_OK;
}

CK_RV hsm_crypt_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, enum hsm_crypt_dir dir,
                     const CK_MECHANISM *m, CK_OBJECT_HANDLE key)
{
    session_t *s;
    key_use_t k;
    memset(&k, 0, sizeof k);
    CK_RV rv = session_checkout(h, app, handle, &s);
    if (rv)
        return rv;
    crypt_op_t *op = &s->crypt[dir];
    const cipher_mech_t *cm = m ? cipher_mech(m->mechanism) : NULL;
    const EVP_CIPHER *cipher = NULL;
    if (!m)
        rv = CKR_ARGUMENTS_BAD;
    else if (op->active)
        rv = CKR_OPERATION_ACTIVE;
    else if (!cm || !mech_find(m->mechanism))
        rv = CKR_MECHANISM_INVALID;
    else if ((rv = key_for_use(h, s, key, dir == HSM_ENCRYPT ? CKA_ENCRYPT : CKA_DECRYPT,
                               m->mechanism, &k)))
        ;
    else if (k.type != cm->key_type)
        rv = CKR_KEY_TYPE_INCONSISTENT;
    else if (is_rsa_mode(cm->mode))
        rv = rsa_setup(op, cm, m, &k, dir == HSM_ENCRYPT);
    else if (k.cls != CKO_SECRET_KEY)
        rv = CKR_KEY_TYPE_INCONSISTENT;
    else if (!(cipher = evp_cipher(cm, k.len)))
        rv = CKR_KEY_SIZE_RANGE;
    else
        rv = setup(op, cm, m, cipher, &k, dir == HSM_ENCRYPT);
    if (rv == CKR_OK)
        op->active = true;
    else if (rv != CKR_OPERATION_ACTIVE)
        crypt_op_end(op);
    key_use_free(&k);
    session_checkin(h, s);
    return rv;
}

static CK_RV len_error(const crypt_op_t *op, bool enc)
{
    (void)op;
    return enc ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
}

/* Output of an update of n more bytes, and the bytes held back after it. */
static size_t update_len(const crypt_op_t *op, bool enc, size_t n, size_t *held)
{
    size_t total = op->pending + n;
    if (op->mode == M_GCM && !enc) { /* everything waits for the tag */
        *held = 0;
        return 0;
    }
    if (op->block == 1) {
        *held = 0;
        return n;
    }
    if (op->mode == M_CBC_PAD && !enc) {
        /* OpenSSL keeps the last whole block: it may be the padding. */
        size_t out = total >= op->block ? ((total - 1) / op->block) * op->block : 0;
        *held = total - out;
        return out;
    }
    *held = total % op->block;
    return total - *held;
}

/* Run the cipher: in -> out (may be NULL when n is 0). */
static CK_RV run(EVP_CIPHER_CTX *ctx, const uint8_t *in, size_t n, uint8_t *out, size_t *produced)
{
    size_t done = 0;
    *produced = 0;
    while (n) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n, got = 0;
        if (EVP_CipherUpdate(ctx, out + done, &got, in, chunk) != 1)
            return CKR_FUNCTION_FAILED;
        done += (size_t)got;
        in += chunk;
        n -= (size_t)chunk;
    }
    *produced = done;
    return CKR_OK;
}

/* Finish on ctx: the last bytes (padding, GCM tag); decryption checks. */
static CK_RV finish(crypt_op_t *op, EVP_CIPHER_CTX *ctx, bool enc, const uint8_t *tag,
                    uint8_t *out, size_t *produced)
{
    int got = 0;
    if (op->mode == M_GCM && !enc &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, (int)op->tag_len, (void *)tag) != 1)
        return CKR_FUNCTION_FAILED;
    if (EVP_CipherFinal_ex(ctx, out, &got) != 1)
        return enc ? CKR_FUNCTION_FAILED : CKR_ENCRYPTED_DATA_INVALID;
    *produced = (size_t)got;
    if (op->mode == M_GCM && enc) {
        if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, (int)op->tag_len, out + got) != 1)
            return CKR_FUNCTION_FAILED;
        *produced += op->tag_len;
    }
    return CKR_OK;
}

/*
 * Decrypt-and-finish whose exact length is known only afterwards (CBC_PAD,
 * GCM): on a copy of the state into a scratch buffer; the result is copied
 * out only when it fits.
 */
static CK_RV last_on_copy(crypt_op_t *op, const uint8_t *in, size_t n, uint8_t *out,
                          CK_ULONG *out_len, bool *keep)
{
    CK_RV rv = CKR_OK;
    size_t body = n, a = 0, b = 0;
    const uint8_t *tag = NULL;
    *keep = false;
    if (op->mode == M_GCM) {
        if (n < op->tag_len)
            return CKR_ENCRYPTED_DATA_LEN_RANGE;
        body = n - op->tag_len;
        tag = in + body;
    }
    uint8_t *tmp = malloc(body + 2 * op->block + 32);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!tmp || !ctx || EVP_CIPHER_CTX_copy(ctx, op->ctx) != 1) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if ((rv = run(ctx, in, body, tmp, &a)) || (rv = finish(op, ctx, false, tag, tmp + a, &b)))
        goto out;
    if (*out_len < a + b) {
        *out_len = a + b;
        *keep = true;
        rv = CKR_BUFFER_TOO_SMALL;
        goto out;
    }
    memcpy(out, tmp, a + b);
    *out_len = a + b;
out:
    if (tmp) {
        secure_zero(tmp, body + 2 * op->block + 32);
        free(tmp);
    }
    EVP_CIPHER_CTX_free(ctx);
    return rv;
}

/* The most a single-part mode can output for n bytes of input. */
static size_t whole_bound(const crypt_op_t *op, bool enc, size_t n)
{
    if (is_rsa_mode(op->mode))
        return (size_t)EVP_PKEY_get_size(op->pkey);
    if (op->mode == M_KW)
        return enc ? n + 8 : (n >= 8 ? n - 8 : 0);
    return enc ? (n + 7) / 8 * 8 + 8 : (n >= 8 ? n - 8 : 0); /* KWP */
}

/* RFC 3394/5649 key wrap as a cipher: all input at once. */
static CK_RV kw_run(crypt_op_t *op, bool enc, const uint8_t *in, size_t n, uint8_t *out,
                    size_t *produced)
{
    if (op->mode == M_KW && (n % 8 || n < (enc ? 16u : 24u)))
        return enc ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
    if (op->mode == M_KWP && (enc ? n == 0 : n % 8 || n < 16))
        return enc ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
    int got = 0, fin = 0;
    if (n > INT32_MAX || EVP_CipherUpdate(op->ctx, out, &got, in, (int)n) != 1 || got < 0 ||
        EVP_CipherFinal_ex(op->ctx, out + got, &fin) != 1)
        return enc ? CKR_FUNCTION_FAILED : CKR_ENCRYPTED_DATA_INVALID;
    *produced = (size_t)got + (size_t)fin;
    return CKR_OK;
}

/*
 * Single-part-only modes (RSA, key wrap): the work is done into scratch
 * space, and copied out only when it fits, so that a buffer too small
 * leaves the operation as it was.
 */
static CK_RV whole(crypt_op_t *op, bool enc, const uint8_t *in, size_t n, uint8_t *out,
                   CK_ULONG *out_len)
{
    size_t bound = whole_bound(op, enc, n), got = bound;
    if (!out) {
        *out_len = (CK_ULONG)bound; /* for a decryption, at most this */
        return CKR_OK;
    }
    uint8_t *tmp = malloc(bound + 16);
    EVP_CIPHER_CTX *copy = NULL;
    CK_RV rv;
    if (!tmp)
        return CKR_HOST_MEMORY;
    if (is_rsa_mode(op->mode)) {
        rv = rsa_run(op, enc, in, n, tmp, &got);
    } else if (!(copy = EVP_CIPHER_CTX_new()) || EVP_CIPHER_CTX_copy(copy, op->ctx) != 1) {
        rv = CKR_HOST_MEMORY;
    } else {
        EVP_CIPHER_CTX *keep = op->ctx;
        op->ctx = copy;
        rv = kw_run(op, enc, in, n, tmp, &got);
        op->ctx = keep;
    }
    if (rv == CKR_OK && *out_len < got) {
        *out_len = (CK_ULONG)got;
        rv = CKR_BUFFER_TOO_SMALL;
    } else if (rv == CKR_OK) {
        memcpy(out, tmp, got);
        *out_len = (CK_ULONG)got;
    }
    EVP_CIPHER_CTX_free(copy);
    secure_zero(tmp, bound + 16);
    free(tmp);
    return rv;
}

/* Start an operation call: the session checked out, its operation found. */
static CK_RV op_enter(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, enum hsm_crypt_dir dir,
                      session_t **s, crypt_op_t **op)
{
    CK_RV rv = session_checkout(h, app, handle, s);
    if (rv)
        return rv;
    *op = &(*s)->crypt[dir];
    if (!(*op)->active) {
        session_checkin(h, *s);
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    if ((*op)->need_auth) { /* the operation waits for C_Login(CKU_CONTEXT_SPECIFIC) */
        session_checkin(h, *s);
        return CKR_USER_NOT_LOGGED_IN;
    }
    return CKR_OK;
}

static CK_RV op_leave(hsm_t *h, session_t *s, crypt_op_t *op, CK_RV rv, bool keep)
{
    if (!keep)
        crypt_op_end(op);
    session_checkin(h, s);
    return rv;
}

CK_RV hsm_crypt(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, enum hsm_crypt_dir dir,
                const CK_BYTE *in, CK_ULONG n, CK_BYTE *out, CK_ULONG *out_len)
{
    session_t *s;
    crypt_op_t *op;
    bool enc = dir == HSM_ENCRYPT, keep = false;
    size_t a = 0, b = 0, held;
    CK_RV rv = op_enter(h, app, handle, dir, &s, &op);
    if (rv)
        return rv;
    if (op->multi)
        return op_leave(h, s, op, CKR_OPERATION_ACTIVE, true);
    if ((!in && n) || !out_len)
        return op_leave(h, s, op, CKR_ARGUMENTS_BAD, false);
    if (single_only(op->mode)) {
        rv = whole(op, enc, in, n, out, out_len);
        return op_leave(h, s, op, rv, rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && !out));
    }
    /* Length rules of block modes without padding, and of padded input. */
    if (op->block > 1 && op->mode != M_CBC_PAD && n % op->block)
        return op_leave(h, s, op, len_error(op, enc), false);
    if (op->mode == M_CBC_PAD && !enc && (n == 0 || n % op->block))
        return op_leave(h, s, op, CKR_ENCRYPTED_DATA_LEN_RANGE, false);
    if (op->mode == M_GCM && !enc && n < op->tag_len)
        return op_leave(h, s, op, CKR_ENCRYPTED_DATA_LEN_RANGE, false);

    size_t need = n;
    if (op->mode == M_CBC_PAD && enc)
        need = (n / op->block + 1) * op->block;
    else if (op->mode == M_GCM)
        need = enc ? n + op->tag_len : n - op->tag_len;
    if (!out) {
        *out_len = need; /* for a padded decryption, at most this */
        return op_leave(h, s, op, CKR_OK, true);
    }
    if (!enc && (op->mode == M_CBC_PAD || op->mode == M_GCM)) {
        rv = last_on_copy(op, in, n, out, out_len, &keep);
        return op_leave(h, s, op, rv, keep);
    }
    if (*out_len < need) {
        *out_len = need;
        return op_leave(h, s, op, CKR_BUFFER_TOO_SMALL, true);
    }
    (void)update_len(op, enc, n, &held);
    if ((rv = run(op->ctx, in, n, out, &a)) == CKR_OK &&
        (rv = finish(op, op->ctx, enc, NULL, out + a, &b)) == CKR_OK)
        *out_len = a + b;
    return op_leave(h, s, op, rv, false);
}

CK_RV hsm_crypt_update(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, enum hsm_crypt_dir dir,
                       const CK_BYTE *in, CK_ULONG n, CK_BYTE *out, CK_ULONG *out_len)
{
    session_t *s;
    crypt_op_t *op;
    bool enc = dir == HSM_ENCRYPT;
    size_t held, a = 0;
    CK_RV rv = op_enter(h, app, handle, dir, &s, &op);
    if (rv)
        return rv;
    if ((!in && n) || !out_len)
        return op_leave(h, s, op, CKR_ARGUMENTS_BAD, false);
    if (single_only(op->mode))
        return op_leave(h, s, op, CKR_FUNCTION_NOT_SUPPORTED, false);
    size_t need = update_len(op, enc, n, &held);
    if (!out) {
        *out_len = need;
        return op_leave(h, s, op, CKR_OK, true);
    }
    if (*out_len < need) {
        *out_len = need;
        return op_leave(h, s, op, CKR_BUFFER_TOO_SMALL, true);
    }
    op->multi = true;
    if (op->mode == M_GCM && !enc) {
        if (op->len + n > op->cap) {
            size_t cap = op->cap ? op->cap : 4096;
            while (cap < op->len + n)
                cap *= 2;
            uint8_t *p = malloc(cap);
            if (!p)
                return op_leave(h, s, op, CKR_HOST_MEMORY, false);
            if (op->buf) {
                memcpy(p, op->buf, op->len);
                secure_zero(op->buf, op->cap);
                free(op->buf);
            }
            op->buf = p;
            op->cap = cap;
        }
        if (n)
            memcpy(op->buf + op->len, in, n);
        op->len += n;
        *out_len = 0;
        return op_leave(h, s, op, CKR_OK, true);
    }
    if ((rv = run(op->ctx, in, n, out, &a)))
        return op_leave(h, s, op, rv, false);
    op->pending = held;
    *out_len = a;
    return op_leave(h, s, op, CKR_OK, true);
}

CK_RV hsm_crypt_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, enum hsm_crypt_dir dir,
                      CK_BYTE *out, CK_ULONG *out_len)
{
    session_t *s;
    crypt_op_t *op;
    bool enc = dir == HSM_ENCRYPT, keep = false;
    size_t b = 0;
    CK_RV rv = op_enter(h, app, handle, dir, &s, &op);
    if (rv)
        return rv;
    if (!out_len)
        return op_leave(h, s, op, CKR_ARGUMENTS_BAD, false);
    if (single_only(op->mode))
        return op_leave(h, s, op, CKR_FUNCTION_NOT_SUPPORTED, false);
    if (op->block > 1 && op->mode != M_CBC_PAD && op->pending)
        return op_leave(h, s, op, len_error(op, enc), false);
    if (op->mode == M_CBC_PAD && !enc && op->pending != op->block)
        return op_leave(h, s, op, CKR_ENCRYPTED_DATA_LEN_RANGE, false);
    size_t need = 0;
    if (op->mode == M_CBC_PAD)
        need = enc ? op->block : op->block;
    else if (op->mode == M_GCM)
        need = enc ? op->tag_len : (op->len >= op->tag_len ? op->len - op->tag_len : 0);
    if (!out) {
        *out_len = need;
        return op_leave(h, s, op, CKR_OK, true);
    }
    if (!enc && (op->mode == M_CBC_PAD || op->mode == M_GCM)) {
        rv = last_on_copy(op, op->mode == M_GCM ? op->buf : NULL, op->mode == M_GCM ? op->len : 0,
                          out, out_len, &keep);
        return op_leave(h, s, op, rv, keep);
    }
    if (*out_len < need) {
        *out_len = need;
        return op_leave(h, s, op, CKR_BUFFER_TOO_SMALL, true);
    }
    if ((rv = finish(op, op->ctx, enc, NULL, out, &b)) == CKR_OK)
        *out_len = b;
    return op_leave(h, s, op, rv, false);
}

CK_RV crypt_oneshot(bool enc, const CK_MECHANISM *m, key_use_t *k, const uint8_t *in, size_t n,
                    uint8_t **out, size_t *out_len)
{
    crypt_op_t op;
    memset(&op, 0, sizeof op);
    const cipher_mech_t *cm = cipher_mech(m->mechanism);
    const EVP_CIPHER *cipher = NULL;
    CK_RV rv;
    *out = NULL;
    *out_len = 0;
    if (!cm)
        return CKR_MECHANISM_INVALID;
    if (k->type != cm->key_type)
        return CKR_KEY_TYPE_INCONSISTENT;
    if (is_rsa_mode(cm->mode))
        rv = rsa_setup(&op, cm, m, k, enc);
    else if (k->cls != CKO_SECRET_KEY)
        rv = CKR_KEY_TYPE_INCONSISTENT;
    else if (!(cipher = evp_cipher(cm, k->len)))
        rv = CKR_KEY_SIZE_RANGE;
    else
        rv = setup(&op, cm, m, cipher, k, enc);
    size_t cap = n + 64 + (op.pkey ? (size_t)EVP_PKEY_get_size(op.pkey) : 0);
    uint8_t *buf = rv == CKR_OK ? malloc(cap) : NULL;
    if (rv == CKR_OK && !buf)
        rv = CKR_HOST_MEMORY;
    if (rv == CKR_OK && single_only(cm->mode)) {
        CK_ULONG got = (CK_ULONG)cap;
        rv = whole(&op, enc, in, n, buf, &got);
        *out_len = got;
    } else if (rv == CKR_OK) {
        size_t a = 0, b = 0;
        if (op.block > 1 && cm->mode != M_CBC_PAD && n % op.block)
            rv = enc ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
        else if ((rv = run(op.ctx, in, n, buf, &a)) == CKR_OK)
            rv = finish(&op, op.ctx, enc, NULL, buf + a, &b);
        *out_len = a + b;
    }
    if (rv == CKR_OK) {
        *out = buf;
    } else if (buf) {
        secure_zero(buf, cap);
        free(buf);
    }
    crypt_op_free(&op);
    return rv;
}
