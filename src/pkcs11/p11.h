/*
 * What the files of the PKCS#11 module share. Each C_ function borrows a
 * connection, encodes its arguments, waits for the daemon and decodes the
 * results; argument checks that need no daemon are made here first.
 */
#ifndef SOFTFM_P11_H
#define SOFTFM_P11_H

#include <p11-kit/pkcs11.h>

#include "client.h"
#include "common.h"

/* A call in progress. */
typedef struct call {
    client_conn_t *conn;
    wbuf_t *w;
    rbuf_t r;
    CK_RV status;
} call_t;

/* Start a call: CKR_CRYPTOKI_NOT_INITIALIZED before C_Initialize (or in a
   forked child), or a device error when the daemon is not there. */
CK_RV p11_begin(call_t *c, uint32_t op);
/* Send and wait; returns the daemon's status (or a transport error). */
CK_RV p11_send(call_t *c);
void p11_end(call_t *c);
/* Results of the form "u64 length, then the bytes when CKR_OK and there was
   an output buffer": copied to out, *out_len set as PKCS#11 says. */
CK_RV p11_get_output(call_t *c, CK_RV rv, CK_BYTE_PTR out, CK_ULONG_PTR out_len);
/* Start an operation: session, u8 direction, mechanism, key. */
CK_RV p11_init_op(uint32_t op, uint8_t dir, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
                  CK_OBJECT_HANDLE key);
/* For calls with no results: begin, encode u64 args, send, end. */
CK_RV p11_simple(uint32_t op, int nargs, ...);

#endif
