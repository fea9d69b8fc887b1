/*
 * Requests about objects and their attributes.
 */
#include <stdlib.h>
#include <string.h>

#include "requests.h"

static CK_RV op_create_object(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_ATTRIBUTE *t;
    CK_ULONG n;
    CK_RV rv = proto_get_template(q->r, &t, &n);
    if (rv)
        return rv;
    CK_OBJECT_HANDLE o = 0;
    if (rb_done(q->r))
        rv = hsm_create_object(q->h, q->app, s, t, n, &o);
    proto_free_template(t, n);
    wb_u64(q->w, o);
    return rv;
}

static CK_RV op_copy_object(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_OBJECT_HANDLE src = U64(q), o = 0;
    CK_ATTRIBUTE *t;
    CK_ULONG n;
    CK_RV rv = proto_get_template(q->r, &t, &n);
    if (rv)
        return rv;
    if (rb_done(q->r))
        rv = hsm_copy_object(q->h, q->app, s, src, t, n, &o);
    proto_free_template(t, n);
    wb_u64(q->w, o);
    return rv;
}

static CK_RV op_destroy_object(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    return hsm_destroy_object(q->h, q->app, s, U64(q));
}

static CK_RV op_get_object_size(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_OBJECT_HANDLE o = U64(q);
    CK_ULONG size = 0;
    CK_RV rv = hsm_get_object_size(q->h, q->app, s, o, &size);
    wb_u64(q->w, size);
    return rv;
}

/*
 * C_GetAttributeValue in two passes: lengths first, then values into
 * buffers of exactly the needed size, so a client's claimed buffer size
 * never decides how much the daemon allocates.
 */
static CK_RV op_get_attribute_value(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_OBJECT_HANDLE o = U64(q);
    uint32_t n = rb_u32(q->r);
    if (q->r->err || n > PROTO_MAX_ATTRS)
        return CKR_ARGUMENTS_BAD;
    CK_ATTRIBUTE t[PROTO_MAX_ATTRS];
    uint8_t want[PROTO_MAX_ATTRS];
    uint64_t cap[PROTO_MAX_ATTRS];
    for (uint32_t i = 0; i < n; i++) {
        t[i].type = U64(q);
        want[i] = rb_u8(q->r);
        cap[i] = rb_u64(q->r);
        t[i].pValue = NULL;
        t[i].ulValueLen = 0;
    }
    if (!rb_done(q->r))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = hsm_get_attribute_value(q->h, q->app, s, o, t, n);
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID)
        return rv;
    CK_RV rv2 = CKR_OK;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!want[i] || t[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
            continue;
        if (cap[i] < proto_wire_len(t[i].type, t[i].ulValueLen)) {
            t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv2 = CKR_BUFFER_TOO_SMALL;
            continue;
        }
        total += t[i].ulValueLen;
    }
    if (total > WIRE_MAX_FRAME / 2)
        return CKR_DEVICE_MEMORY;
    uint8_t *vals = malloc(total + 1);
    if (!vals)
        return CKR_HOST_MEMORY;
    CK_ATTRIBUTE sub[PROTO_MAX_ATTRS];
    uint32_t idx[PROTO_MAX_ATTRS], m = 0;
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!want[i] || t[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
            continue;
        sub[m].type = t[i].type;
        sub[m].pValue = vals + off;
        sub[m].ulValueLen = t[i].ulValueLen;
        off += t[i].ulValueLen;
        idx[m++] = i;
    }
    CK_RV rv3 = m ? hsm_get_attribute_value(q->h, q->app, s, o, sub, m) : CKR_OK;
    if (rv3 != CKR_OK && rv3 != CKR_BUFFER_TOO_SMALL && rv3 != CKR_ATTRIBUTE_SENSITIVE &&
        rv3 != CKR_ATTRIBUTE_TYPE_INVALID) {
        secure_zero(vals, total);
        free(vals);
        return rv3; /* the object or session went away between the passes */
    }
    wb_u32(q->w, n);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const CK_ATTRIBUTE *a = (k < m && idx[k] == i) ? &sub[k++] : NULL;
        CK_ULONG len = a ? a->ulValueLen : t[i].ulValueLen;
        if (len == CK_UNAVAILABLE_INFORMATION) {
            wb_u64(q->w, PROTO_UNAVAILABLE);
            continue;
        }
        wb_u64(q->w, proto_wire_len(t[i].type, len));
        if (a)
            proto_put_value(q->w, a->type, a->pValue, len);
    }
    secure_zero(vals, total);
    free(vals);
    if (rv != CKR_OK)
        return rv;
    return rv3 != CKR_OK ? rv3 : rv2;
}

static CK_RV op_set_attribute_value(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_OBJECT_HANDLE o = U64(q);
    CK_ATTRIBUTE *t;
    CK_ULONG n;
    CK_RV rv = proto_get_template(q->r, &t, &n);
    if (rv)
        return rv;
    if (rb_done(q->r))
        rv = hsm_set_attribute_value(q->h, q->app, s, o, t, n);
    proto_free_template(t, n);
    return rv;
}

static CK_RV op_find_init(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_ATTRIBUTE *t;
    CK_ULONG n;
    CK_RV rv = proto_get_template(q->r, &t, &n);
    if (rv)
        return rv;
    if (rb_done(q->r))
        rv = hsm_find_objects_init(q->h, q->app, s, t, n);
    proto_free_template(t, n);
    return rv;
}

static CK_RV op_find(req_t *q)
{
    CK_SESSION_HANDLE s = U64(q);
    CK_ULONG max = U64(q);
    if (max > PROTO_MAX_FIND)
        max = PROTO_MAX_FIND;
    CK_OBJECT_HANDLE list[PROTO_MAX_FIND];
    CK_ULONG n = 0;
    CK_RV rv = hsm_find_objects(q->h, q->app, s, list, max, &n);
    if (rv)
        return rv;
    wb_u32(q->w, (uint32_t)n);
    for (CK_ULONG i = 0; i < n; i++)
        wb_u64(q->w, list[i]);
    return CKR_OK;
}

static CK_RV op_find_final(req_t *q)
{
    return hsm_find_objects_final(q->h, q->app, U64(q));
}

const op_entry_t ops_object[] = {
    { OP_CREATE_OBJECT, op_create_object },
    { OP_COPY_OBJECT, op_copy_object },
    { OP_DESTROY_OBJECT, op_destroy_object },
    { OP_GET_OBJECT_SIZE, op_get_object_size },
    { OP_GET_ATTRIBUTE_VALUE, op_get_attribute_value },
    { OP_SET_ATTRIBUTE_VALUE, op_set_attribute_value },
    { OP_FIND_OBJECTS_INIT, op_find_init },
    { OP_FIND_OBJECTS, op_find },
    { OP_FIND_OBJECTS_FINAL, op_find_final },
};

const size_t ops_object_count = sizeof ops_object / sizeof ops_object[0];
