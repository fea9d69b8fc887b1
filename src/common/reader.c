/*
 * Reading frames: a buffer per connection that takes whatever the socket
 * holds in one recv, so a frame usually costs one system call, and a second
 * frame that arrived with the first is already there.
 *
 * The wait spins first: non-blocking reads with sched_yield in between for
 * up to spin_us, then a blocking read. A peer on another core answers in a
 * few microseconds, but waking a sleeping thread there costs tens of
 * microseconds on virtual machines.
 */
#include "wire.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "util.h"

#define FRAME_HDR 4u
#define READER_MIN (16u * 1024u)

void wire_reader_init(wire_reader_t *rd)
{
    memset(rd, 0, sizeof *rd);
}

void wire_reader_free(wire_reader_t *rd)
{
    if (rd->buf)
        secure_zero(rd->buf, rd->cap);
    free(rd->buf);
    memset(rd, 0, sizeof *rd);
}

void wire_reader_wipe(wire_reader_t *rd, size_t keep)
{
    if (rd->start) {
        secure_zero(rd->buf, rd->start);
        if (rd->start == rd->end)
            rd->start = rd->end = 0;
    }
    if (rd->cap > keep && rd->start == rd->end)
        wire_reader_free(rd);
}

/* Room for a frame of `need` bytes from rd->start: move what is buffered to
   the front and grow the buffer, wiping every copy left behind. */
static int make_room(wire_reader_t *rd, size_t need)
{
    size_t have = rd->end - rd->start;
    if (rd->start + need <= rd->cap && rd->end < rd->cap)
        return 0;
    if (need <= rd->cap && rd->start) {
        memmove(rd->buf, rd->buf + rd->start, have);
        secure_zero(rd->buf + have, rd->end - have);
        rd->start = 0;
        rd->end = have;
        return 0;
    }
    size_t cap = need < READER_MIN ? READER_MIN : need;
    uint8_t *p = malloc(cap);
    if (!p)
        return -1;
    if (have)
        memcpy(p, rd->buf + rd->start, have);
    if (rd->buf)
        secure_zero(rd->buf, rd->cap);
    free(rd->buf);
    rd->buf = p;
    rd->cap = cap;
    rd->start = 0;
    rd->end = have;
    return 0;
}

static long elapsed_us(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - since->tv_sec) * 1000000L + (now.tv_nsec - since->tv_nsec) / 1000L;
}

static ssize_t socket_recv(void *ctx, uint8_t *buf, size_t cap, bool nowait, bool mid_frame)
{
    (void)mid_frame;
    return recv(*(const int *)ctx, buf, cap, nowait ? MSG_DONTWAIT : 0);
}

int wire_read(int fd, wire_reader_t *rd, unsigned spin_us, const uint8_t **frame, size_t *len)
{
    return wire_read_from(socket_recv, &fd, rd, spin_us, frame, len);
}

int wire_read_from(wire_recv_fn fn, void *ctx, wire_reader_t *rd, unsigned spin_us,
                   const uint8_t **frame, size_t *len)
{
    bool spinning = spin_us > 0;
    struct timespec start = { 0, 0 };
    if (spinning)
        clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned i = 0;; i++) {
        size_t have = rd->end - rd->start;
        size_t need = FRAME_HDR;
        if (have >= FRAME_HDR) {
            uint32_t n = be32_get(rd->buf + rd->start);
            if (n > WIRE_MAX_FRAME) {
                errno = EPROTO;
                return -1;
            }
            need = FRAME_HDR + n;
            if (have >= need) {
                *frame = rd->buf + rd->start + FRAME_HDR;
                *len = n;
                rd->start += need;
                return 0;
            }
        }
        if (make_room(rd, need))
            return -1;
        ssize_t r = fn(ctx, rd->buf + rd->end, rd->cap - rd->end, spinning, have > 0);
        if (r > 0) {
            rd->end += (size_t)r;
            continue;
        }
        if (r == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        sched_yield(); /* let a thread with work have this core */
        if ((i & 15) == 15 && elapsed_us(&start) >= (long)spin_us)
            spinning = false;
    }
}

unsigned wire_spin_setting(void)
{
    const char *env = getenv("SOFTFM_SPIN_US");
    if (!env || !*env)
        return WIRE_SPIN_DEFAULT_US;
    unsigned long v = strtoul(env, NULL, 10);
    return v > 10000 ? 10000u : (unsigned)v;
}
