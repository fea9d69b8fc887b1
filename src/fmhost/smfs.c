/*
 * The FM's SMFS calls: libfmsupt encodes them; here they go to softfmd over
 * the link as FMH_SMFS frames, and the answer comes back.
 */
#include <string.h>

#include "fmhost.h"

int fmh_smfs(uint32_t op, const uint8_t *args, uint32_t len, uint8_t *out, uint32_t *out_len)
{
    wbuf_t f;
    wb_init(&f);
    wb_u32(&f, FMH_SMFS);
    wb_u32(&f, op);
    wb_raw(&f, args, len);
    const uint8_t *frame;
    size_t n;
    int bad = f.err || wire_send(fmh.link, &f) ||
              wire_read(fmh.link, &fmh.rd, fmh.spin_us, &frame, &n);
    if (f.p)
        secure_zero(f.p, f.len); /* file contents */
    wb_free(&f);
    uint32_t room = *out_len;
    *out_len = 0;
    if (bad)
        return 1; /* SMFS_ERR_ERROR: the HSM did not answer */
    rbuf_t r;
    rb_init(&r, frame, n);
    uint32_t kind = rb_u32(&r), rc = rb_u32(&r);
    if (r.err || kind != FMH_SMFS_REPLY) {
        wire_reader_wipe(&fmh.rd, 1u << 20);
        return 1;
    }
    size_t rest = rb_left(&r);
    if (rest > room)
        rest = room;
    if (rest && out)
        memcpy(out, rb_raw(&r, rest), rest);
    *out_len = (uint32_t)rest;
    wire_reader_wipe(&fmh.rd, 1u << 20);
    return (int)rc;
}
