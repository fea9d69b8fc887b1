/*
 * The wire codec. See wire.h for the rules a decoder follows.
 */
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define FRAME_HDR 4u

uint32_t be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint64_t be64_get(const uint8_t *p)
{
    return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}

void be64_put(uint8_t *p, uint64_t v)
{
    be32_put(p, (uint32_t)(v >> 32));
    be32_put(p + 4, (uint32_t)v);
}

void wb_init(wbuf_t *b)
{
    memset(b, 0, sizeof *b);
    wb_reset(b);
}

void wb_reset(wbuf_t *b)
{
    b->len = 0;
    b->err = false;
    (void)wb_reserve(b, FRAME_HDR);
}

void wb_free(wbuf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

uint8_t *wb_reserve(wbuf_t *b, size_t n)
{
    if (b->err)
        return NULL;
    if (n > WIRE_MAX_FRAME + FRAME_HDR - b->len) {
        b->err = true;
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->err = true;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    uint8_t *at = b->p + b->len;
    b->len += n;
    return at;
}

void wb_u8(wbuf_t *b, uint8_t v)
{
    uint8_t *p = wb_reserve(b, 1);
    if (p)
        *p = v;
}

void wb_u32(wbuf_t *b, uint32_t v)
{
    uint8_t *p = wb_reserve(b, 4);
    if (p)
        be32_put(p, v);
}

void wb_u64(wbuf_t *b, uint64_t v)
{
    uint8_t *p = wb_reserve(b, 8);
    if (p)
        be64_put(p, v);
}

void wb_raw(wbuf_t *b, const void *src, size_t n)
{
    uint8_t *p = wb_reserve(b, n);
    if (p && n)
        memcpy(p, src, n);
}

void wb_bytes(wbuf_t *b, const void *src, size_t n)
{
    if (n > UINT32_MAX) {
        b->err = true;
        return;
    }
    wb_u32(b, (uint32_t)n);
    wb_raw(b, src, n);
}

const uint8_t *wb_payload(const wbuf_t *b, size_t *len)
{
    *len = b->len >= FRAME_HDR ? b->len - FRAME_HDR : 0;
    return b->p ? b->p + FRAME_HDR : NULL;
}

void rb_init(rbuf_t *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
    r->err = false;
}

size_t rb_left(const rbuf_t *r)
{
    return r->err ? 0 : r->len - r->off;
}

const uint8_t *rb_raw(rbuf_t *r, size_t n)
{
    if (r->err || n > r->len - r->off) {
        r->err = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t rb_u8(rbuf_t *r)
{
    const uint8_t *p = rb_raw(r, 1);
    return p ? *p : 0;
}

uint32_t rb_u32(rbuf_t *r)
{
    const uint8_t *p = rb_raw(r, 4);
    return p ? be32_get(p) : 0;
}

uint64_t rb_u64(rbuf_t *r)
{
    const uint8_t *p = rb_raw(r, 8);
    return p ? be64_get(p) : 0;
}

const uint8_t *rb_bytes(rbuf_t *r, size_t *n)
{
    uint32_t len = rb_u32(r);
    const uint8_t *p = rb_raw(r, len);
    *n = p ? len : 0;
    return p;
}

bool rb_done(const rbuf_t *r)
{
    return !r->err && r->off == r->len;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int wire_seal(wbuf_t *b)
{
    if (b->err || b->len < FRAME_HDR) {
        errno = EMSGSIZE;
        return -1;
    }
    be32_put(b->p, (uint32_t)(b->len - FRAME_HDR));
    return 0;
}

int wire_send(int fd, wbuf_t *b)
{
    if (wire_seal(b))
        return -1;
    return write_all(fd, b->p, b->len);
}

int wire_send_pair(int fd, wbuf_t *a, wbuf_t *b)
{
    if (wire_seal(a) || wire_seal(b))
        return -1;
    struct iovec iov[2] = { { a->p, a->len }, { b->p, b->len } };
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
    size_t left = a->len + b->len;
    while (left) {
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        left -= (size_t)w;
        while (w > 0 && mh.msg_iovlen) { /* step over what went out */
            if ((size_t)w >= mh.msg_iov->iov_len) {
                w -= (ssize_t)mh.msg_iov->iov_len;
                mh.msg_iov++;
                mh.msg_iovlen--;
            } else {
                mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + w;
                mh.msg_iov->iov_len -= (size_t)w;
                w = 0;
            }
        }
    }
    return 0;
}

