/*
 * libFuzzer target: the wire codec's template and mechanism-parameter
 * decoders and the frame reader on arbitrary bytes. Nothing may read out of
 * bounds, leak or crash; what decodes must encode again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rbuf_t r;
    rb_init(&r, data, size);
    CK_ATTRIBUTE *t = NULL;
    CK_ULONG n = 0;
    if (proto_get_template(&r, &t, &n) == CKR_OK) {
        /* Encode what was decoded again: it must fit and round-trip. The
           daemon keeps an attribute array encoded; the application's form
           is checked on its own below. */
        bool arrays = false;
        for (CK_ULONG i = 0; i < n; i++) {
            if (!proto_is_attr_array(t[i].type))
                continue;
            arrays = true;
            CK_ATTRIBUTE elems[4] = { { 0, NULL, 0 } };
            uint8_t vals[4][16];
            for (int k = 0; k < 4; k++)
                elems[k] = (CK_ATTRIBUTE){ 0, vals[k], sizeof vals[k] };
            CK_ATTRIBUTE a = { t[i].type, elems, sizeof elems };
            if (proto_check_attr_array(t[i].pValue, t[i].ulValueLen) == CKR_OK)
                (void)proto_get_attr_array(t[i].pValue, t[i].ulValueLen, &a);
        }
        wbuf_t w;
        wb_init(&w);
        if (!arrays && proto_put_template(&w, t, n) != CKR_OK && !w.err)
            abort();
        wb_free(&w);
        proto_free_template(t, n);
    }
    /* The same bytes as a mechanism and its parameter. */
    CK_MECHANISM m;
    proto_param_t store;
    rb_init(&r, data, size);
    if (proto_get_mechanism(&r, &m, &store)) {
        wbuf_t w;
        wb_init(&w);
        CK_RV rv = proto_put_mechanism(&w, &m);
        if (rv != CKR_OK && rv != CKR_ARGUMENTS_BAD && rv != CKR_MECHANISM_PARAM_INVALID)
            abort();
        wb_free(&w);
    }
    /* The same bytes as a stream of frames on a socket. */
    int sv[2];
    if (size < 65536 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
        if (write(sv[0], data, size) != (ssize_t)size)
            abort();
        shutdown(sv[0], SHUT_WR);
        wire_reader_t rd;
        wire_reader_init(&rd);
        const uint8_t *frame;
        size_t len;
        while (wire_read(sv[1], &rd, 0, &frame, &len) == 0)
            wire_reader_wipe(&rd, 4096);
        wire_reader_free(&rd);
        close(sv[0]);
        close(sv[1]);
    }
    return 0;
}
