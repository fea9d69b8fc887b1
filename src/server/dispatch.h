/*
 * Requests to the HSM core: decode one request frame, run it on behalf of an
 * AppId, encode the reply. Private to the daemon (and its fuzz target).
 */
#ifndef SOFTFM_DISPATCH_H
#define SOFTFM_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "fm.h"
#include "hsm.h"

/* What a network client may reach: the slots of the partitions assigned to
   it, no administration. */
typedef struct dispatch_scope {
    const CK_SLOT_ID *slots;
    size_t nslots;
} dispatch_scope_t;

/* 0 with the reply in *reply, or -1 when the request breaks the protocol
   (the caller drops the connection). */
int dispatch(hsm_t *h, app_id_t app, const uint8_t *req, size_t len, wbuf_t *reply);
/* The same for a network client, within its scope. */
int dispatch_scoped(hsm_t *h, app_id_t app, const dispatch_scope_t *scope, const uint8_t *req,
                    size_t len, wbuf_t *reply);
/* The same for a request an FM makes (caller_fm: its number): functions
   other FMs patched go to them, its own patches do not apply. */
int dispatch_from(hsm_t *h, app_id_t app, uint16_t caller_fm, const uint8_t *req, size_t len,
                  wbuf_t *reply);
/* The FMs that requests for FMs go to (none until set). */
void dispatch_set_fms(fm_registry_t *r);
/* What the HSM trusts for FM images now: its policies and the Admin Token. */
void fms_trust(hsm_t *h, fm_trust_t *t);
/* Told when a client's registration changed (deleted, revoked, partitions
   assigned or taken away), so that its connections end. */
void dispatch_set_client_hook(void (*fn)(const char *name));

#endif
