/*
 * Frames over a plain socket or over TLS.
 *
 * A TLS socket is non-blocking, so no read or write can hang on a peer that
 * sends a record one byte at a time or stops reading: waiting is done in
 * poll with a deadline. The wait for the next frame is unbounded unless the
 * channel sets one (a pooled connection may rest for hours); once any of a
 * frame (or of a TLS record) has come, the rest must follow within
 * NET_FRAME_MS.
 */
#include "net.h"

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

long net_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

int net_wait(int fd, short events, long deadline)
{
    for (;;) {
        int ms = -1;
        if (deadline >= 0) {
            long left = deadline - net_now_ms();
            if (left <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            ms = (int)left;
        }
        struct pollfd pf = { .fd = fd, .events = events };
        int n = poll(&pf, 1, ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static ssize_t tls_recv(void *ctx, uint8_t *buf, size_t cap, bool nowait, bool mid_frame)
{
    chan_t *c = ctx;
    long deadline = mid_frame ? net_now_ms() + NET_FRAME_MS : c->first_by;
    for (;;) {
        size_t got = 0;
        ERR_clear_error();
        if (SSL_read_ex(c->ssl, buf, cap, &got) == 1)
            return (ssize_t)got;
        int e = SSL_get_error(c->ssl, 0);
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0;
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            errno = ECONNRESET;
            return -1;
        }
        if (nowait) {
            errno = EAGAIN;
            return -1;
        }
        /* Bytes came but not a whole record: the clock runs from here. */
        if (deadline < 0 && SSL_has_pending(c->ssl))
            deadline = net_now_ms() + NET_FRAME_MS;
        if (net_wait(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
            return -1;
        if (deadline < 0)
            deadline = net_now_ms() + NET_FRAME_MS;
    }
}

int chan_read(chan_t *c, wire_reader_t *rd, unsigned spin_us, const uint8_t **frame, size_t *len)
{
    if (!c->ssl)
        return wire_read(c->fd, rd, spin_us, frame, len);
    /* The same short spin as on the Unix socket: waking a sleeping thread
       costs more than a few non-blocking reads (SSL_read on an empty
       non-blocking socket is one recv). */
    return wire_read_from(tls_recv, c, rd, spin_us, frame, len);
}

static int tls_write(chan_t *c, const uint8_t *p, size_t n)
{
    long deadline = net_now_ms() + NET_FRAME_MS;
    while (n) {
        size_t put = 0;
        ERR_clear_error();
        if (SSL_write_ex(c->ssl, p, n, &put) == 1) {
            p += put;
            n -= put;
            continue;
        }
        int e = SSL_get_error(c->ssl, 0);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            errno = ECONNRESET;
            return -1;
        }
        if (net_wait(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
            return -1;
    }
    return 0;
}

int chan_send(chan_t *c, wbuf_t *b)
{
    if (!c->ssl)
        return wire_send(c->fd, b);
    if (wire_seal(b))
        return -1;
    return tls_write(c, b->p, b->len);
}

int chan_send_pair(chan_t *c, wbuf_t *a, wbuf_t *b)
{
    if (!c->ssl)
        return wire_send_pair(c->fd, a, b);
    if (wire_seal(a) || wire_seal(b))
        return -1;
    return tls_write(c, a->p, a->len) || tls_write(c, b->p, b->len) ? -1 : 0;
}

void chan_close(chan_t *c)
{
    if (c->ssl) {
        (void)SSL_shutdown(c->ssl); /* one close_notify, no wait for the answer */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}
