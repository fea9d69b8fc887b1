/*
 * Operation starts that travel with the operation.
 *
 * Through a daemon every C_*Init is a round trip of its own, as long as the
 * small operation that follows it. The module therefore answers a start
 * itself, and sends it ahead of the operation's first call in the same
 * write, when the daemon's answer is already known: the session starts the
 * same kind of operation with the same key and a mechanism of the same shape
 * (parameters equal but for the contents of IVs, AAD and labels) as the last
 * start the daemon accepted on it, the session's previous operation of that
 * kind is known to have ended, and since that start this process has not
 * logged in or out, changed or destroyed an object, or (re)initialised a
 * token or PIN. Anything else goes to the daemon at once, as before.
 *
 * What another process does between the start and the operation (destroy
 * the key, re-initialise the token) then shows in the operation's answer
 * instead of the start's: the window is the same one a start that was sent
 * at once would have between its reply and the operation.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "p11.h"

enum { ST_UNKNOWN, ST_IDLE, ST_ACTIVE, ST_PENDING };

typedef struct kind_state {
    uint8_t st;
    uint64_t epoch;     /* ops.epoch when the remembered start was accepted */
    wbuf_t shape;       /* of that start (empty: none) */
    wbuf_t pending;     /* the start held back, in ST_PENDING */
} kind_state_t;

typedef struct sess_ops {
    kind_state_t k[OPK_COUNT];
} sess_ops_t;

static struct {
    pthread_mutex_t lock;
    hmap_t map;         /* session handle -> sess_ops_t */
    uint64_t epoch;
} ops = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void sess_free(sess_ops_t *so)
{
    if (!so)
        return;
    for (int i = 0; i < OPK_COUNT; i++) {
        wb_free(&so->k[i].shape);
        if (so->k[i].pending.p)
            secure_zero(so->k[i].pending.p, so->k[i].pending.len);
        wb_free(&so->k[i].pending);
    }
    free(so);
}

/* ops.lock held. */
static sess_ops_t *sess_get(CK_SESSION_HANDLE s, bool create)
{
    sess_ops_t *so = hmap_get(&ops.map, s);
    if (so || !create)
        return so;
    if (!(so = calloc(1, sizeof *so)))
        return NULL;
    for (int i = 0; i < OPK_COUNT; i++) {
        wb_init(&so->k[i].shape);
        wb_init(&so->k[i].pending);
    }
    if (hmap_put(&ops.map, s, so)) {
        sess_free(so);
        return NULL;
    }
    return so;
}

void p11_ops_changed(void)
{
    pthread_mutex_lock(&ops.lock);
    ops.epoch++;
    pthread_mutex_unlock(&ops.lock);
}

void p11_ops_forget(CK_SESSION_HANDLE s)
{
    pthread_mutex_lock(&ops.lock);
    sess_free(hmap_del(&ops.map, s));
    pthread_mutex_unlock(&ops.lock);
}

void p11_ops_forget_all(void)
{
    pthread_mutex_lock(&ops.lock);
    size_t pos = 0;
    uint64_t key;
    void *val;
    while (hmap_next(&ops.map, &pos, &key, &val))
        sess_free(val);
    hmap_free(&ops.map);
    hmap_init(&ops.map);
    ops.epoch++;
    pthread_mutex_unlock(&ops.lock);
}

void p11_ops_reset_after_fork(void)
{
    pthread_mutex_init(&ops.lock, NULL);
    p11_ops_forget_all();
}

static bool same_payload(const wbuf_t *a, const wbuf_t *b)
{
    size_t na, nb;
    const uint8_t *pa = wb_payload(a, &na), *pb = wb_payload(b, &nb);
    return na == nb && !memcmp(pa, pb, na);
}

CK_RV p11_start(opkind_t kind, uint32_t op, CK_SESSION_HANDLE s, uint8_t dir,
                CK_MECHANISM_PTR m, bool has_key, CK_OBJECT_HANDLE key)
{
    call_t c = { 0 };
    CK_RV rv = p11_ready();
    if (rv)
        return rv;
    wbuf_t req, shape;
    wb_init(&req);
    wb_init(&shape);
    wb_u32(&req, op);
    wb_u64(&req, s);
    wb_u32(&shape, op);
    wb_u64(&shape, s);
    if (op != OP_DIGEST_INIT) {
        wb_u8(&req, dir);
        wb_u8(&shape, dir);
    }
    if ((rv = proto_put_mechanism(&req, m)) || (rv = proto_put_mechanism_shape(&shape, m)))
        goto out;
    if (has_key) {
        wb_u64(&req, key);
        wb_u64(&shape, key);
    }
    if (req.err || shape.err) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }

    pthread_mutex_lock(&ops.lock);
    uint64_t epoch = ops.epoch;
    sess_ops_t *so = sess_get(s, false);
    kind_state_t *k = so && kind != OPK_NONE ? &so->k[kind] : NULL;
    if (k && k->st == ST_PENDING) {
        rv = CKR_OPERATION_ACTIVE;
    } else if (k && k->st == ST_IDLE && k->epoch == epoch && same_payload(&k->shape, &shape)) {
        wbuf_t old = k->pending;
        k->pending = req; /* held back; the request buffer changes hands */
        wb_init(&req);
        wb_free(&old);
        k->st = ST_PENDING;
        pthread_mutex_unlock(&ops.lock);
        goto out;
    }
    pthread_mutex_unlock(&ops.lock);
    if (rv)
        goto out;

    /* Ask the daemon now. */
    if ((rv = p11_begin(&c, op)))
        goto out;
    size_t len;
    const uint8_t *body = wb_payload(&req, &len);
    wb_raw(c.w, body + 4, len - 4);
    rv = p11_send(&c);
    pthread_mutex_lock(&ops.lock);
    so = sess_get(s, rv == CKR_OK && kind != OPK_NONE);
    if (so && kind != OPK_NONE) {
        k = &so->k[kind];
        k->st = rv == CKR_OK || rv == CKR_OPERATION_ACTIVE ? ST_ACTIVE : ST_UNKNOWN;
        if (rv == CKR_OK) {
            wbuf_t old = k->shape;
            k->shape = shape;
            wb_init(&shape);
            wb_free(&old);
            k->epoch = epoch;
        }
    } else if (so && (op == OP_RECOVER_INIT)) {
        /* The recover operations share the daemon's sign and verify slots. */
        so->k[dir ? OPK_VERIFY : OPK_SIGN].st = ST_UNKNOWN;
    }
    pthread_mutex_unlock(&ops.lock);
out:
    p11_end(&c);
    if (req.p)
        secure_zero(req.p, req.len);
    wb_free(&req);
    wb_free(&shape);
    return rv;
}

/* Take the start held back for (s, kind), if any, leaving the state st. */
static bool take_held(CK_SESSION_HANDLE s, int kind, uint8_t st, wbuf_t *first)
{
    bool held = false;
    pthread_mutex_lock(&ops.lock);
    sess_ops_t *so = sess_get(s, false);
    if (so && so->k[kind].st == ST_PENDING) {
        *first = so->k[kind].pending;
        wb_init(&so->k[kind].pending);
        so->k[kind].st = st;
        held = true;
    }
    pthread_mutex_unlock(&ops.lock);
    return held;
}

CK_RV p11_send_op(call_t *c, opkind_t kind, CK_SESSION_HANDLE s)
{
    wbuf_t first;
    if (!take_held(s, kind, ST_ACTIVE, &first))
        return p11_send(c);
    CK_RV first_rv = CKR_OK;
    CK_RV rv = p11_send_after(c, &first, &first_rv);
    secure_zero(first.p, first.len);
    wb_free(&first);
    if (rv == CKR_OK || first_rv == CKR_OK)
        return rv;
    return first_rv; /* the start failed: the operation never began */
}

void p11_op_after(opkind_t kind, CK_SESSION_HANDLE s, CK_RV rv, bool ended)
{
    pthread_mutex_lock(&ops.lock);
    sess_ops_t *so = sess_get(s, false);
    if (so) {
        uint8_t st = ST_UNKNOWN;
        if (rv == CKR_OK && ended)
            st = ST_IDLE;
        else if ((rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL) && !ended)
            st = ST_ACTIVE;
        so->k[kind].st = st;
    }
    pthread_mutex_unlock(&ops.lock);
}

CK_RV p11_flush_starts(CK_SESSION_HANDLE s)
{
    CK_RV rv = CKR_OK;
    for (int kind = 0; kind < OPK_COUNT; kind++) {
        wbuf_t first;
        if (!take_held(s, kind, ST_UNKNOWN, &first))
            continue;
        size_t len;
        const uint8_t *body = wb_payload(&first, &len);
        call_t c;
        if ((rv = p11_begin(&c, be32_get(body))) == CKR_OK) {
            wb_raw(c.w, body + 4, len - 4);
            CK_RV r = p11_send(&c);
            p11_op_after((opkind_t)kind, s, r, false);
            p11_end(&c);
        }
        secure_zero(first.p, first.len);
        wb_free(&first);
    }
    return rv;
}
