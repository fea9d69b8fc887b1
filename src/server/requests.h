/*
 * What the request decoders of the daemon share (private to src/server).
 */
#ifndef SOFTFM_REQUESTS_H
#define SOFTFM_REQUESTS_H

#include <stdbool.h>

#include "dispatch.h"

typedef struct req {
    hsm_t *h;
    app_id_t app;
    rbuf_t *r;
    wbuf_t *w;
    const dispatch_scope_t *scope;  /* a network client's view; NULL: local */
} req_t;

typedef CK_RV (*handler_t)(req_t *q);

#define U64(q) ((CK_ULONG)rb_u64((q)->r))

typedef struct op_entry {
    uint32_t op;
    handler_t fn;
} op_entry_t;

/* Each family's table of requests (req_*.c). */
extern const op_entry_t ops_token[], ops_object[], ops_crypto[], ops_admin[], ops_fm[],
    ops_client[];
extern const size_t ops_token_count, ops_object_count, ops_crypto_count, ops_admin_count,
    ops_fm_count, ops_client_count;

/* Run a request in the FM that patched its function (req_fm.c): false when
   there are no FMs. */
bool fms_patch_call(uint16_t fm, app_id_t app, const uint8_t *req, size_t len, wbuf_t *reply);
/* A request that ends sessions, an application's Cryptoki or a token
   succeeded: FMs holding user data hear of it (req_fm.c). */
void fms_ud_note(CK_RV rv, app_id_t app, uint16_t caller_fm, const uint8_t *req, size_t len);
/* The HSM was zeroized: its FMs go too (req_fm.c). */
void fms_zeroized(void);
/* A policy changed (req_fm.c acts on smfs-auto-activate). */
void fms_policy_changed(const char *name, unsigned long value);

/* The handler of op in the given tables (NULL: none); in the PKCS#11
   families only (token, object, crypto), which the fmhost also runs. */
handler_t find_op(const op_entry_t *const *tables, const size_t *const *counts, size_t ntables,
                  uint32_t op);
handler_t find_pkcs11_op(uint32_t op);

/* Whether the caller may see the slot (every slot for a local caller). */
bool slot_visible(const req_t *q, CK_SLOT_ID slot);
/* Administration answers this to a network client. */
CK_RV local_only(const req_t *q);

/* A short string argument, NUL-terminated into buf; false if too long. */
bool get_str(req_t *q, char *buf, size_t cap);
void put_str(wbuf_t *w, const char *s);
void put_version(wbuf_t *w, CK_VERSION v);
/* Results of the form "u64 length, then the bytes when CKR_OK and the
   caller gave an output buffer" (the module's p11_get_output reads them). */
void put_output(req_t *q, CK_RV rv, uint8_t has_out, const CK_BYTE *buf, CK_ULONG len);
/* The arguments that start an operation: session, direction, mechanism,
   key. False when they do not decode. */
bool get_init(req_t *q, CK_SESSION_HANDLE *s, uint8_t *dir, CK_MECHANISM *m,
              proto_param_t *store, CK_OBJECT_HANDLE *key);

#endif
