/*
 * softfm client: the HSM side (the registry the HSM SO keeps, through the
 * local socket) and the client side (setup.c) of the network link.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net.h"
#include "tool.h"

static const char usage_text[] =
    "usage: softfm client register --name NAME --cert FILE\n"
    "       softfm client list\n"
    "       softfm client delete --name NAME\n"
    "       softfm client assign|unassign --name NAME --partition PARTITION\n"
    "       softfm client revoke|reinstate --name NAME\n"
    "       softfm client setup --server HOST:PORT --dir DIR [--name CN] [--fingerprint FP]\n"
    "       softfm client add-server (--server HOST:PORT | --socket PATH) --dir DIR\n"
    "                                [--fingerprint FP]";

enum { O_NAME = 1, O_CERT, O_PART, O_SERVER, O_DIR, O_FP, O_SOCKET, O_PIN_FILE };

static const struct option opts[] = {
    { "name", required_argument, NULL, O_NAME },
    { "cert", required_argument, NULL, O_CERT },
    { "partition", required_argument, NULL, O_PART },
    { "server", required_argument, NULL, O_SERVER },
    { "dir", required_argument, NULL, O_DIR },
    { "fingerprint", required_argument, NULL, O_FP },
    { "socket", required_argument, NULL, O_SOCKET },
    { "so-pin-file", required_argument, NULL, O_PIN_FILE },
    { NULL, 0, NULL, 0 },
};

static int parse(tool_t *t, int argc, char **argv, client_args_t *a)
{
    memset(a, 0, sizeof *a);
    optind = 0;
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case O_NAME: a->name = optarg; break;
        case O_CERT: a->cert = optarg; break;
        case O_PART: a->partition = optarg; break;
        case O_SERVER: a->server = optarg; break;
        case O_DIR: a->dir = optarg; break;
        case O_FP: a->fingerprint = optarg; break;
        case O_SOCKET: a->socket = optarg; break;
        case O_PIN_FILE: t->so_pin_file = optarg; break;
        default: return 2;
        }
    }
    /* "client delete NAME" reads as well as "--name NAME". */
    if (optind + 1 == argc && !a->name)
        a->name = argv[optind++];
    return optind == argc ? 0 : 2;
}

/* An administration request: the SO PIN, the client's name, then more. */
typedef struct so_call {
    client_conn_t *k;
    wbuf_t *w;
    rbuf_t r;
} so_call_t;

static CK_RV so_start(tool_t *t, uint32_t op, const char *name, so_call_t *c)
{
    memset(c, 0, sizeof *c);
    return so_begin(t, op, name, false, &c->k, &c->w);
}

static int so_finish(tool_t *t, so_call_t *c, CK_RV rv, const char *what)
{
    if (rv == CKR_OK)
        rv = admin_send(t, c->k, &c->r);
    client_end(t->client, c->k);
    if (rv == CKR_CANCEL)
        return 1;
    return rv ? fail(what, rv) : 0;
}

static int do_register(tool_t *t, const client_args_t *a)
{
    if (!a->name || !a->cert)
        return fail_msg("client register: --name NAME and --cert FILE are required");
    X509 *x = net_read_cert(a->cert);
    uint8_t *der = NULL, fp[NET_FP_LEN];
    size_t len = 0;
    if (!x || net_cert_to_der(x, &der, &len) || net_fingerprint(x, fp)) {
        X509_free(x);
        return fail_msg("client register: %s is not a certificate (PEM or DER)", a->cert);
    }
    bool current = net_cert_current(x);
    X509_free(x);
    if (!current) {
        OPENSSL_free(der);
        return fail_msg("client register: the certificate in %s has expired or is not yet valid",
                        a->cert);
    }
    so_call_t c;
    CK_RV rv = so_start(t, OP_ADMIN_CLIENT_REGISTER, a->name, &c);
    if (rv == CKR_OK)
        wb_bytes(c.w, der, len);
    OPENSSL_free(der);
    int st = so_finish(t, &c, rv, "client register");
    if (st == 0) {
        char text[NET_FP_TEXT];
        net_fp_text(fp, text);
        printf("client %s registered; certificate SHA-256 %s\n", a->name, text);
    }
    return st;
}

static int do_simple(tool_t *t, const client_args_t *a, uint32_t op, int flag, const char *what,
                     const char *done)
{
    if (!a->name)
        return fail_msg("%s: --name NAME is required", what);
    so_call_t c;
    CK_RV rv = so_start(t, op, a->name, &c);
    if (rv == CKR_OK && flag >= 0)
        wb_u8(c.w, (uint8_t)flag);
    int st = so_finish(t, &c, rv, what);
    if (st == 0)
        printf("client %s %s\n", a->name, done);
    return st;
}

static int do_assign(tool_t *t, const client_args_t *a, bool assign)
{
    const char *what = assign ? "client assign" : "client unassign";
    if (!a->name || !a->partition)
        return fail_msg("%s: --name NAME and --partition PARTITION are required", what);
    so_call_t c;
    CK_RV rv = so_start(t, OP_ADMIN_CLIENT_ASSIGN, a->name, &c);
    if (rv == CKR_OK) {
        wb_bytes(c.w, a->partition, strlen(a->partition));
        wb_u8(c.w, assign);
    }
    int st = so_finish(t, &c, rv, what);
    if (st == 0)
        printf("partition %s %s client %s\n", a->partition,
               assign ? "assigned to" : "taken from", a->name);
    return st;
}

static int do_list(tool_t *t)
{
    client_conn_t *k = NULL;
    wbuf_t *w;
    rbuf_t r;
    CK_RV rv = admin_begin(t, OP_ADMIN_CLIENT_LIST, &k, &w);
    if (rv == CKR_OK)
        rv = admin_send(t, k, &r);
    if (rv) {
        client_end(t->client, k);
        return fail("client list", rv);
    }
    uint32_t n = rb_u32(&r);
    for (uint32_t i = 0; i < n && !r.err; i++) {
        char name[64], cn[64], until[32], fp[NET_FP_TEXT], when[32] = "-";
        wire_str(&r, name, sizeof name);
        const uint8_t *h = rb_raw(&r, NET_FP_LEN);
        uint8_t revoked = rb_u8(&r), current = rb_u8(&r);
        time_t created = (time_t)rb_u64(&r);
        wire_str(&r, cn, sizeof cn);
        wire_str(&r, until, sizeof until);
        uint32_t ns = rb_u32(&r);
        if (!h || ns > rb_left(&r))
            break;
        net_fp_text(h, fp);
        struct tm tm;
        if (gmtime_r(&created, &tm))
            strftime(when, sizeof when, "%Y-%m-%d", &tm);
        printf("%-20s %s\n", name,
               revoked ? "REVOKED" : current ? "active" : "certificate out of date");
        printf("    certificate: CN=%s, valid until %s, SHA-256 %s\n", cn, until, fp);
        printf("    registered %s; partitions (slots):", when);
        for (uint32_t s = 0; s < ns; s++)
            printf(" %llu", (unsigned long long)rb_u64(&r));
        printf("%s\n", ns ? "" : " none");
    }
    bool bad = r.err || !rb_done(&r);
    client_end(t->client, k);
    if (bad)
        return fail_msg("client list: a malformed reply");
    if (!n)
        printf("no clients registered\n");
    return 0;
}

int cmd_client(tool_t *t, int argc, char **argv)
{
    client_args_t a;
    if (argc < 1 || parse(t, argc, argv, &a))
        return fail_msg("%s", usage_text), 2;
    const char *sub = argv[0];
    if (!strcmp(sub, "register"))
        return do_register(t, &a);
    if (!strcmp(sub, "list"))
        return do_list(t);
    if (!strcmp(sub, "delete"))
        return do_simple(t, &a, OP_ADMIN_CLIENT_DELETE, -1, "client delete", "deleted");
    if (!strcmp(sub, "revoke"))
        return do_simple(t, &a, OP_ADMIN_CLIENT_REVOKE, 1, "client revoke", "revoked");
    if (!strcmp(sub, "reinstate"))
        return do_simple(t, &a, OP_ADMIN_CLIENT_REVOKE, 0, "client reinstate", "reinstated");
    if (!strcmp(sub, "assign") || !strcmp(sub, "unassign"))
        return do_assign(t, &a, !strcmp(sub, "assign"));
    if (!strcmp(sub, "setup"))
        return client_setup(&a);
    if (!strcmp(sub, "add-server"))
        return client_add_server(&a);
    return fail_msg("%s", usage_text), 2;
}

int server_cert_fetch(tool_t *t, X509 **cert)
{
    client_conn_t *k = NULL;
    wbuf_t *w;
    rbuf_t r;
    *cert = NULL;
    CK_RV rv = admin_begin(t, OP_ADMIN_SERVER_CERT, &k, &w);
    if (rv == CKR_OK)
        rv = admin_send(t, k, &r);
    if (rv == CKR_OK) {
        size_t n;
        const uint8_t *der = rb_bytes(&r, &n);
        if (!der || !rb_done(&r))
            rv = CKR_DEVICE_ERROR;
        else if (n && !(*cert = net_cert_from_der(der, n)))
            rv = CKR_DEVICE_ERROR;
    }
    client_end(t->client, k);
    return (int)rv;
}
