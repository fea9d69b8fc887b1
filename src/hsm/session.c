/*
 * Sessions and login state.
 *
 * A session belongs to the AppId that opened it: any other AppId that names
 * its handle gets CKR_SESSION_HANDLE_INVALID. Login state belongs to an AppId
 * and a token, shared by all that AppId's sessions on the token, and ends
 * when its last session there closes.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_SESSIONS_PER_APP 65536

CK_RV session_get(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, session_t **out)
{
    session_t *s = hmap_get(&h->sessions, handle);
    if (!s || s->app != app || s->closed)
        return CKR_SESSION_HANDLE_INVALID;
    s->refs++;
    *out = s;
    return CKR_OK;
}

static void session_free(session_t *s)
{
    free(s->found);
    EVP_MD_CTX_free(s->md);
    crypt_op_free(&s->crypt[HSM_ENCRYPT]);
    crypt_op_free(&s->crypt[HSM_DECRYPT]);
    sign_op_end(&s->sign[HSM_SIGN]);
    sign_op_end(&s->sign[HSM_VERIFY]);
    sign_op_end(&s->recover[HSM_SIGN]);
    sign_op_end(&s->recover[HSM_VERIFY]);
    free(s);
}

void session_put(hsm_t *h, session_t *s)
{
    (void)h;
    if (--s->refs == 0 && s->closed)
        session_free(s);
}

/* Check out a session for work outside the lock. */
CK_RV session_checkout(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, session_t **out)
{
    pthread_mutex_lock(&h->lock);
    CK_RV rv = session_get(h, app, handle, out);
    if (rv == CKR_OK && (*out)->busy) {
        session_put(h, *out);
        rv = CKR_OPERATION_ACTIVE; /* another thread is using this session */
    } else if (rv == CKR_OK) {
        (*out)->busy = true;
    }
    pthread_mutex_unlock(&h->lock);
    return rv;
}

void session_checkin(hsm_t *h, session_t *s)
{
    pthread_mutex_lock(&h->lock);
    s->busy = false;
    session_put(h, s);
    pthread_mutex_unlock(&h->lock);
}

CK_STATE session_state(hsm_t *h, const session_t *s)
{
    bool rw = s->flags & CKF_RW_SESSION;
    switch (login_state(h, s->app, s->tok)) {
    case CKU_SO:
        return CKS_RW_SO_FUNCTIONS;
    case CKU_USER:
        return rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
    default:
        return rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
    }
}

void session_close_locked(hsm_t *h, session_t *s)
{
    if (s->closed)
        return;
    hmap_del(&h->sessions, s->handle);
    session_drop_objects_locked(h, s);
    token_t *tok = s->tok;
    tok->nsessions--;
    if (s->flags & CKF_RW_SESSION)
        tok->nrw--;
    app_t *a = app_get(h, s->app, false);
    app_token_t *at = a ? app_token(a, tok->rec.id, false) : NULL;
    if (at && at->nsessions && --at->nsessions == 0)
        at->user = NO_USER; /* the last session of the AppId ends its login */
    s->closed = true;
    s->refs++;
    session_put(h, s);
}

void app_close_sessions_locked(hsm_t *h, app_id_t app, token_t *only)
{
    size_t n = 0, pos = 0;
    void *v;
    session_t **list = malloc((h->sessions.count + 1) * sizeof *list);
    if (!list)
        return;
    while (hmap_next(&h->sessions, &pos, NULL, &v)) {
        session_t *s = v;
        if (s->app == app && (!only || s->tok == only))
            list[n++] = s;
    }
    for (size_t i = 0; i < n; i++)
        session_close_locked(h, list[i]);
    free(list);
}

CK_RV hsm_open_session(hsm_t *h, app_id_t app, CK_SLOT_ID slot, CK_FLAGS flags,
                       CK_SESSION_HANDLE *out)
{
    CK_RV rv = CKR_OK;
    if (!out)
        return CKR_ARGUMENTS_BAD;
    if (!(flags & CKF_SERIAL_SESSION))
        return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    session_t *s = calloc(1, sizeof *s);
    if (!s)
        return CKR_HOST_MEMORY;
    pthread_mutex_lock(&h->lock);
    token_t *tok = token_by_slot(h, slot);
    app_t *a = app_get(h, app, true);
    app_token_t *at = a && tok ? app_token(a, tok->rec.id, true) : NULL;
    if (!tok)
        rv = CKR_SLOT_ID_INVALID;
    else if (!tok->rec.initialized)
        rv = CKR_TOKEN_NOT_RECOGNIZED;
    else if (!at)
        rv = CKR_HOST_MEMORY;
    else if (!(flags & CKF_RW_SESSION) && at->user == CKU_SO)
        rv = CKR_SESSION_READ_WRITE_SO_EXISTS;
    else if (at->nsessions >= MAX_SESSIONS_PER_APP)
        rv = CKR_SESSION_COUNT;
    if (rv == CKR_OK) {
        s->handle = h->next_session++;
        if (h->next_session == 0)
            h->next_session = 1;
        s->app = app;
        s->tok = tok;
        s->flags = (flags & CKF_RW_SESSION) | CKF_SERIAL_SESSION;
        if (hmap_put(&h->sessions, s->handle, s)) {
            rv = CKR_HOST_MEMORY;
        } else {
            tok->nsessions++;
            if (flags & CKF_RW_SESSION)
                tok->nrw++;
            at->nsessions++;
            *out = s->handle;
            s = NULL;
        }
    }
    pthread_mutex_unlock(&h->lock);
    free(s);
    return rv;
}

CK_RV hsm_close_session(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle)
{
    session_t *s;
    pthread_mutex_lock(&h->lock);
    CK_RV rv = session_get(h, app, handle, &s);
    if (rv == CKR_OK) {
        session_close_locked(h, s);
        session_put(h, s);
    }
    pthread_mutex_unlock(&h->lock);
    return rv;
}

CK_RV hsm_close_all_sessions(hsm_t *h, app_id_t app, CK_SLOT_ID slot)
{
    CK_RV rv = CKR_OK;
    pthread_mutex_lock(&h->lock);
    token_t *tok = token_by_slot(h, slot);
    if (!tok)
        rv = CKR_SLOT_ID_INVALID;
    else
        app_close_sessions_locked(h, app, tok);
    pthread_mutex_unlock(&h->lock);
    return rv;
}

CK_RV hsm_get_session_info(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle,
                           CK_SESSION_INFO *info)
{
    session_t *s;
    if (!info)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    CK_RV rv = session_get(h, app, handle, &s);
    if (rv == CKR_OK) {
        info->slotID = s->tok->rec.id;
        info->state = session_state(h, s);
        info->flags = s->flags;
        info->ulDeviceError = 0;
        session_put(h, s);
    }
    pthread_mutex_unlock(&h->lock);
    return rv;
}

/* Does app have a read-only session on tok? (h->lock held) */
static bool has_ro_session(hsm_t *h, app_id_t app, const token_t *tok)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&h->sessions, &pos, NULL, &v)) {
        session_t *s = v;
        if (s->app == app && s->tok == tok && !(s->flags & CKF_RW_SESSION))
            return true;
    }
    return false;
}

CK_RV hsm_login(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, CK_USER_TYPE user,
                const CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
    session_t *s;
    token_t *tok = NULL;
    pthread_mutex_lock(&h->lock);
    CK_RV rv = session_get(h, app, handle, &s);
    if (rv) {
        pthread_mutex_unlock(&h->lock);
        return rv;
    }
    CK_USER_TYPE cur = login_state(h, app, s->tok);
    if (user == CKU_CONTEXT_SPECIFIC) {
        /* The login a CKA_ALWAYS_AUTHENTICATE key asks for, for the one
           operation waiting for it. */
        bool *wait = s->sign[HSM_SIGN].need_auth      ? &s->sign[HSM_SIGN].need_auth
                   : s->crypt[HSM_DECRYPT].need_auth ? &s->crypt[HSM_DECRYPT].need_auth
                   : s->recover[HSM_SIGN].need_auth  ? &s->recover[HSM_SIGN].need_auth
                                                      : NULL;
        token_t *t = s->tok;
        if (!wait)
            rv = CKR_OPERATION_NOT_INITIALIZED;
        else if (cur != CKU_USER)
            rv = CKR_USER_NOT_LOGGED_IN;
        pthread_mutex_unlock(&h->lock);
        if (rv == CKR_OK)
            rv = pin_check(h, t, CKU_USER, pin, pin_len);
        pthread_mutex_lock(&h->lock);
        if (rv == CKR_OK && !s->closed)
            *wait = false;
        session_put(h, s);
        pthread_mutex_unlock(&h->lock);
        return rv;
    } else if (user != CKU_SO && user != CKU_USER)
        rv = CKR_USER_TYPE_INVALID;
    else if (cur == user)
        rv = CKR_USER_ALREADY_LOGGED_IN;
    else if (cur != NO_USER)
        rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
    else if (user == CKU_SO && has_ro_session(h, app, s->tok))
        rv = CKR_SESSION_READ_ONLY_EXISTS;
    else if (!pin && pin_len)
        rv = CKR_ARGUMENTS_BAD;
    tok = s->tok;
    pthread_mutex_unlock(&h->lock);

    if (rv == CKR_OK)
        rv = pin_check(h, tok, user, pin, pin_len);

    pthread_mutex_lock(&h->lock);
    if (rv == CKR_OK) {
        app_t *a = app_get(h, app, false);
        app_token_t *at = a ? app_token(a, tok->rec.id, false) : NULL;
        if (s->closed || !at)
            rv = CKR_SESSION_CLOSED;
        else if (at->user != NO_USER)
            rv = at->user == user ? CKR_USER_ALREADY_LOGGED_IN
                                  : CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
        else
            at->user = user;
    }
    session_put(h, s);
    pthread_mutex_unlock(&h->lock);
    return rv;
}

CK_RV hsm_logout(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle)
{
    session_t *s;
    pthread_mutex_lock(&h->lock);
    CK_RV rv = session_get(h, app, handle, &s);
    if (rv == CKR_OK) {
        app_t *a = app_get(h, app, false);
        app_token_t *at = a ? app_token(a, s->tok->rec.id, false) : NULL;
        if (!at || at->user == NO_USER)
            rv = CKR_USER_NOT_LOGGED_IN;
        else
            at->user = NO_USER;
        session_put(h, s);
    }
    pthread_mutex_unlock(&h->lock);
    return rv;
}
