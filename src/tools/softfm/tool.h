/*
 * The softfm admin shell: shared helpers of its commands.
 */
#ifndef SOFTFM_TOOL_H
#define SOFTFM_TOOL_H

#include <stdbool.h>
#include <p11-kit/pkcs11.h>

#include "client.h"
#include "common.h"

typedef struct tool {
    char socket[256];
    const char *so_pin_file;
    const char *so_pin;            /* given on the command line (ctfm -p) */
    client_t *client;
    bool p11_ready;
} tool_t;

/* Print "softfm: what: reason" to stderr (the program's name is
   p11app_prog); returns 1 (the exit status). */
int fail(const char *what, CK_RV rv);
int fail_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The HSM SO PIN: --so-pin-file, SOFTFM_SO_PIN, or a no-echo prompt.
   confirm asks twice (for a new PIN). Wipe the buffer after use. */
int get_so_pin(tool_t *t, char *buf, size_t cap, bool confirm);
/* A yes/no question on the terminal; false without one. */
bool confirm(const char *question);

/* A string of a reply into buf (empty when absent or too long). */
void wire_str(rbuf_t *r, char *buf, size_t cap);

/* A wire call without the PKCS#11 module (administration). */
CK_RV admin_begin(tool_t *t, uint32_t op, client_conn_t **k, wbuf_t **w);
CK_RV admin_send(tool_t *t, client_conn_t *k, rbuf_t *r);
/* An administration request that starts with the HSM SO PIN (asked twice
   when new_pin) and then, when given, a name; the caller writes the rest
   and sends. CKR_CANCEL when no PIN was given. */
CK_RV so_begin(tool_t *t, uint32_t op, const char *name, bool new_pin, client_conn_t **k,
               wbuf_t **w);

/* PKCS#11 through libsoftfm-pkcs11, initialised on first use. */
CK_RV p11_ready(tool_t *t);

/* FMs (fm.c), shared by softfm fm and ctfm. The signer the SO names, if
   any, must be the image's: by its certificate file or by the label of the
   Admin Token's certificate. */
typedef struct fm_load_opts {
    bool dev;                      /* an unsigned development image */
    const char *cert_file;
    const char *cert_label;
} fm_load_opts_t;
int fm_cmd_load(tool_t *t, const char *file, const fm_load_opts_t *o);
/* Every FM, or only the one of that number (-1: all). */
int fm_cmd_status(tool_t *t, long number);
int fm_cmd_delete(tool_t *t, const char *name_or_number);

int cmd_hsm(tool_t *t, int argc, char **argv);
int cmd_partition(tool_t *t, int argc, char **argv);
int cmd_slot(tool_t *t, int argc, char **argv);
int cmd_policy(tool_t *t, int argc, char **argv);
int cmd_fm(tool_t *t, int argc, char **argv);
int cmd_smfs(tool_t *t, int argc, char **argv);
int cmd_audit(tool_t *t, int argc, char **argv);
int cmd_client(tool_t *t, int argc, char **argv);

/* The network link (clients.c, setup.c). */
typedef struct client_args {
    const char *name, *cert, *partition, *server, *dir, *fingerprint, *socket;
} client_args_t;
int client_setup(const client_args_t *a);
int client_add_server(const client_args_t *a);
/* The HSM's TLS certificate (*cert NULL when it has none yet): a CK_RV. */
struct x509_st;
int server_cert_fetch(tool_t *t, struct x509_st **cert);

#endif
