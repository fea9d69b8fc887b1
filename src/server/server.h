/*
 * What the daemon's connection code shares (softfmd.c: the Unix socket,
 * the connection list and the request loop; netserve.c: the network link).
 */
#ifndef SOFTFM_SERVER_H
#define SOFTFM_SERVER_H

#include "dispatch.h"
#include "net.h"

typedef struct conn {
    chan_t ch;
    app_id_t app;
    const dispatch_scope_t *scope;  /* NULL: a local process, unrestricted */
    /* A network client: who it is and what it may see. */
    dispatch_scope_t net_scope;
    CK_SLOT_ID slots[HSM_CLIENT_SLOTS_MAX];
    char client[HSM_NAME_MAX + 1];
    uint8_t fp[NET_FP_LEN];
    char peer[64];
    char why[160];                  /* why a handshake was refused */
    bool counted;                   /* among the pending handshakes */
    struct conn *next, *prev;
} conn_t;

/* The HSM this daemon serves. */
hsm_t *srv_hsm(void);
/* Add a connection to the list (false: the connection limit is reached). */
bool conn_add(conn_t *c);
/* Serve requests until the connection ends; then it is forgotten. */
void conn_serve(conn_t *c);
/* Close a connection that was never served. */
void conn_forget(conn_t *c);
/* End every connection of the named network client. */
void conns_drop_client(const char *name);

/* netserve.c */
int netserve_listen(const char *hostport);
void netserve_accept(int listen_fd);
/* The AppId a network connection's process was given went out of use. */
void netserve_app_release(app_id_t app);

#endif
