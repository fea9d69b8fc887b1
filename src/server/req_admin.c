/*
 * Administration requests: the HSM view, zeroize, partitions, policies. Each
 * change carries the HSM SO PIN, which the core checks.
 */
#include <stdlib.h>
#include <string.h>

#include "requests.h"

static CK_RV op_admin_show(req_t *q)
{
    hsm_info_t info;
    CK_RV rv = hsm_admin_info(q->h, &info);
    if (rv)
        return rv;
    wb_u8(q->w, (uint8_t)info.initialized);
    put_str(q->w, info.label);
    put_str(q->w, info.serial);
    wb_u32(q->w, info.fw_major);
    wb_u32(q->w, info.fw_minor);
    wb_u32(q->w, (uint32_t)info.npolicies);
    for (size_t i = 0; i < info.npolicies; i++) {
        put_str(q->w, info.policies[i].name);
        put_str(q->w, info.policies[i].description);
        wb_u64(q->w, info.policies[i].value);
    }
    wb_u32(q->w, (uint32_t)info.npartitions);
    for (size_t i = 0; i < info.npartitions; i++) {
        const hsm_partition_info_t *p = &info.partitions[i];
        wb_u64(q->w, p->slot);
        put_str(q->w, p->name);
        put_str(q->w, p->label);
        put_str(q->w, p->serial);
        wb_u8(q->w, (uint8_t)p->initialized);
        wb_u8(q->w, (uint8_t)p->user_pin_set);
        wb_u64(q->w, p->objects);
    }
    hsm_admin_info_free(&info);
    return CKR_OK;
}

static CK_RV op_admin_zeroize(req_t *q)
{
    size_t len;
    const uint8_t *pin = rb_bytes(q->r, &len);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = hsm_admin_zeroize(q->h, pin, len);
    if (rv == CKR_OK) {
        fms_zeroized();
        hsm_audit(q->h, q->app, "hsm zeroize");
    }
    return rv;
}

static CK_RV op_partition(req_t *q, bool create)
{
    size_t len;
    char name[HSM_NAME_MAX + 2];
    const uint8_t *pin = rb_bytes(q->r, &len);
    if (!get_str(q, name, sizeof name))
        return rb_done(q->r) || !q->r->err ? SFM_R_BAD_NAME : CKR_ARGUMENTS_BAD;
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    CK_SLOT_ID slot = 0;
    CK_RV rv = create ? hsm_admin_partition_create(q->h, pin, len, name, &slot)
                      : hsm_admin_partition_delete(q->h, pin, len, name);
    if (rv == CKR_OK && create)
        hsm_audit(q->h, q->app, "partition create %s (slot %lu)", name, (unsigned long)slot);
    else if (rv == CKR_OK)
        hsm_audit(q->h, q->app, "partition delete %s", name);
    if (create)
        wb_u64(q->w, slot);
    return rv;
}

static CK_RV op_partition_create(req_t *q)
{
    return op_partition(q, true);
}

static CK_RV op_partition_delete(req_t *q)
{
    return op_partition(q, false);
}

static CK_RV op_policy_set(req_t *q)
{
    size_t len;
    char name[64];
    const uint8_t *pin = rb_bytes(q->r, &len);
    if (!get_str(q, name, sizeof name))
        return SFM_R_NOT_FOUND;
    uint64_t value = rb_u64(q->r);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    unsigned long before = 0;
    (void)hsm_policy_get(q->h, name, &before);
    CK_RV rv = hsm_admin_policy_set(q->h, pin, len, name, (unsigned long)value);
    if (rv == CKR_OK) {
        fms_policy_changed(name, (unsigned long)value);
        hsm_audit(q->h, q->app, "policy set %s %lu (was %lu)", name, (unsigned long)value,
                  before);
    }
    return rv;
}

/* The audit log: u32 last (0: all) -> u32 count, then per record u64 seq,
   u64 time, string who, string event, u8 chain verified. */
typedef struct audit_out {
    wbuf_t *w;
    uint32_t n;
} audit_out_t;

static int put_audit(void *ctx, const store_audit_t *e)
{
    audit_out_t *o = ctx;
    wb_u64(o->w, e->seq);
    wb_u64(o->w, e->time);
    put_str(o->w, e->who);
    put_str(o->w, e->event);
    wb_u8(o->w, (uint8_t)(e->chain_ok != 0));
    o->n++;
    return o->w->err ? -1 : 0;
}

static CK_RV op_audit(req_t *q)
{
    uint32_t last = rb_u32(q->r);
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    size_t at = q->w->len;
    wb_u32(q->w, 0);
    audit_out_t o = { q->w, 0 };
    if (hsm_audit_list(q->h, last, put_audit, &o))
        return CKR_DEVICE_ERROR;
    if (q->w->err)
        return CKR_DEVICE_MEMORY;
    be32_put(q->w->p + at, o.n);
    return CKR_OK;
}

const op_entry_t ops_admin[] = {
    { OP_ADMIN_SHOW, op_admin_show },
    { OP_ADMIN_ZEROIZE, op_admin_zeroize },
    { OP_ADMIN_PARTITION_CREATE, op_partition_create },
    { OP_ADMIN_PARTITION_DELETE, op_partition_delete },
    { OP_ADMIN_POLICY_SET, op_policy_set },
    { OP_ADMIN_AUDIT, op_audit },
};

const size_t ops_admin_count = sizeof ops_admin / sizeof ops_admin[0];
