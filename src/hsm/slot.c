/*
 * Slots and tokens as applications see them: one slot per partition, the
 * Admin Token in slot 0; token information, mechanisms, and the Cryptoki
 * calls that set a token up (C_InitToken, C_InitPIN, C_SetPIN).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static int cmp_slot(const void *a, const void *b)
{
    CK_SLOT_ID x = *(const CK_SLOT_ID *)a, y = *(const CK_SLOT_ID *)b;
    return x < y ? -1 : x > y;
}

CK_RV hsm_get_slot_list(hsm_t *h, CK_SLOT_ID *list, CK_ULONG *count)
{
    CK_RV rv = CKR_OK;
    if (!count)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    CK_ULONG n = 0;
    CK_SLOT_ID *all = malloc((h->tokens.count + 1) * sizeof *all);
    size_t pos = 0;
    void *v;
    while (all && hmap_next(&h->tokens, &pos, NULL, &v))
        if (!((token_t *)v)->deleted)
            all[n++] = ((token_t *)v)->rec.id;
    pthread_mutex_unlock(&h->lock);
    if (!all)
        return CKR_HOST_MEMORY;
    qsort(all, n, sizeof *all, cmp_slot);
    if (list) {
        if (*count < n)
            rv = CKR_BUFFER_TOO_SMALL;
        else
            memcpy(list, all, n * sizeof *all);
    }
    *count = n;
    free(all);
    return rv;
}

CK_RV hsm_get_slot_info(hsm_t *h, CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
    if (!info)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    token_t *t = token_by_slot(h, slot);
    if (t) {
        char desc[80];
        snprintf(desc, sizeof desc, "softfm %s %s", slot == HSM_ADMIN_SLOT ? "admin" : "partition",
                 t->rec.name);
        pad_copy(info->slotDescription, sizeof info->slotDescription, desc);
        pad_copy(info->manufacturerID, sizeof info->manufacturerID, "softfm");
        info->flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
        info->hardwareVersion.major = 1;
        info->hardwareVersion.minor = 0;
        info->firmwareVersion.major = HSM_FW_MAJOR;
        info->firmwareVersion.minor = HSM_FW_MINOR;
    }
    pthread_mutex_unlock(&h->lock);
    return t ? CKR_OK : CKR_SLOT_ID_INVALID;
}

static CK_FLAGS pin_flags(uint32_t fails, unsigned long max, CK_FLAGS low, CK_FLAGS final,
                          CK_FLAGS locked)
{
    if (fails >= max)
        return locked;
    CK_FLAGS f = 0;
    if (fails)
        f |= low;
    if (max - fails == 1)
        f |= final;
    return f;
}

CK_RV hsm_get_token_info(hsm_t *h, CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
    if (!info)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    token_t *t = token_by_slot(h, slot);
    if (!t) {
        pthread_mutex_unlock(&h->lock);
        return CKR_SLOT_ID_INVALID;
    }
    memset(info, 0, sizeof *info);
    if (t->rec.initialized)
        memcpy(info->label, t->rec.label, sizeof info->label);
    else
        pad_copy(info->label, sizeof info->label, "");
    pad_copy(info->manufacturerID, sizeof info->manufacturerID, "softfm");
    pad_copy(info->model, sizeof info->model, slot == HSM_ADMIN_SLOT ? "softfm admin" : "softfm partition");
    pad_copy(info->serialNumber, sizeof info->serialNumber, t->rec.serial);
    info->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_CLOCK_ON_TOKEN;
    if (t->rec.initialized)
        info->flags |= CKF_TOKEN_INITIALIZED;
    if (pin_is_set(t->rec.user_pin))
        info->flags |= CKF_USER_PIN_INITIALIZED |
                       pin_flags(t->rec.user_fail, h->policy[POL_USER_TRIES],
                                 CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY,
                                 CKF_USER_PIN_LOCKED);
    if (pin_is_set(t->rec.so_pin))
        info->flags |= pin_flags(t->rec.so_fail, h->policy[POL_SO_TRIES], CKF_SO_PIN_COUNT_LOW,
                                 CKF_SO_PIN_FINAL_TRY, CKF_SO_PIN_LOCKED);
    info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulSessionCount = t->nsessions;
    info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulRwSessionCount = t->nrw;
    info->ulMaxPinLen = HSM_PIN_MAX;
    info->ulMinPinLen = HSM_PIN_MIN;
    info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->hardwareVersion.major = 1;
    info->hardwareVersion.minor = 0;
    info->firmwareVersion.major = HSM_FW_MAJOR;
    info->firmwareVersion.minor = HSM_FW_MINOR;
    pthread_mutex_unlock(&h->lock);

    char now[20];
    time_t tt = time(NULL);
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(now, sizeof now, "%Y%m%d%H%M%S", &tm);
    memcpy(info->utcTime, now, 14);
    info->utcTime[14] = '0';
    info->utcTime[15] = '0';
    return CKR_OK;
}

CK_RV hsm_get_mechanism_list(hsm_t *h, CK_SLOT_ID slot, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
    if (!count)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    bool ok = token_by_slot(h, slot) != NULL;
    pthread_mutex_unlock(&h->lock);
    if (!ok)
        return CKR_SLOT_ID_INVALID;
    size_t n = mech_count();
    CK_RV rv = CKR_OK;
    if (list) {
        if (*count < n)
            rv = CKR_BUFFER_TOO_SMALL;
        else
            for (size_t i = 0; i < n; i++)
                list[i] = mech_at(i)->type;
    }
    *count = n;
    return rv;
}

CK_RV hsm_get_mechanism_info(hsm_t *h, CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
                             CK_MECHANISM_INFO *info)
{
    if (!info)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    bool ok = token_by_slot(h, slot) != NULL;
    pthread_mutex_unlock(&h->lock);
    if (!ok)
        return CKR_SLOT_ID_INVALID;
    const mech_info_t *m = mech_find(type);
    if (!m)
        return CKR_MECHANISM_INVALID;
    info->ulMinKeySize = m->min_key;
    info->ulMaxKeySize = m->max_key;
    info->flags = m->flags | CKF_HW;
    return CKR_OK;
}

/* Persist a changed token record, then adopt it (h->wlock held). */
static CK_RV token_commit(hsm_t *h, token_t *t, const store_token_t *rec)
{
    if (store_token_update(h->store, rec))
        return CKR_DEVICE_ERROR;
    pthread_mutex_lock(&h->lock);
    t->rec = *rec;
    pthread_mutex_unlock(&h->lock);
    return CKR_OK;
}

/* Give a token role a new PIN, with its failure count reset. */
static CK_RV token_set_pin(hsm_t *h, token_t *t, CK_USER_TYPE who, const CK_UTF8CHAR *pin,
                           CK_ULONG len)
{
    CK_RV rv;
    pthread_mutex_lock(&h->wlock);
    pthread_mutex_lock(&h->lock);
    store_token_t rec = t->rec;
    pthread_mutex_unlock(&h->lock);
    if (pin_hash(pin, len, who == CKU_SO ? rec.so_pin : rec.user_pin)) {
        rv = CKR_GENERAL_ERROR;
    } else {
        if (who == CKU_SO)
            rec.so_fail = 0;
        else
            rec.user_fail = 0;
        rv = token_commit(h, t, &rec);
    }
    pthread_mutex_unlock(&h->wlock);
    secure_zero(&rec, sizeof rec);
    return rv;
}

CK_RV hsm_init_token(hsm_t *h, app_id_t app, CK_SLOT_ID slot, const CK_UTF8CHAR *pin,
                     CK_ULONG pin_len, const CK_UTF8CHAR label[32])
{
    CK_RV rv;
    store_token_t rec;
    if (!label || (!pin && pin_len))
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    token_t *t = token_by_slot(h, slot);
    bool initialized = t && t->rec.initialized;
    bool busy = t && t->nsessions;
    bool hsm_ready = h->initialized;
    pthread_mutex_unlock(&h->lock);
    if (!t)
        return CKR_SLOT_ID_INVALID;
    if (busy)
        return CKR_SESSION_EXISTS;
    /* A partition exists only once the HSM has an SO. */
    if (slot != HSM_ADMIN_SLOT && !hsm_ready)
        return CKR_TOKEN_NOT_RECOGNIZED;
    rv = initialized ? pin_check(h, t, CKU_SO, pin, pin_len) : pin_len_ok(pin, pin_len);
    if (rv)
        return rv;

    pthread_mutex_lock(&h->wlock);
    pthread_mutex_lock(&h->lock);
    busy = t->nsessions || t->deleted;
    rec = t->rec;
    pthread_mutex_unlock(&h->lock);
    if (busy) {
        rv = t->deleted ? CKR_SLOT_ID_INVALID : CKR_SESSION_EXISTS;
        goto out;
    }
    if (!rec.initialized && pin_hash(pin, pin_len, rec.so_pin)) {
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    memcpy(rec.label, label, sizeof rec.label);
    memset(rec.user_pin, 0, sizeof rec.user_pin);
    rec.user_fail = 0;
    rec.so_fail = 0;
    rec.initialized = 1;
    if (store_object_delete_token(h->store, rec.id)) {
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    if ((rv = token_commit(h, t, &rec)))
        goto out;
    pthread_mutex_lock(&h->lock);
    token_drop_objects_locked(h, t);
    pthread_mutex_unlock(&h->lock);
    if (slot == HSM_ADMIN_SLOT) {
        char text[33];
        pad_trim(text, label, 32);
        if (store_meta_set(h->store, "hsm.label", text) ||
            store_meta_set(h->store, "hsm.initialized", "1")) {
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        pthread_mutex_lock(&h->lock);
        snprintf(h->label, sizeof h->label, "%s", text);
        h->initialized = true;
        pthread_mutex_unlock(&h->lock);
        log_info("the HSM was initialised");
        if (tls_identity_ensure(h))
            log_err("cannot make the HSM's TLS identity");
    }
out:
    pthread_mutex_unlock(&h->wlock);
    secure_zero(&rec, sizeof rec);
    if (rv == CKR_OK) {
        char text[33];
        pad_trim(text, label, 32);
        hsm_audit(h, app, "%s in slot %lu initialised, label \"%s\"",
                  slot == HSM_ADMIN_SLOT ? "the HSM (Admin Token)" : "the token",
                  (unsigned long)slot, text);
    }
    return rv;
}

CK_RV hsm_init_pin(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_UTF8CHAR *pin,
                   CK_ULONG pin_len)
{
    session_t *s;
    CK_RV rv;
    pthread_mutex_lock(&h->lock);
    rv = session_get(h, app, handle, &s);
    if (rv) {
        pthread_mutex_unlock(&h->lock);
        return rv;
    }
    if (session_state(h, s) != CKS_RW_SO_FUNCTIONS)
        rv = CKR_USER_NOT_LOGGED_IN;
    token_t *t = s->tok;
    pthread_mutex_unlock(&h->lock);
    if (rv == CKR_OK && (rv = pin_len_ok(pin, pin_len)) == CKR_OK)
        rv = token_set_pin(h, t, CKU_USER, pin, pin_len);
    pthread_mutex_lock(&h->lock);
    session_put(h, s);
    pthread_mutex_unlock(&h->lock);
    return rv;
}

CK_RV hsm_set_pin(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, const CK_UTF8CHAR *old_pin,
                  CK_ULONG old_len, const CK_UTF8CHAR *new_pin, CK_ULONG new_len)
{
    session_t *s;
    CK_RV rv;
    CK_USER_TYPE who = CKU_USER;
    if ((!old_pin && old_len) || (!new_pin && new_len))
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&h->lock);
    rv = session_get(h, app, handle, &s);
    if (rv == CKR_OK) {
        if (!(s->flags & CKF_RW_SESSION))
            rv = CKR_SESSION_READ_ONLY;
        else if (login_state(h, app, s->tok) == CKU_SO)
            who = CKU_SO;
    }
    token_t *t = rv == CKR_OK ? s->tok : NULL;
    pthread_mutex_unlock(&h->lock);
    if (rv == CKR_SESSION_HANDLE_INVALID)
        return rv;
    if (rv)
        goto put;
    if ((rv = pin_len_ok(new_pin, new_len)))
        goto put;
    if ((rv = pin_check(h, t, who, old_pin, old_len)))
        goto put;
    rv = token_set_pin(h, t, who, new_pin, new_len);
put:
    pthread_mutex_lock(&h->lock);
    session_put(h, s);
    pthread_mutex_unlock(&h->lock);
    return rv;
}
