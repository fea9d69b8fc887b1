/*
 * The daemon's request decoder. Everything here reads untrusted bytes: each
 * field goes through the bounds-checked rbuf_t, each request must be consumed
 * exactly, and a request that does not parse ends the connection instead of
 * reaching the HSM core. Values the core returns go out as the protocol says
 * (proto.h); nothing here holds a secret longer than one request.
 */
#include "requests.h"

#include <stdlib.h>
#include <string.h>


static handler_t find_handler(uint32_t op)
{
    static const op_entry_t *const tables[] = { ops_admin, ops_fm, ops_client };
    static const size_t *const counts[] = { &ops_admin_count, &ops_fm_count, &ops_client_count };
    handler_t fn = find_pkcs11_op(op);
    return fn ? fn : find_op(tables, counts, 3, op);
}

static int run(hsm_t *h, app_id_t app, const dispatch_scope_t *scope, uint16_t caller_fm,
               const uint8_t *req, size_t len, wbuf_t *reply);

int dispatch(hsm_t *h, app_id_t app, const uint8_t *req, size_t len, wbuf_t *reply)
{
    return run(h, app, NULL, 0, req, len, reply);
}

int dispatch_scoped(hsm_t *h, app_id_t app, const dispatch_scope_t *scope, const uint8_t *req,
                    size_t len, wbuf_t *reply)
{
    return run(h, app, scope, 0, req, len, reply);
}

int dispatch_from(hsm_t *h, app_id_t app, uint16_t caller_fm, const uint8_t *req, size_t len,
                  wbuf_t *reply)
{
    return run(h, app, NULL, caller_fm, req, len, reply);
}

static int run(hsm_t *h, app_id_t app, const dispatch_scope_t *scope, uint16_t caller_fm,
               const uint8_t *req, size_t len, wbuf_t *reply)
{
    /* A function an FM patched runs in that FM (none patched: one load). */
    uint16_t fm = fm_patch_route(req, len, caller_fm);
    if (fm && fms_patch_call(fm, app, req, len, reply)) {
        if (reply->len >= 8)
            fms_ud_note(be32_get(reply->p + 4), app, caller_fm, req, len);
        return 0;
    }
    rbuf_t r;
    rb_init(&r, req, len);
    uint32_t op = rb_u32(&r);
    handler_t fn = find_handler(op);
    if (!fn)
        return -1;
    wb_reset(reply);
    uint8_t *status = wb_reserve(reply, 4);
    if (scope && op >= OP_ADMIN_SHOW) {
        /* The HSM's administration is for its own shell, never the network. */
        if (!status)
            return -1;
        be32_put(reply->p + 4, (uint32_t)SFM_R_LOCAL_ONLY);
        return 0;
    }
    req_t q = { h, app, &r, reply, scope };
    CK_RV rv = fn(&q);
    /* A request with bytes left over, or one that ran short, is malformed:
       whatever the handler did, the connection ends. */
    if (!rb_done(&r) || !status)
        return -1;
    if (reply->err) {
        wb_reset(reply);
        status = wb_reserve(reply, 4);
        rv = CKR_DEVICE_MEMORY;
    }
    /* The reply buffer may have moved since the status was reserved. */
    be32_put(reply->p + 4, (uint32_t)rv);
    fms_ud_note(rv, app, caller_fm, req, len);
    (void)status;
    return 0;
}
