/*
 * The client side of the wire: where the daemon is, and a pool of
 * connections to it that threads borrow one call at a time.
 *
 * A call: client_begin (borrow a connection, start a request), write the
 * arguments into the returned wbuf, client_call (send, wait, read status),
 * read results from the rbuf, client_end. A daemon that cannot be reached
 * gives CKR_DEVICE_REMOVED; one lost mid-call gives CKR_DEVICE_ERROR; the
 * next call connects afresh, so clients recover when the daemon returns.
 */
#ifndef SOFTFM_CLIENT_H
#define SOFTFM_CLIENT_H

#include <stdbool.h>
#include <p11-kit/pkcs11.h>

#include "common.h"

#define CLIENT_DEFAULT_SOCKET "/run/softfm/softfmd.sock"
#define CLIENT_DEFAULT_CONF "/etc/softfm.conf"

typedef struct client client_t;
typedef struct client_conn client_conn_t;

/* The socket path: SOFTFM_SOCKET, else "socket = PATH" in the file named by
   SOFTFM_CONF (or the default file), else the default path. */
void client_socket_path(char *buf, size_t cap);

client_t *client_new(const char *socket_path);
/* Close every pooled connection (the daemon ends this process's sessions). */
void client_free(client_t *c);
/* After fork, in the child: close the parent's connections' descriptors
   (the daemon keeps a process's sessions while any of them is open). */
void client_forget(client_t *c);

CK_RV client_begin(client_t *c, uint32_t op, client_conn_t **conn, wbuf_t **req);
/* Send the request; on CKR_OK from the transport, *status is the daemon's
   answer and *reply reads the results. */
CK_RV client_call(client_t *c, client_conn_t *conn, CK_RV *status, rbuf_t *reply);
/* As client_call, with another request sent ahead of it in the same write
   (an operation start the module held back); that one's status goes to
   *first_status, and *reply reads the second's results. */
CK_RV client_call_after(client_t *c, client_conn_t *conn, wbuf_t *first, CK_RV *first_status,
                        CK_RV *status, rbuf_t *reply);
void client_end(client_t *c, client_conn_t *conn);

#endif
