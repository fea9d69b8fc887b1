/*
 * User data an FM keeps per application, slot, token, token and
 * application, or session (objstate.h), and freeing it when its owner goes
 * away: the daemon tells this process of closed sessions, finalised or
 * ended applications and re-initialised tokens (FMH_UD_EVENT, and
 * FMH_APP_CLOSE), and each datum is freed once, with the FM's function, by
 * whichever comes first.
 */
#include <stdlib.h>
#include <string.h>

#include "fmhost.h"

typedef struct ud {
    int kind;
    unsigned long app;       /* FM_UD_APP, _TOKEN_APP, _SESSION */
    unsigned long key;       /* a slot id or a session handle */
    unsigned long slot;      /* a session's slot */
    void *data;
    void (*free_fn)(void *);
    struct ud *next;
} ud_t;

static ud_t *list;

bool fmh_ud_any(void)
{
    return list != NULL;
}

static bool keyed_by_app(int kind)
{
    return kind == FM_UD_APP || kind == FM_UD_TOKEN_APP || kind == FM_UD_SESSION;
}

static ud_t **find(int kind, unsigned long app, unsigned long key)
{
    for (ud_t **p = &list; *p; p = &(*p)->next)
        if ((*p)->kind == kind && (*p)->key == key && (!keyed_by_app(kind) || (*p)->app == app))
            return p;
    return NULL;
}

/* Unlink and free; the FM's function runs with the owner as current AppId. */
static void drop(ud_t **p)
{
    ud_t *e = *p;
    *p = e->next;
    unsigned long app = fmh.app_id;
    if (keyed_by_app(e->kind))
        fmh.app_id = e->app;
    if (e->free_fn && e->data)
        e->free_fn(e->data);
    fmh.app_id = app;
    free(e);
}

static unsigned long check_fm(uint16_t fm)
{
    return fm == fmh.number || fm == 0x0100 /* FM_NUMBER_CUSTOM_FM */ ? CKR_OK : CKR_ARGUMENTS_BAD;
}

unsigned long fmh_ud_set(int kind, uint16_t fm, unsigned long key, void *data,
                         void (*free_fn)(void *))
{
    if (check_fm(fm) || kind < FM_UD_APP || kind > FM_UD_SESSION || (data && !free_fn))
        return CKR_ARGUMENTS_BAD;
    const CK_FUNCTION_LIST *ck = fmh_cryptoki();
    unsigned long slot = key;
    CK_RV rv = CKR_OK;
    if (kind == FM_UD_SLOT) {
        CK_SLOT_INFO si;
        rv = ck->C_GetSlotInfo(key, &si);
    } else if (kind == FM_UD_TOKEN || kind == FM_UD_TOKEN_APP) {
        CK_TOKEN_INFO ti;
        rv = ck->C_GetTokenInfo(key, &ti);
    } else if (kind == FM_UD_SESSION) {
        CK_SESSION_INFO si;
        rv = ck->C_GetSessionInfo(key, &si);
        slot = si.slotID;
    }
    if (rv)
        return rv;
    if (kind == FM_UD_APP)
        key = 0;
    unsigned long app = keyed_by_app(kind) ? fmh.app_id : 0;
    ud_t **old = find(kind, app, key);
    if (old)
        drop(old);
    if (!data)
        return CKR_OK;
    ud_t *e = calloc(1, sizeof *e);
    if (!e)
        return CKR_HOST_MEMORY;
    *e = (ud_t){ kind, app, key, slot, data, free_fn, list };
    list = e;
    return CKR_OK;
}

unsigned long fmh_ud_get(int kind, uint16_t fm, unsigned long key, void **out)
{
    if (!out || check_fm(fm) || kind < FM_UD_APP || kind > FM_UD_SESSION)
        return CKR_ARGUMENTS_BAD;
    if (kind == FM_UD_APP)
        key = 0;
    ud_t **p = find(kind, keyed_by_app(kind) ? fmh.app_id : 0, key);
    *out = p ? (*p)->data : NULL;
    return CKR_OK;
}

void fmh_ud_event(int event, unsigned long app, unsigned long slot, unsigned long session)
{
    for (ud_t **p = &list; *p;) {
        ud_t *e = *p;
        bool gone = false;
        switch (event) {
        case FMH_UD_SESSION_CLOSED:
            gone = e->kind == FM_UD_SESSION && e->app == app && e->key == session;
            break;
        case FMH_UD_SLOT_CLOSED: /* C_CloseAllSessions */
            gone = e->kind == FM_UD_SESSION && e->app == app && e->slot == slot;
            break;
        case FMH_UD_APP_GONE:
            gone = keyed_by_app(e->kind) && e->app == app;
            break;
        case FMH_UD_TOKEN_RESET:
            gone = (e->kind == FM_UD_TOKEN || e->kind == FM_UD_TOKEN_APP) ? e->key == slot
                   : e->kind == FM_UD_SESSION && e->slot == slot;
            break;
        case FMH_UD_ALL_GONE:
            gone = e->kind == FM_UD_SLOT || e->kind == FM_UD_TOKEN;
            break;
        }
        if (gone)
            drop(p);
        else
            p = &e->next;
    }
}
