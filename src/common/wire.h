/*
 * The wire codec: growable write buffers, bounds-checked read cursors and
 * length-prefixed frames on a stream socket.
 *
 * Every integer on the wire is big-endian. A reader never trusts a length it
 * has read: each get checks the bytes that remain first and, on a shortfall,
 * latches an error flag so a decoder can read a whole message and test once.
 */
#ifndef SOFTFM_WIRE_H
#define SOFTFM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest frame payload either side accepts; bigger data is chunked. */
#define WIRE_MAX_FRAME (2u * 1024u * 1024u)
/* Largest piece of bulk data (digest input, random output) in one request. */
#define WIRE_CHUNK (1024u * 1024u)

typedef struct wbuf {
    uint8_t *p;
    size_t len;
    size_t cap;
    bool err;   /* allocation failed or the frame would be too large */
} wbuf_t;

typedef struct rbuf {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool err;   /* a read ran past the end */
} rbuf_t;

/* A writer starts with room for the frame length, filled in by wire_send. */
void wb_init(wbuf_t *b);
void wb_reset(wbuf_t *b);
void wb_free(wbuf_t *b);
void wb_u8(wbuf_t *b, uint8_t v);
void wb_u32(wbuf_t *b, uint32_t v);
void wb_u64(wbuf_t *b, uint64_t v);
void wb_raw(wbuf_t *b, const void *p, size_t n);
/* A u32 length, then the bytes. */
void wb_bytes(wbuf_t *b, const void *p, size_t n);
/* Reserve n bytes and return where they start, or NULL on error. */
uint8_t *wb_reserve(wbuf_t *b, size_t n);
/* Payload (without the frame length) as written so far. */
const uint8_t *wb_payload(const wbuf_t *b, size_t *len);

void rb_init(rbuf_t *r, const void *p, size_t len);
uint8_t rb_u8(rbuf_t *r);
uint32_t rb_u32(rbuf_t *r);
uint64_t rb_u64(rbuf_t *r);
/* A u32 length, then that many bytes; *p points into the buffer. */
const uint8_t *rb_bytes(rbuf_t *r, size_t *n);
const uint8_t *rb_raw(rbuf_t *r, size_t n);
size_t rb_left(const rbuf_t *r);
/* True when nothing failed and every byte was consumed. */
bool rb_done(const rbuf_t *r);

/* Frame I/O. Return 0, or -1 with errno set (EPROTO for a bad length). */
int wire_send(int fd, wbuf_t *b);
/* Two frames in one write: the daemon answers each in order. */
int wire_send_pair(int fd, wbuf_t *a, wbuf_t *b);
/*
 * A connection's incoming frames (reader.c). wire_read returns the next
 * frame, pointing into the reader's buffer until the next call; it polls
 * without sleeping for up to spin_us microseconds before it blocks.
 * wire_reader_wipe clears what has been read (frames may carry PINs and key
 * values) and, when nothing is buffered, drops a buffer larger than keep.
 */
typedef struct wire_reader {
    uint8_t *buf;
    size_t cap;
    size_t start;   /* first byte not yet returned */
    size_t end;     /* bytes received */
} wire_reader_t;

void wire_reader_init(wire_reader_t *rd);
int wire_read(int fd, wire_reader_t *rd, unsigned spin_us, const uint8_t **frame, size_t *len);
void wire_reader_wipe(wire_reader_t *rd, size_t keep);
/* The same over any byte stream: fn reads up to cap bytes, without waiting
   when nowait is set (-1 with EAGAIN then), knowing whether part of a frame
   is already in (a stream may allow less time for the rest of a frame than
   for the start of the next). It returns 0 at the end of the stream. */
typedef ssize_t (*wire_recv_fn)(void *ctx, uint8_t *buf, size_t cap, bool nowait,
                                bool mid_frame);
int wire_read_from(wire_recv_fn fn, void *ctx, wire_reader_t *rd, unsigned spin_us,
                   const uint8_t **frame, size_t *len);
/* Fill in a frame's length before it is written by other means than
   wire_send (0, or -1 with EMSGSIZE when the frame is in error). */
int wire_seal(wbuf_t *b);
void wire_reader_free(wire_reader_t *rd);
/* The spin used unless SOFTFM_SPIN_US says otherwise (0 turns it off). */
#define WIRE_SPIN_DEFAULT_US 30u
unsigned wire_spin_setting(void);

uint32_t be32_get(const uint8_t *p);
void be32_put(uint8_t *p, uint32_t v);
uint64_t be64_get(const uint8_t *p);
void be64_put(uint8_t *p, uint64_t v);

#endif
