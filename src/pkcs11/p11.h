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
    unsigned hsm;       /* which HSM answered (module.c: several may be set up) */
    wbuf_t held;        /* the request, while its HSM is not yet known */
} call_t;

/* Slot ids and session handles name their HSM in their upper half: HSM i's
   slot or session n is (i << 32) | n; HSM 0's are the HSM's own values. */
#define P11_HSM_SHIFT 32
CK_ULONG p11_global(const call_t *c, CK_ULONG local);

/* Start a call: CKR_CRYPTOKI_NOT_INITIALIZED before C_Initialize (or in a
   forked child), or a device error when the daemon is not there. */
CK_RV p11_begin(call_t *c, uint32_t op);
/* The same to HSM number hsm (requests that name no slot or session). */
CK_RV p11_begin_at(call_t *c, uint32_t op, unsigned hsm);
unsigned p11_hsm_count(void);
/* Send and wait; returns the daemon's status (or a transport error). */
CK_RV p11_send(call_t *c);
void p11_end(call_t *c);
/* Results of the form "u64 length, then the bytes when CKR_OK and there was
   an output buffer": copied to out, *out_len set as PKCS#11 says. */
CK_RV p11_get_output(call_t *c, CK_RV rv, CK_BYTE_PTR out, CK_ULONG_PTR out_len);
/* CKR_OK when the library is initialised in this process. */
CK_RV p11_ready(void);
/* As p11_send, with a request sent ahead in the same write (see opstart.c). */
CK_RV p11_send_after(call_t *c, wbuf_t *first, CK_RV *first_rv);
/* Start an operation: session, u8 direction, mechanism, key. */
CK_RV p11_init_op(uint32_t op, uint8_t dir, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
                  CK_OBJECT_HANDLE key);

/* opstart.c: operation starts the module may send with the operation. */
typedef enum opkind {
    OPK_NONE = -1, OPK_DIGEST, OPK_ENCRYPT, OPK_DECRYPT, OPK_SIGN, OPK_VERIFY, OPK_COUNT
} opkind_t;
/* A C_*Init: encoded, then answered by the module or sent now. */
CK_RV p11_start(opkind_t kind, uint32_t op, CK_SESSION_HANDLE s, uint8_t dir,
                CK_MECHANISM_PTR m, bool has_key, CK_OBJECT_HANDLE key);
/* Send a call that continues an operation of that kind; a start held back
   goes first, and its failure is the answer. */
CK_RV p11_send_op(call_t *c, opkind_t kind, CK_SESSION_HANDLE s);
/* What the call did: ended the operation (CKR_OK and the result delivered)
   or left it going; anything else leaves its state unknown. */
void p11_op_after(opkind_t kind, CK_SESSION_HANDLE s, CK_RV rv, bool ended);
/* Send every start held back for the session now (before a call that needs
   the daemon to see the operation, such as a context-specific login). */
CK_RV p11_flush_starts(CK_SESSION_HANDLE s);
/* Something that may change a start's answer happened in this process. */
void p11_ops_changed(void);
void p11_ops_forget(CK_SESSION_HANDLE s);
void p11_ops_forget_all(void);
void p11_ops_reset_after_fork(void);
/* C_Initialize's argument rules; C_GetInfo's answer. */
CK_RV p11_check_init_args(CK_VOID_PTR pInitArgs);
void p11_fill_info(CK_INFO_PTR pInfo, const char *description);
/* For calls with no results: begin, encode u64 args, send, end. */
CK_RV p11_simple(uint32_t op, int nargs, ...);

#endif
