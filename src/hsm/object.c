/*
 * Objects: creation, copies, destruction, attributes and search.
 *
 * Visibility: a session sees the token objects of its token and the session
 * objects its AppId made there; private objects only while its AppId is
 * logged in as the Crypto Officer. An object a session cannot see answers
 * CKR_OBJECT_HANDLE_INVALID, exactly as one that does not exist.
 *
 * Token objects are written to the store before the reply: the change is
 * durable when the application hears CKR_OK.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void object_free(object_t *o)
{
    if (!o)
        return;
    EVP_PKEY_free(o->pkey);
    attrs_free(o);
    free(o);
}

void object_link_locked(hsm_t *h, object_t *o)
{
    o->next = o->tok->objects;
    o->prev = NULL;
    if (o->next)
        o->next->prev = o;
    o->tok->objects = o;
    if (o->on_token)
        o->tok->nobjects_token++;
    (void)hmap_put(&h->objects, o->handle, o);
}

void object_unlink_locked(hsm_t *h, object_t *o)
{
    if (o->prev)
        o->prev->next = o->next;
    else
        o->tok->objects = o->next;
    if (o->next)
        o->next->prev = o->prev;
    if (o->on_token)
        o->tok->nobjects_token--;
    hmap_del(&h->objects, o->handle);
}

void token_drop_objects_locked(hsm_t *h, token_t *tok)
{
    while (tok->objects) {
        object_t *o = tok->objects;
        object_unlink_locked(h, o);
        object_free(o);
    }
}

void session_drop_objects_locked(hsm_t *h, session_t *s)
{
    object_t *o = s->tok->objects;
    while (o) {
        object_t *next = o->next;
        if (!o->on_token && o->session == s->handle) {
            object_unlink_locked(h, o);
            object_free(o);
        }
        o = next;
    }
}

/* ---- serialisation for the store ---- */

static int serialise(const object_t *o, wbuf_t *b)
{
    wb_u32(b, (uint32_t)o->nattrs);
    for (size_t i = 0; i < o->nattrs; i++) {
        wb_u64(b, o->attrs[i].type);
        wb_bytes(b, o->attrs[i].val, o->attrs[i].len);
    }
    return b->err ? -1 : 0;
}

int object_load(void *ctx, uint64_t handle, const uint8_t *p, size_t n)
{
    token_t *tok = ctx;
    rbuf_t r;
    rb_init(&r, p, n);
    object_t *o = calloc(1, sizeof *o);
    uint32_t count = rb_u32(&r);
    if (!o || r.err || count > 4096)
        goto bad;
    o->attrs = calloc(count ? count : 1, sizeof *o->attrs);
    if (!o->attrs)
        goto bad;
    for (uint32_t i = 0; i < count; i++) {
        attr_t *a = &o->attrs[i];
        a->type = (CK_ATTRIBUTE_TYPE)rb_u64(&r);
        size_t len;
        const uint8_t *v = rb_bytes(&r, &len);
        if (r.err)
            goto bad;
        a->val = malloc(len ? len : 1);
        if (!a->val)
            goto bad;
        if (len)
            memcpy(a->val, v, len);
        a->len = len;
        o->nattrs++;
    }
    if (!rb_done(&r))
        goto bad;
    o->handle = (CK_OBJECT_HANDLE)handle;
    o->tok = tok;
    o->on_token = true;
    o->priv = obj_bool(o, CKA_PRIVATE, false);
    /* Called while the HSM is being opened: nobody else can see it yet;
       hsm.c indexes the handles once the token is loaded. */
    o->next = tok->objects;
    if (o->next)
        o->next->prev = o;
    tok->objects = o;
    tok->nobjects_token++;
    return 0;
bad:
    log_err("a stored object of partition %u is malformed", tok->rec.id);
    object_free(o);
    return -1;
}

/* Store a token object's current state (h->wlock held). */
static CK_RV persist(hsm_t *h, const object_t *o)
{
    wbuf_t b;
    wb_init(&b);
    size_t len;
    CK_RV rv = CKR_DEVICE_ERROR;
    if (serialise(o, &b) == 0) {
        const uint8_t *p = wb_payload(&b, &len);
        if (store_object_put(h->store, o->tok->rec.id, o->handle, p, len) == 0)
            rv = CKR_OK;
    } else {
        rv = CKR_HOST_MEMORY;
    }
    secure_zero(b.p, b.len);
    wb_free(&b);
    return rv;
}

/* Find an object the session may see (h->lock held). */
static CK_RV object_get_locked(hsm_t *h, const session_t *s, CK_OBJECT_HANDLE handle,
                               object_t **out)
{
    object_t *o = hmap_get(&h->objects, handle);
    if (!o || o->tok != s->tok || (!o->on_token && o->owner != s->app))
        return CKR_OBJECT_HANDLE_INVALID;
    if (o->priv && login_state(h, s->app, s->tok) != CKU_USER)
        return CKR_OBJECT_HANDLE_INVALID;
    *out = o;
    return CKR_OK;
}

/* The session and its caller's role, with a reference held. */
static CK_RV enter(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, session_t **s,
                   CK_USER_TYPE *who)
{
    CK_RV rv = session_get(h, app, handle, s);
    if (rv == CKR_OK)
        *who = login_state(h, app, (*s)->tok);
    return rv;
}

/* Changes to the Admin Token's objects go to the audit log (its
   certificates decide which FMs run): the object, told while it is safe to
   read, then the record written without h->lock. */
static void describe(const object_t *o, char *buf, size_t cap)
{
    const attr_t *label = obj_attr(o, CKA_LABEL);
    int ll = label && label->len < 64 ? (int)label->len : 0;
    snprintf(buf, cap, "Admin Token object %lu (class %lu, label \"%.*s\")",
             (unsigned long)o->handle, (unsigned long)obj_ulong(o, CKA_CLASS, 0), ll,
             ll ? (const char *)label->val : "");
}

/* The Admin Token's objects (the FM signers' certificates among them) are
   the HSM SO's to make, change and destroy. */
static bool admin_guarded(const object_t *o, CK_USER_TYPE who)
{
    return o->on_token && o->tok && o->tok->rec.id == 0 && who != CKU_SO;
}

CK_RV object_insert(hsm_t *h, session_t *s, object_t *o, CK_USER_TYPE who, CK_OBJECT_HANDLE *out)
{
    if (o->priv && who != CKU_USER)
        return CKR_USER_NOT_LOGGED_IN;
    if (o->on_token && !(s->flags & CKF_RW_SESSION))
        return CKR_SESSION_READ_ONLY;
    if (o->on_token && s->tok->rec.id == 0 && who != CKU_SO)
        return CKR_USER_NOT_LOGGED_IN; /* the Admin Token: the HSM SO only */
    pthread_mutex_lock(&h->lock);
    o->handle = h->next_object++;
    o->tok = s->tok;
    o->owner = s->app;
    o->session = s->handle;
    pthread_mutex_unlock(&h->lock);
    if (o->on_token) {
        CK_RV rv = persist(h, o);
        if (rv)
            return rv;
    }
    /* Once linked and h->lock dropped, the object belongs to the token: a
       re-initialisation or a destroy in another thread may free it. What
       the audit needs is told before that. */
    bool on_token = o->on_token;
    CK_OBJECT_HANDLE handle = o->handle;
    bool audited = on_token && o->tok->rec.id == 0;
    char d[160] = "";
    if (audited)
        describe(o, d, sizeof d);
    pthread_mutex_lock(&h->lock);
    CK_RV rv = CKR_OK;
    if (s->closed)
        rv = CKR_SESSION_CLOSED;
    else if (login_state(h, s->app, s->tok) != who)
        rv = CKR_USER_NOT_LOGGED_IN;
    if (rv == CKR_OK) {
        object_link_locked(h, o);
        *out = o->handle;
    }
    pthread_mutex_unlock(&h->lock);
    if (rv && on_token)
        (void)store_object_delete(h->store, handle);
    if (rv == CKR_OK && audited)
        hsm_audit(h, s->app, "%s created", d);
    return rv;
}

CK_RV object_add(hsm_t *h, session_t *s, object_t *o, CK_USER_TYPE who, CK_OBJECT_HANDLE *out)
{
    bool tok_obj = o->on_token;
    if (tok_obj)
        pthread_mutex_lock(&h->wlock);
    CK_RV rv = object_insert(h, s, o, who, out);
    if (tok_obj)
        pthread_mutex_unlock(&h->wlock);
    return rv;
}

CK_RV hsm_create_object(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_ATTRIBUTE *t,
                        CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    session_t *s;
    CK_USER_TYPE who;
    CK_RV rv;
    if (!out || (n && !t))
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    rv = enter(h, app, handle, &s, &who);
    pthread_mutex_unlock(&h->lock);
    if (rv)
        return rv;
    object_t *o = calloc(1, sizeof *o);
    if (!o) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if ((rv = attrs_build(t, n, who, NULL, o)))
        goto out;
    if ((rv = object_add(h, s, o, who, out)) == CKR_OK)
        o = NULL;
out:
    object_free(o);
    pthread_mutex_lock(&h->lock);
    session_put(h, s);
    pthread_mutex_unlock(&h->lock);
    return rv;
}

CK_RV hsm_copy_object(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, CK_OBJECT_HANDLE src,
                      const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    session_t *s;
    CK_USER_TYPE who;
    object_t *from, *o = NULL;
    if (!out || (n && !t))
        return CKR_ARGUMENTS_BAD;
    o = calloc(1, sizeof *o);
    if (!o)
        return CKR_HOST_MEMORY;
    pthread_mutex_lock(&h->lock);
    CK_RV rv = enter(h, app, handle, &s, &who);
    if (rv) {
        pthread_mutex_unlock(&h->lock);
        free(o);
        return rv;
    }
    rv = object_get_locked(h, s, src, &from);
    if (rv == CKR_OK && !obj_bool(from, CKA_COPYABLE, true))
        rv = CKR_ACTION_PROHIBITED;
    if (rv == CKR_OK)
        rv = attrs_check_change(from, t, n, who, true);
    if (rv == CKR_OK)
        rv = attrs_clone(from, o);
    pthread_mutex_unlock(&h->lock);
    if (rv == CKR_OK && (rv = attrs_apply(o, t, n)) == CKR_OK) {
        if ((rv = object_add(h, s, o, who, out)) == CKR_OK)
            o = NULL;
    }
    object_free(o);
    pthread_mutex_lock(&h->lock);
    session_put(h, s);
    pthread_mutex_unlock(&h->lock);
    return rv;
}

/*
 * Look up a visible object for a change. For a token object this returns
 * with h->wlock held (so it cannot vanish while the store is written) and
 * *locked_w set; always with h->lock released and a session reference held.
 */
static CK_RV enter_change(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle,
                          CK_OBJECT_HANDLE oh, session_t **s, CK_USER_TYPE *who, object_t **o,
                          bool *locked_w)
{
    *locked_w = false;
    pthread_mutex_lock(&h->lock);
    CK_RV rv = enter(h, app, handle, s, who);
    if (rv) {
        pthread_mutex_unlock(&h->lock);
        return rv;
    }
    rv = object_get_locked(h, *s, oh, o);
    bool tok_obj = rv == CKR_OK && (*o)->on_token;
    pthread_mutex_unlock(&h->lock);
    if (rv == CKR_OK && tok_obj) {
        pthread_mutex_lock(&h->wlock);
        *locked_w = true;
        pthread_mutex_lock(&h->lock);
        rv = object_get_locked(h, *s, oh, o);  /* it may have gone meanwhile */
        pthread_mutex_unlock(&h->lock);
    }
    return rv;
}

static void leave_change(hsm_t *h, session_t *s, bool locked_w)
{
    if (locked_w)
        pthread_mutex_unlock(&h->wlock);
    pthread_mutex_lock(&h->lock);
    session_put(h, s);
    pthread_mutex_unlock(&h->lock);
}

/* What a destroy or a change of a found object needs (h->lock held): that
   it is still there, a read/write session for a token object, the HSM SO
   for the Admin Token's, and the object's own CKA_DESTROYABLE or
   CKA_MODIFIABLE. */
static CK_RV change_allowed_locked(hsm_t *h, const session_t *s, CK_OBJECT_HANDLE oh,
                                   const object_t *o, CK_USER_TYPE who, CK_ATTRIBUTE_TYPE may)
{
    if (hmap_get(&h->objects, oh) != o)
        return CKR_OBJECT_HANDLE_INVALID;
    if (o->on_token && !(s->flags & CKF_RW_SESSION))
        return CKR_SESSION_READ_ONLY;
    if (admin_guarded(o, who))
        return CKR_USER_NOT_LOGGED_IN;
    return obj_bool(o, may, true) ? CKR_OK : CKR_ACTION_PROHIBITED;
}

CK_RV hsm_destroy_object(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, CK_OBJECT_HANDLE oh)
{
    session_t *s;
    CK_USER_TYPE who;
    object_t *o;
    bool w;
    CK_RV rv = enter_change(h, app, handle, oh, &s, &who, &o, &w);
    if (rv == CKR_SESSION_HANDLE_INVALID)
        return rv;
    /* A token object is held by h->wlock; a session object only by h->lock
       (its session may close in another thread), so it is read under it. */
    bool on_token = false;
    char audited[160] = "";
    if (rv == CKR_OK) {
        pthread_mutex_lock(&h->lock);
        rv = change_allowed_locked(h, s, oh, o, who, CKA_DESTROYABLE);
        if (rv == CKR_OK) {
            on_token = o->on_token;
            if (on_token && o->tok->rec.id == 0)
                describe(o, audited, sizeof audited);
        }
        pthread_mutex_unlock(&h->lock);
    }
    if (rv == CKR_OK && on_token && store_object_delete(h->store, oh))
        rv = CKR_DEVICE_ERROR;
    if (rv == CKR_OK) {
        pthread_mutex_lock(&h->lock);
        /* A session object may have gone with its session meanwhile. */
        if (hmap_get(&h->objects, oh) == o) {
            object_unlink_locked(h, o);
            object_free(o);
        } else {
            rv = CKR_OBJECT_HANDLE_INVALID;
        }
        pthread_mutex_unlock(&h->lock);
    }
    if (rv == CKR_OK && audited[0])
        hsm_audit(h, app, "%s destroyed", audited);
    leave_change(h, s, w);
    return rv;
}

CK_RV hsm_set_attribute_value(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle,
                              CK_OBJECT_HANDLE oh, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    session_t *s;
    CK_USER_TYPE who;
    object_t *o, tmp;
    bool w;
    char audited[160] = "";
    if (n && !t)
        return CKR_ARGUMENTS_BAD;
    memset(&tmp, 0, sizeof tmp);
    CK_RV rv = enter_change(h, app, handle, oh, &s, &who, &o, &w);
    if (rv == CKR_SESSION_HANDLE_INVALID)
        return rv;
    if (rv)
        goto out;
    pthread_mutex_lock(&h->lock);
    rv = change_allowed_locked(h, s, oh, o, who, CKA_MODIFIABLE);
    if (rv == CKR_OK && (rv = attrs_check_change(o, t, n, who, false)) == CKR_OK)
        rv = attrs_clone(o, &tmp);
    if (rv == CKR_OK) {
        tmp.handle = o->handle;
        tmp.tok = o->tok;
        tmp.on_token = o->on_token;
    }
    pthread_mutex_unlock(&h->lock);
    if (rv == CKR_OK)
        rv = attrs_apply(&tmp, t, n);
    if (rv == CKR_OK && tmp.on_token)
        rv = persist(h, &tmp);
    if (rv == CKR_OK) {
        pthread_mutex_lock(&h->lock);
        if (hmap_get(&h->objects, oh) == o) {
            attrs_free(o);
            o->attrs = tmp.attrs;
            o->nattrs = tmp.nattrs;
            o->priv = tmp.priv;
            tmp.attrs = NULL;
            tmp.nattrs = 0;
            if (o->on_token && o->tok->rec.id == 0)
                describe(o, audited, sizeof audited);
        } else {
            rv = CKR_OBJECT_HANDLE_INVALID;
        }
        pthread_mutex_unlock(&h->lock);
    }
    if (audited[0])
        hsm_audit(h, app, "%s changed", audited);
out:
    attrs_free(&tmp);
    leave_change(h, s, w);
    return rv;
}

CK_RV hsm_get_object_size(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, CK_OBJECT_HANDLE oh,
                          CK_ULONG *size)
{
    session_t *s;
    CK_USER_TYPE who;
    object_t *o;
    if (!size)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    CK_RV rv = enter(h, app, handle, &s, &who);
    if (rv == CKR_OK) {
        if ((rv = object_get_locked(h, s, oh, &o)) == CKR_OK) {
            CK_ULONG total = 4;
            for (size_t i = 0; i < o->nattrs; i++)
                total += 12 + o->attrs[i].len;
            *size = total;
        }
        session_put(h, s);
    }
    pthread_mutex_unlock(&h->lock);
    return rv;
}

CK_RV hsm_get_attribute_value(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle,
                              CK_OBJECT_HANDLE oh, CK_ATTRIBUTE *t, CK_ULONG n)
{
    session_t *s;
    CK_USER_TYPE who;
    object_t *o;
    if (n && !t)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    CK_RV rv = enter(h, app, handle, &s, &who);
    if (rv) {
        pthread_mutex_unlock(&h->lock);
        return rv;
    }
    if ((rv = object_get_locked(h, s, oh, &o)) == CKR_OK) {
        for (CK_ULONG i = 0; i < n; i++) {
            const attr_t *a = obj_attr(o, t[i].type);
            CK_RV r = CKR_OK;
            if (!a)
                r = CKR_ATTRIBUTE_TYPE_INVALID;
            else if (!attr_readable(o, a->type))
                r = CKR_ATTRIBUTE_SENSITIVE;
            else if (t[i].pValue && t[i].ulValueLen < a->len)
                r = CKR_BUFFER_TOO_SMALL;
            if (r) {
                t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
                if (rv == CKR_OK)
                    rv = r;
                continue;
            }
            if (t[i].pValue && a->len)
                memcpy(t[i].pValue, a->val, a->len);
            t[i].ulValueLen = a->len;
        }
    }
    session_put(h, s);
    pthread_mutex_unlock(&h->lock);
    return rv;
}

/* Does the object match every template entry? Sensitive values never
   match, so a search cannot be used to guess them. */
bool object_matches(const object_t *o, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    for (CK_ULONG i = 0; i < n; i++) {
        const attr_t *a = obj_attr(o, t[i].type);
        if (!a || !attr_readable(o, a->type))
            return false;
        if (t[i].ulValueLen == 1 && attr_is_bool(o, a->type)) {
            /* Booleans compare by truth, however the application spelt it. */
            if ((a->val[0] != 0) == (*(const CK_BYTE *)t[i].pValue != 0))
                continue;
            return false;
        }
        if (a->len != t[i].ulValueLen || (a->len && memcmp(a->val, t[i].pValue, a->len)))
            return false;
    }
    return true;
}

CK_RV hsm_find_objects_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle,
                            const CK_ATTRIBUTE *t, CK_ULONG n)
{
    session_t *s;
    CK_USER_TYPE who;
    if (n && !t)
        return CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; i < n; i++)
        if (t[i].ulValueLen && !t[i].pValue)
            return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    CK_RV rv = enter(h, app, handle, &s, &who);
    if (rv) {
        pthread_mutex_unlock(&h->lock);
        return rv;
    }
    if (s->finding) {
        rv = CKR_OPERATION_ACTIVE;
        goto out;
    }
    size_t cap = 16, count = 0;
    CK_OBJECT_HANDLE *found = malloc(cap * sizeof *found);
    for (object_t *o = s->tok->objects; o && found; o = o->next) {
        if (!o->on_token && o->owner != app)
            continue;
        if (o->priv && who != CKU_USER)
            continue;
        if (!object_matches(o, t, n))
            continue;
        if (count == cap) {
            CK_OBJECT_HANDLE *g = realloc(found, 2 * cap * sizeof *g);
            if (!g) {
                free(found);
                found = NULL;
                break;
            }
            found = g;
            cap *= 2;
        }
        found[count++] = o->handle;
    }
    if (!found) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    free(s->found);
    s->found = found;
    s->nfound = count;
    s->found_pos = 0;
    s->finding = true;
out:
    session_put(h, s);
    pthread_mutex_unlock(&h->lock);
    return rv;
}

CK_RV hsm_find_objects(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, CK_OBJECT_HANDLE *out,
                       CK_ULONG max, CK_ULONG *count)
{
    session_t *s;
    CK_USER_TYPE who;
    if (!out || !count)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    CK_RV rv = enter(h, app, handle, &s, &who);
    if (rv) {
        pthread_mutex_unlock(&h->lock);
        return rv;
    }
    if (!s->finding) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else {
        CK_ULONG n = 0;
        object_t *o;
        while (n < max && s->found_pos < s->nfound) {
            CK_OBJECT_HANDLE oh = s->found[s->found_pos++];
            /* Skip what was destroyed or hidden since the search began. */
            if (object_get_locked(h, s, oh, &o) == CKR_OK)
                out[n++] = oh;
        }
        *count = n;
    }
    session_put(h, s);
    pthread_mutex_unlock(&h->lock);
    return rv;
}

CK_RV hsm_find_objects_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle)
{
    session_t *s;
    CK_USER_TYPE who;
    pthread_mutex_lock(&h->lock);
    CK_RV rv = enter(h, app, handle, &s, &who);
    if (rv == CKR_OK) {
        if (!s->finding) {
            rv = CKR_OPERATION_NOT_INITIALIZED;
        } else {
            free(s->found);
            s->found = NULL;
            s->nfound = s->found_pos = 0;
            s->finding = false;
        }
        session_put(h, s);
    }
    pthread_mutex_unlock(&h->lock);
    return rv;
}

CK_RV key_for_use(hsm_t *h, session_t *s, CK_OBJECT_HANDLE key, CK_ATTRIBUTE_TYPE usage,
                  CK_MECHANISM_TYPE mech, key_use_t *out)
{
    object_t *o;
    CK_RV rv = CKR_OK;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&h->lock);
    if (object_get_locked(h, s, key, &o)) {
        rv = CKR_KEY_HANDLE_INVALID;
        goto out;
    }
    out->cls = obj_ulong(o, CKA_CLASS, CK_UNAVAILABLE_INFORMATION);
    out->type = obj_ulong(o, CKA_KEY_TYPE, CK_UNAVAILABLE_INFORMATION);
    out->always_sensitive = obj_bool(o, CKA_ALWAYS_SENSITIVE, false);
    out->never_extractable = obj_bool(o, CKA_NEVER_EXTRACTABLE, false);
    out->always_authenticate = out->cls == CKO_PRIVATE_KEY &&
                               obj_bool(o, CKA_ALWAYS_AUTHENTICATE, false);
    if (out->cls != CKO_SECRET_KEY && out->cls != CKO_PUBLIC_KEY && out->cls != CKO_PRIVATE_KEY) {
        rv = CKR_KEY_HANDLE_INVALID;
        goto out;
    }
    if (usage != KEY_USE_ANY && !hsm_privileged && !obj_bool(o, usage, false)) {
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
        goto out;
    }
    /* CKA_ALLOWED_MECHANISMS, when given, is the whole list. */
    const attr_t *allowed = obj_attr(o, CKA_ALLOWED_MECHANISMS);
    if (allowed && allowed->len) {
        bool found = false;
        for (size_t i = 0; i + sizeof(CK_ULONG) <= allowed->len; i += sizeof(CK_ULONG)) {
            CK_ULONG m;
            memcpy(&m, allowed->val + i, sizeof m);
            found |= m == mech;
        }
        if (!found) {
            rv = CKR_MECHANISM_INVALID;
            goto out;
        }
    }
    if (out->cls != CKO_SECRET_KEY) {
        if (!(out->pkey = pkey_of(o))) {
            rv = CKR_KEY_TYPE_INCONSISTENT; /* its components make no usable key */
            goto out;
        }
        const attr_t *ecp = obj_attr(o, CKA_EC_PARAMS);
        const char *curve;
        if (ecp && pkey_curve(ecp->val, ecp->len, &curve, &out->field_bytes))
            out->field_bytes = 0;
        goto out;
    }
    const attr_t *v = obj_attr(o, CKA_VALUE);
    if (out->cls == CKO_SECRET_KEY && v) {
        out->value = malloc(v->len ? v->len : 1);
        if (!out->value) {
            rv = CKR_HOST_MEMORY;
            goto out;
        }
        memcpy(out->value, v->val, v->len);
        out->len = v->len;
    }
out:
    pthread_mutex_unlock(&h->lock);
    return rv;
}

void key_use_free(key_use_t *k)
{
    if (k->value) {
        secure_zero(k->value, k->len);
        free(k->value);
    }
    EVP_PKEY_free(k->pkey);
    memset(k, 0, sizeof *k);
}

void object_discard(hsm_t *h, CK_OBJECT_HANDLE handle)
{
    pthread_mutex_lock(&h->lock);
    object_t *o = hmap_get(&h->objects, handle);
    if (o)
        object_unlink_locked(h, o);
    pthread_mutex_unlock(&h->lock);
    if (o && o->on_token)
        (void)store_object_delete(h->store, handle);
    object_free(o);
}

int object_find_visible(hsm_t *h, const session_t *s, CK_OBJECT_HANDLE handle, object_t **out)
{
    return object_get_locked(h, s, handle, out) == CKR_OK ? 0 : -1;
}

/* Calls fn for each certificate on the Admin Token (h->lock held) with its
   DER, its label and the SHA-256 of its DER, until fn returns non-zero. */
static int each_admin_cert(hsm_t *h, int (*fn)(void *ctx, const attr_t *der, const attr_t *label,
                                               const uint8_t md[32]),
                           void *ctx)
{
    int rc = 1;
    pthread_mutex_lock(&h->lock);
    token_t *admin = token_by_slot(h, HSM_ADMIN_SLOT);
    for (object_t *o = admin ? admin->objects : NULL; o && rc == 1; o = o->next) {
        const attr_t *v = obj_attr(o, CKA_VALUE);
        if (!o->on_token || obj_ulong(o, CKA_CLASS, 0) != CKO_CERTIFICATE || !v || !v->len)
            continue;
        uint8_t md[32];
        unsigned int ml = 0;
        if (EVP_Digest(v->val, v->len, md, &ml, EVP_sha256(), NULL) != 1)
            continue;
        rc = fn(ctx, v, obj_attr(o, CKA_LABEL), md);
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

typedef struct cert_query {
    const uint8_t *sha256;     /* find by hash ... */
    const char *label;         /* ... or by label */
    size_t label_len;
    uint8_t **der;
    size_t *len;
    uint8_t *sha_out;
    char *label_out;
    size_t label_cap;
} cert_query_t;

static int match_cert(void *ctx, const attr_t *der, const attr_t *label, const uint8_t md[32])
{
    cert_query_t *q = ctx;
    if (q->sha256 && memcmp(md, q->sha256, 32))
        return 1;
    if (q->label && (!label || label->len != q->label_len ||
                     memcmp(label->val, q->label, q->label_len)))
        return 1;
    if (q->der) {
        if (!(*q->der = malloc(der->len)))
            return -1;
        memcpy(*q->der, der->val, der->len);
        *q->len = der->len;
    }
    if (q->sha_out)
        memcpy(q->sha_out, md, 32);
    if (q->label_out) {
        size_t n = label && label->len < q->label_cap ? label->len : 0;
        if (n)
            memcpy(q->label_out, label->val, n);
        q->label_out[n] = '\0';
    }
    return 0;
}

int hsm_admin_cert(hsm_t *h, const uint8_t sha256[32], uint8_t **der, size_t *len)
{
    *der = NULL;
    cert_query_t q = { .sha256 = sha256, .der = der, .len = len };
    return each_admin_cert(h, match_cert, &q);
}

int hsm_admin_cert_label(hsm_t *h, const uint8_t sha256[32], char *label, size_t cap)
{
    label[0] = '\0';
    cert_query_t q = { .sha256 = sha256, .label_out = label, .label_cap = cap };
    return each_admin_cert(h, match_cert, &q);
}

int hsm_admin_cert_by_label(hsm_t *h, const char *label, size_t len, uint8_t sha256[32])
{
    cert_query_t q = { .label = label, .label_len = len, .sha_out = sha256 };
    return each_admin_cert(h, match_cert, &q);
}
