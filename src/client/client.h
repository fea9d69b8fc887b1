/*
 * The client side of the wire: where the daemon is, and a pool of
 * connections to it that threads borrow one call at a time.
 *
 * A call: client_begin (borrow a connection, start a request), write the
 * arguments into the returned wbuf, client_call (send, wait, read status),
 * read results from the rbuf, client_end. A daemon that cannot be reached
 * gives CKR_DEVICE_REMOVED; one lost mid-call gives CKR_DEVICE_ERROR; the
 * next call connects afresh, so clients recover when the daemon returns.
 *
 * A network HSM is reached over TLS (src/net) with this host's certificate;
 * each new connection first says which process it belongs to (its process
 * id and a random value chosen once per process), so that the HSM gives all
 * of one process's connections one AppId and no other process that AppId.
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

/* The HSMs this host reaches (config.c). */
#define CLIENT_MAX_HSMS 16
#define CLIENT_PATH_MAX 512
typedef struct client_hsm {
    bool tls;                          /* a network HSM; else a local socket */
    char addr[256];                    /* HOST:PORT, or the socket path */
    char server_cert[CLIENT_PATH_MAX]; /* the pinned certificate (network) */
} client_hsm_t;
typedef struct client_config {
    client_hsm_t hsm[CLIENT_MAX_HSMS];
    size_t n;
    char client_cert[CLIENT_PATH_MAX];
    char client_key[CLIENT_PATH_MAX];
} client_config_t;
/* SOFTFM_SOCKET, then the file SOFTFM_CONF names (or /etc/softfm.conf):
   0, or -1 with a reason in err. There is always at least one HSM. */
int client_config_load(client_config_t *cfg, char *err, size_t cap);
/* The local HSM's socket path (for administration). */
void client_socket_path(char *buf, size_t cap);

/* A pool of connections to one local HSM. */
client_t *client_new(const char *socket_path);
/* A pool for every HSM of the configuration (client_config_load), in its
   order: CKR_OK with their number in *n; CKR_HOST_MEMORY; or
   CKR_GENERAL_ERROR when the configuration, or a network HSM's key or
   certificates, do not read (nothing is kept then). */
CK_RV client_open_all(client_t *out[CLIENT_MAX_HSMS], unsigned *n);
/* Whether it is a network HSM, and its address. */
bool client_is_remote(const client_t *c);
const char *client_addr(const client_t *c);
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
