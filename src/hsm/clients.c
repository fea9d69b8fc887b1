/*
 * The network HSM's side of its clients: its own TLS identity, and the
 * client registry the HSM SO keeps (register, assign partitions, revoke,
 * delete). A client is known by the SHA-256 of its certificate; what it may
 * see is the partitions assigned to it, never the Admin Token.
 *
 * The registry lives in the store only: a lookup per handshake costs far
 * less than the handshake, and nothing here can disagree with the store.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "net.h"

#define IDENTITY_SECONDS (3650L * 86400L) /* ten years */

int tls_identity_ensure(hsm_t *h)
{
    uint8_t *k = NULL, *c = NULL;
    size_t kl = 0, cl = 0;
    int rc = store_tls_identity_get(h->store, &k, &kl, &c, &cl);
    if (rc == 0) {
        secure_zero(k, kl);
        free(k);
        free(c);
        return 0;
    }
    if (rc < 0)
        return -1;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    char cn[64];
    pthread_mutex_lock(&h->lock);
    snprintf(cn, sizeof cn, "softfm HSM %s", h->serial);
    pthread_mutex_unlock(&h->lock);
    rc = -1;
    if (net_make_identity(cn, IDENTITY_SECONDS, &key, &cert) == 0 &&
        net_key_to_der(key, &k, &kl) == 0 && net_cert_to_der(cert, &c, &cl) == 0 &&
        store_tls_identity_put(h->store, k, kl, c, cl) == 0)
        rc = 0;
    if (k)
        secure_zero(k, kl);
    OPENSSL_free(k);
    OPENSSL_free(c);
    EVP_PKEY_free(key);
    X509_free(cert);
    if (rc == 0) {
        pthread_mutex_lock(&h->lock);
        h->tls_gen++;
        pthread_mutex_unlock(&h->lock);
        log_info("made the HSM's TLS identity");
    }
    return rc;
}

unsigned hsm_tls_generation(hsm_t *h)
{
    pthread_mutex_lock(&h->lock);
    unsigned g = h->tls_gen;
    pthread_mutex_unlock(&h->lock);
    return g;
}

int hsm_tls_identity(hsm_t *h, EVP_PKEY **key, X509 **cert)
{
    uint8_t *k = NULL, *c = NULL;
    size_t kl = 0, cl = 0;
    int rc = store_tls_identity_get(h->store, &k, &kl, &c, &cl);
    if (rc)
        return rc;
    *key = net_key_from_der(k, kl);
    *cert = net_cert_from_der(c, cl);
    secure_zero(k, kl);
    free(k);
    free(c);
    if (!*key || !*cert) {
        EVP_PKEY_free(*key);
        X509_free(*cert);
        return -1;
    }
    return 0;
}

static CK_RV store_rc(int rc, CK_RV exists)
{
    return rc == 0 ? CKR_OK : rc > 0 ? exists : CKR_DEVICE_ERROR;
}

CK_RV hsm_client_register(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len, const char *name,
                          const uint8_t *der, size_t der_len, uint8_t fp[32])
{
    CK_RV rv = hsm_admin_check(h, so_pin, len);
    if (rv)
        return rv;
    if (!hsm_name_ok(name))
        return SFM_R_BAD_NAME;
    X509 *x = net_cert_from_der(der, der_len);
    if (!x)
        return CKR_ARGUMENTS_BAD;
    store_client_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    c.cert = der;
    c.cert_len = der_len;
    c.created = (uint64_t)time(NULL);
    if (net_fingerprint(x, c.fp))
        rv = CKR_DEVICE_ERROR;
    else if (!net_cert_current(x))
        rv = CKR_ARGUMENTS_BAD; /* expired or not yet valid: it could never connect */
    X509_free(x);
    if (rv)
        return rv;
    memcpy(fp, c.fp, sizeof c.fp);
    return store_rc(store_client_put(h->store, &c), SFM_R_EXISTS);
}

CK_RV hsm_client_delete(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len, const char *name)
{
    CK_RV rv = hsm_admin_check(h, so_pin, len);
    return rv ? rv : store_rc(store_client_delete(h->store, name), SFM_R_NOT_FOUND);
}

CK_RV hsm_client_revoke(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len, const char *name,
                        bool revoked)
{
    CK_RV rv = hsm_admin_check(h, so_pin, len);
    return rv ? rv
              : store_rc(store_client_set_revoked(h->store, name, revoked), SFM_R_NOT_FOUND);
}

typedef struct find_ctx {
    const char *name;
    const uint8_t *fp;
    hsm_client_info_t *out;
    bool found;
} find_ctx_t;

static void info_from(hsm_client_info_t *o, const store_client_t *c)
{
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", c->name);
    memcpy(o->fp, c->fp, sizeof o->fp);
    o->revoked = c->revoked != 0;
    o->created = c->created;
    X509 *x = net_cert_from_der(c->cert, c->cert_len);
    if (x) {
        net_cert_name(x, o->common_name, sizeof o->common_name);
        o->current = net_cert_current(x);
        const ASN1_TIME *na = X509_get0_notAfter(x);
        struct tm tm;
        if (na && ASN1_TIME_to_tm(na, &tm) == 1)
            strftime(o->not_after, sizeof o->not_after, "%Y-%m-%d", &tm);
        X509_free(x);
    }
}

static int find_cb(void *ctx, const store_client_t *c)
{
    find_ctx_t *f = ctx;
    if ((f->name && strcmp(f->name, c->name)) || (f->fp && memcmp(f->fp, c->fp, 32)))
        return 0;
    info_from(f->out, c);
    f->found = true;
    return 1;
}

static int slots_cb(void *ctx, const char *name, uint32_t token)
{
    hsm_client_info_t *o = ctx;
    if (strcmp(name, o->name) || o->nslots >= HSM_CLIENT_SLOTS_MAX)
        return 0;
    o->slots[o->nslots++] = token;
    return 0;
}

/* The record, with its partitions that still exist. */
static int client_find(hsm_t *h, const char *name, const uint8_t *fp, hsm_client_info_t *out)
{
    find_ctx_t f = { name, fp, out, false };
    if (store_client_load_all(h->store, find_cb, &f) < 0)
        return -1;
    if (!f.found)
        return 1;
    if (store_client_partitions(h->store, slots_cb, out))
        return -1;
    size_t n = 0;
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < out->nslots; i++)
        if (out->slots[i] != HSM_ADMIN_SLOT && token_by_slot(h, out->slots[i]))
            out->slots[n++] = out->slots[i];
    pthread_mutex_unlock(&h->lock);
    out->nslots = n;
    return 0;
}

CK_RV hsm_client_assign(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len, const char *name,
                        const char *partition, bool assigned)
{
    CK_RV rv = hsm_admin_check(h, so_pin, len);
    if (rv)
        return rv;
    pthread_mutex_lock(&h->lock);
    token_t *t = token_by_name(h, partition);
    uint32_t id = t ? t->rec.id : 0;
    pthread_mutex_unlock(&h->lock);
    if (!t || id == HSM_ADMIN_SLOT)
        return SFM_R_NOT_FOUND; /* the Admin Token is never a client's */
    hsm_client_info_t info;
    int rc = client_find(h, name, NULL, &info);
    if (rc)
        return rc > 0 ? SFM_R_NOT_FOUND : CKR_DEVICE_ERROR;
    rc = store_client_assign(h->store, name, id, assigned);
    /* Assigning twice, or taking away what was not given, changes nothing. */
    return rc < 0 ? CKR_DEVICE_ERROR : CKR_OK;
}

int hsm_client_lookup(hsm_t *h, const uint8_t fp[32], hsm_client_info_t *out)
{
    return client_find(h, NULL, fp, out);
}

typedef struct list_ctx {
    hsm_client_info_t *v;
    size_t n, cap;
} list_ctx_t;

static int list_cb(void *ctx, const store_client_t *c)
{
    list_ctx_t *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        hsm_client_info_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    info_from(&l->v[l->n++], c);
    return 0;
}

static int list_slots_cb(void *ctx, const char *name, uint32_t token)
{
    list_ctx_t *l = ctx;
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name))
            slots_cb(&l->v[i], name, token);
    return 0;
}

CK_RV hsm_client_list(hsm_t *h, hsm_client_info_t **list, size_t *n)
{
    list_ctx_t l = { NULL, 0, 0 };
    if (store_client_load_all(h->store, list_cb, &l) ||
        store_client_partitions(h->store, list_slots_cb, &l)) {
        free(l.v);
        return CKR_DEVICE_ERROR;
    }
    *list = l.v;
    *n = l.n;
    return CKR_OK;
}
