/*
 * libFuzzer target: the SMFS request decoder (what an FM sends over its
 * link) against a real store in a temporary directory. Nothing may crash
 * or read out of bounds; every answer starts with an SMFS code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "smfs.h"
#include "store.h"

static store_t *st;
static fm_smfs_t *fm;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!st) {
        char dir[] = "/tmp/softfm-fuzz-smfs.XXXXXX";
        if (!mkdtemp(dir) || store_open(dir, &st) || !(fm = smfs_new()))
            abort();
        setenv("SOFTFM_SMFS_CAPACITY", "65536", 1);
    }
    rbuf_t r;
    rb_init(&r, data, size);
    wbuf_t w;
    wb_init(&w);
    (void)smfs_serve(st, fm, size && data[0] & 1 ? "fuzz-b" : "fuzz-a", true, &r, &w);
    size_t n;
    const uint8_t *p = wb_payload(&w, &n);
    if (n < 4 || be32_get(p) > 11)
        abort();
    wb_free(&w);
    return 0;
}
