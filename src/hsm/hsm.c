/*
 * The HSM as a whole: opening it from the store, the AppIds that use it,
 * its policies, and the HSM SO's administration (partitions, zeroize).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "internal.h"

static const struct {
    const char *name;
    const char *description;
    unsigned long dflt, min, max;
} policies[POL_COUNT] = {
    [POL_SO_TRIES] = { "so-pin-max-tries", "wrong SO PINs before the SO is locked", 3, 1, 100 },
    [POL_USER_TRIES] = { "user-pin-max-tries", "wrong Crypto Officer PINs before lock-out", 10, 1,
                         1000 },
    [POL_ALLOW_FMS] = { "allow-fms", "load and run FMs at all", 1, 0, 1 },
    [POL_UNSIGNED_FMS] = { "allow-unsigned-fms", "load FM images without a signature (development)",
                           0, 0, 1 },
    [POL_RELEASE_ONLY] = { "fm-release-only", "accept RELEASE FM images only (production)", 0, 0,
                           1 },
    [POL_SMFS_AUTO] = { "smfs-auto-activate", "activate the SMFS (and start FMs) at every HSM start",
                        0, 0, 1 },
};

const char *policy_name(enum policy_id id)
{
    return policies[id].name;
}

app_t *app_get(hsm_t *h, app_id_t id, bool create)
{
    app_t *a = hmap_get(&h->apps, id);
    if (a || !create)
        return a;
    a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->id = id;
    if (hmap_put(&h->apps, id, a)) {
        free(a);
        return NULL;
    }
    return a;
}

app_token_t *app_token(app_t *a, uint32_t token_id, bool create)
{
    for (size_t i = 0; i < a->ntoks; i++)
        if (a->toks[i].token_id == token_id)
            return &a->toks[i];
    if (!create)
        return NULL;
    app_token_t *t = realloc(a->toks, (a->ntoks + 1) * sizeof *t);
    if (!t)
        return NULL;
    a->toks = t;
    t = &a->toks[a->ntoks++];
    t->token_id = token_id;
    t->user = NO_USER;
    t->nsessions = 0;
    return t;
}

CK_USER_TYPE login_state(hsm_t *h, app_id_t app, const token_t *tok)
{
    app_t *a = app_get(h, app, false);
    app_token_t *t = a ? app_token(a, tok->rec.id, false) : NULL;
    return t ? t->user : NO_USER;
}

token_t *token_by_slot(hsm_t *h, CK_SLOT_ID slot)
{
    if (slot > UINT32_MAX)
        return NULL;
    token_t *t = hmap_get(&h->tokens, slot);
    return t && !t->deleted ? t : NULL;
}

static void app_free(app_t *a)
{
    free(a->toks);
    free(a);
}

void hsm_app_attach(hsm_t *h, app_id_t app)
{
    pthread_mutex_lock(&h->lock);
    app_t *a = app_get(h, app, true);
    if (a)
        a->refs++;
    pthread_mutex_unlock(&h->lock);
}

bool hsm_app_detach(hsm_t *h, app_id_t app)
{
    bool ended = false;
    pthread_mutex_lock(&h->lock);
    app_t *a = app_get(h, app, false);
    if (a && --a->refs <= 0) {
        app_close_sessions_locked(h, app, NULL);
        app_free(hmap_del(&h->apps, app));
        ended = true;
    }
    pthread_mutex_unlock(&h->lock);
    return ended;
}

void hsm_app_finalize(hsm_t *h, app_id_t app)
{
    pthread_mutex_lock(&h->lock);
    app_close_sessions_locked(h, app, NULL);
    pthread_mutex_unlock(&h->lock);
}

static token_t *token_new(const store_token_t *rec)
{
    token_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->rec = *rec;
    pthread_mutex_init(&t->pin_lock, NULL);
    return t;
}

static void token_free(hsm_t *h, token_t *t)
{
    token_drop_objects_locked(h, t);
    pthread_mutex_destroy(&t->pin_lock);
    secure_zero(&t->rec, sizeof t->rec);
    free(t);
}

/* Take a token out of service: its objects go now, its memory at close. */
static void token_bury(hsm_t *h, token_t *t)
{
    token_drop_objects_locked(h, t);
    t->deleted = true;
    t->grave_next = h->graveyard;
    h->graveyard = t;
}

static int load_token(void *ctx, const store_token_t *rec)
{
    hsm_t *h = ctx;
    token_t *t = token_new(rec);
    if (!t || hmap_put(&h->tokens, rec->id, t)) {
        free(t);
        return -1;
    }
    return 0;
}

static void random_serial(char out[17])
{
    uint8_t b[8];
    if (RAND_bytes(b, sizeof b) != 1)
        memset(b, 0, sizeof b);
    hex_encode(out, b, sizeof b);
}

/* A fresh, uninitialised Admin Token: the slot C_InitToken (softfm hsm init)
   turns into an initialised HSM. */
static int make_admin_token(hsm_t *h)
{
    store_token_t rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.name, sizeof rec.name, "admin");
    pad_copy(rec.label, sizeof rec.label, "");
    random_serial(rec.serial);
    if (store_token_create(h->store, &rec, 1) || load_token(h, &rec))
        return -1;
    return 0;
}

static void load_settings(hsm_t *h)
{
    char buf[64];
    h->initialized = store_meta_get(h->store, "hsm.initialized", buf, sizeof buf) == 0 &&
                     !strcmp(buf, "1");
    if (store_meta_get(h->store, "hsm.label", h->label, sizeof h->label))
        h->label[0] = '\0';
    if (store_meta_get(h->store, "hsm.serial", h->serial, sizeof h->serial)) {
        random_serial(h->serial);
        (void)store_meta_set(h->store, "hsm.serial", h->serial);
    }
    for (int i = 0; i < POL_COUNT; i++) {
        char key[80];
        snprintf(key, sizeof key, "policy.%s", policies[i].name);
        h->policy[i] = policies[i].dflt;
        if (store_meta_get(h->store, key, buf, sizeof buf) == 0) {
            char *end;
            unsigned long v = strtoul(buf, &end, 10);
            if (!*end && v >= policies[i].min && v <= policies[i].max)
                h->policy[i] = v;
        }
    }
}

static int load_all(hsm_t *h)
{
    load_settings(h);
    if (store_token_load_all(h->store, load_token, h))
        return -1;
    if (!hmap_get(&h->tokens, HSM_ADMIN_SLOT) && make_admin_token(h))
        return -1;
    size_t pos = 0;
    void *v;
    while (hmap_next(&h->tokens, &pos, NULL, &v)) {
        token_t *t = v;
        if (store_object_load(h->store, t->rec.id, object_load, t))
            return -1;
        for (object_t *o = t->objects; o; o = o->next)
            if (hmap_put(&h->objects, o->handle, o))
                return -1;
    }
    h->next_object = (CK_ULONG)store_max_handle(h->store) + 1;
    h->next_session = 1;
    return 0;
}

int hsm_open(const char *dir, hsm_t **out)
{
    hsm_t *h = calloc(1, sizeof *h);
    *out = NULL;
    if (!h)
        return -1;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->wlock, NULL);
    hmap_init(&h->tokens);
    hmap_init(&h->sessions);
    hmap_init(&h->objects);
    hmap_init(&h->apps);
    if (store_open(dir, &h->store) || load_all(h)) {
        hsm_close(h);
        return -1;
    }
    /* A store from before the network link has none yet. */
    if (h->initialized && tls_identity_ensure(h))
        log_err("cannot make the HSM's TLS identity");
    *out = h;
    return 0;
}

static void drop_everything(hsm_t *h)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&h->sessions, &pos, NULL, &v))
        session_close_locked(h, v);
    pos = 0;
    while (hmap_next(&h->apps, &pos, NULL, &v))
        app_free(v);
    hmap_free(&h->apps);
    pos = 0;
    while (hmap_next(&h->tokens, &pos, NULL, &v))
        token_bury(h, v);
    hmap_free(&h->tokens);
    hmap_free(&h->sessions);
    hmap_free(&h->objects);
}

void hsm_close(hsm_t *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    drop_everything(h);
    while (h->graveyard) {
        token_t *t = h->graveyard;
        h->graveyard = t->grave_next;
        token_free(h, t);
    }
    pthread_mutex_unlock(&h->lock);
    store_close(h->store);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->wlock);
    free(h);
}

/* ---- administration ---- */

static CK_RV so_check(hsm_t *h, const CK_UTF8CHAR *pin, CK_ULONG len)
{
    pthread_mutex_lock(&h->lock);
    bool init = h->initialized;
    token_t *admin = token_by_slot(h, HSM_ADMIN_SLOT);
    pthread_mutex_unlock(&h->lock);
    if (!init || !admin)
        return SFM_R_NOT_INITIALIZED;
    return pin_check(h, admin, CKU_SO, pin, len);
}

CK_RV hsm_admin_check(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len)
{
    return so_check(h, so_pin, len);
}

int hsm_policy_get(hsm_t *h, const char *name, unsigned long *value)
{
    for (int i = 0; i < POL_COUNT; i++) {
        if (strcmp(name, policies[i].name))
            continue;
        pthread_mutex_lock(&h->lock);
        *value = h->policy[i];
        pthread_mutex_unlock(&h->lock);
        return 0;
    }
    return -1;
}

_Thread_local bool hsm_privileged;

void hsm_set_privileged(bool on)
{
    hsm_privileged = on;
}

store_t *hsm_store(hsm_t *h)
{
    return h->store;
}

bool hsm_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > HSM_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

token_t *token_by_name(hsm_t *h, const char *name)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&h->tokens, &pos, NULL, &v)) {
        token_t *t = v;
        if (!t->deleted && !strcmp(t->rec.name, name))
            return t;
    }
    return NULL;
}

CK_RV hsm_admin_partition_create(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len,
                                 const char *name, CK_SLOT_ID *slot)
{
    CK_RV rv;
    if (!name || !slot)
        return CKR_ARGUMENTS_BAD;
    if (!hsm_name_ok(name) || !strcmp(name, "admin"))
        return SFM_R_BAD_NAME;
    if ((rv = so_check(h, so_pin, len)))
        return rv;
    pthread_mutex_lock(&h->wlock);
    pthread_mutex_lock(&h->lock);
    bool exists = token_by_name(h, name) != NULL;
    pthread_mutex_unlock(&h->lock);
    if (exists) {
        rv = SFM_R_EXISTS;
        goto out;
    }
    store_token_t rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.name, sizeof rec.name, "%s", name);
    pad_copy(rec.label, sizeof rec.label, name);
    random_serial(rec.serial);
    if (store_token_create(h->store, &rec, 0)) {
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    token_t *t = token_new(&rec);
    pthread_mutex_lock(&h->lock);
    if (!t || hmap_put(&h->tokens, rec.id, t)) {
        free(t);
        rv = CKR_HOST_MEMORY;
    } else {
        *slot = rec.id;
    }
    pthread_mutex_unlock(&h->lock);
out:
    pthread_mutex_unlock(&h->wlock);
    return rv;
}

CK_RV hsm_admin_partition_delete(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len,
                                 const char *name)
{
    CK_RV rv;
    if (!name)
        return CKR_ARGUMENTS_BAD;
    if ((rv = so_check(h, so_pin, len)))
        return rv;
    pthread_mutex_lock(&h->wlock);
    pthread_mutex_lock(&h->lock);
    token_t *t = token_by_name(h, name);
    pthread_mutex_unlock(&h->lock);
    if (!t || t->rec.id == HSM_ADMIN_SLOT) {
        rv = SFM_R_NOT_FOUND;
        goto out;
    }
    if (store_token_delete(h->store, t->rec.id)) {
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    pthread_mutex_lock(&h->lock);
    /* Close every AppId's sessions on it; then the token goes. */
    size_t pos = 0;
    void *v;
    while (hmap_next(&h->apps, &pos, NULL, &v))
        app_close_sessions_locked(h, ((app_t *)v)->id, t);
    pos = 0;
    while (hmap_next(&h->sessions, &pos, NULL, &v))
        if (((session_t *)v)->tok == t) {
            session_close_locked(h, v);
            pos = 0;
        }
    hmap_del(&h->tokens, t->rec.id);
    token_bury(h, t);
    pthread_mutex_unlock(&h->lock);
out:
    pthread_mutex_unlock(&h->wlock);
    return rv;
}

CK_RV hsm_admin_zeroize(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len)
{
    CK_RV rv = CKR_OK;
    pthread_mutex_lock(&h->lock);
    token_t *admin = token_by_slot(h, HSM_ADMIN_SLOT);
    bool locked = admin && admin->rec.so_fail >= h->policy[POL_SO_TRIES];
    bool init = h->initialized;
    pthread_mutex_unlock(&h->lock);
    /* A locked-out SO can still zeroize: that is the way back to a usable
       HSM, and it destroys everything the lock protected. */
    if (init && !locked && (rv = so_check(h, so_pin, len)))
        return rv;
    pthread_mutex_lock(&h->wlock);
    pthread_mutex_lock(&h->lock);
    drop_everything(h);
    hmap_init(&h->tokens);
    hmap_init(&h->sessions);
    hmap_init(&h->objects);
    hmap_init(&h->apps);
    if (store_wipe(h->store) || (load_settings(h), make_admin_token(h)))
        rv = CKR_DEVICE_ERROR;
    h->next_object = 1;
    h->tls_gen++; /* the TLS identity went with the store */
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&h->wlock);
    log_info("the HSM was zeroized");
    return rv;
}

CK_RV hsm_admin_policy_set(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len,
                           const char *name, unsigned long value)
{
    CK_RV rv;
    int id = -1;
    for (int i = 0; i < POL_COUNT && name; i++)
        if (!strcmp(name, policies[i].name))
            id = i;
    if (id < 0)
        return SFM_R_NOT_FOUND;
    if (value < policies[id].min || value > policies[id].max)
        return CKR_ARGUMENTS_BAD;
    if ((rv = so_check(h, so_pin, len)))
        return rv;
    char key[80], val[32];
    snprintf(key, sizeof key, "policy.%s", policies[id].name);
    snprintf(val, sizeof val, "%lu", value);
    pthread_mutex_lock(&h->wlock);
    if (store_meta_set(h->store, key, val)) {
        rv = CKR_DEVICE_ERROR;
    } else {
        pthread_mutex_lock(&h->lock);
        h->policy[id] = value;
        pthread_mutex_unlock(&h->lock);
        log_info("policy %s set to %lu", policies[id].name, value);
    }
    pthread_mutex_unlock(&h->wlock);
    return rv;
}

static int cmp_part(const void *a, const void *b)
{
    const hsm_partition_info_t *x = a, *y = b;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

CK_RV hsm_admin_info(hsm_t *h, hsm_info_t *info)
{
    memset(info, 0, sizeof *info);
    info->policies = calloc(POL_COUNT, sizeof *info->policies);
    if (!info->policies)
        return CKR_HOST_MEMORY;
    pthread_mutex_lock(&h->lock);
    info->initialized = h->initialized;
    snprintf(info->label, sizeof info->label, "%s", h->label);
    snprintf(info->serial, sizeof info->serial, "%s", h->serial);
    info->fw_major = HSM_FW_MAJOR;
    info->fw_minor = HSM_FW_MINOR;
    for (int i = 0; i < POL_COUNT; i++) {
        info->policies[i].name = policies[i].name;
        info->policies[i].description = policies[i].description;
        info->policies[i].value = h->policy[i];
    }
    info->npolicies = POL_COUNT;
    info->partitions = calloc(h->tokens.count ? h->tokens.count : 1, sizeof *info->partitions);
    if (!info->partitions) {
        pthread_mutex_unlock(&h->lock);
        hsm_admin_info_free(info);
        return CKR_HOST_MEMORY;
    }
    size_t pos = 0;
    void *v;
    while (hmap_next(&h->tokens, &pos, NULL, &v)) {
        token_t *t = v;
        hsm_partition_info_t *p = &info->partitions[info->npartitions++];
        p->slot = t->rec.id;
        snprintf(p->name, sizeof p->name, "%s", t->rec.name);
        pad_trim(p->label, t->rec.label, sizeof t->rec.label);
        snprintf(p->serial, sizeof p->serial, "%s", t->rec.serial);
        p->initialized = t->rec.initialized;
        p->user_pin_set = pin_is_set(t->rec.user_pin);
        p->objects = t->nobjects_token;
    }
    pthread_mutex_unlock(&h->lock);
    qsort(info->partitions, info->npartitions, sizeof *info->partitions, cmp_part);
    return CKR_OK;
}

void hsm_admin_info_free(hsm_info_t *info)
{
    free(info->policies);
    free(info->partitions);
    memset(info, 0, sizeof *info);
}
