/*
 * TLS 1.3 contexts and handshakes for both ends of the network link.
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

int net_split_hostport(const char *s, char *host, size_t cap, char *port, size_t pcap)
{
    const char *colon;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        hl = (size_t)(close - s - 1);
        s++;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (!hl || hl >= cap || !pl || pl >= pcap || strspn(p, "0123456789") != pl)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    memcpy(port, p, pl + 1);
    long v = strtol(port, NULL, 10);
    return v > 0 && v < 65536 ? 0 : -1;
}

static SSL_CTX *ctx_common(const SSL_METHOD *m, EVP_PKEY *key, X509 *cert)
{
    SSL_CTX *ctx = SSL_CTX_new(m);
    if (!ctx)
        return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* No resumption: each connection shows its certificate again. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    return ctx;
}

typedef struct server_check {
    net_client_check_fn fn;
    void *arg;
} server_check_t;

static int server_ex_idx = -1;
static int conn_ex_idx = -1;
static int pin_ex_idx = -1;

static int verify_client(X509_STORE_CTX *xs, void *unused)
{
    (void)unused;
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    if (!ssl || !leaf)
        return 0;
    SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
    server_check_t *chk = SSL_CTX_get_ex_data(ctx, server_ex_idx);
    if (!chk || !chk->fn(chk->arg, SSL_get_ex_data(ssl, conn_ex_idx), leaf)) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    return 1;
}

static void free_check(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                       void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    OPENSSL_free(ptr);
}

static void free_pin(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    X509_free(ptr);
}

static CRYPTO_ONCE indexes_once = CRYPTO_ONCE_STATIC_INIT;

static void make_indexes(void)
{
    server_ex_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_check);
    conn_ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    pin_ex_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_pin);
}

SSL_CTX *net_server_ctx(EVP_PKEY *key, X509 *cert, net_client_check_fn check, void *arg)
{
    if (!CRYPTO_THREAD_run_once(&indexes_once, make_indexes))
        return NULL;
    SSL_CTX *ctx = ctx_common(TLS_server_method(), key, cert);
    server_check_t *chk = OPENSSL_zalloc(sizeof *chk);
    if (!ctx || !chk || server_ex_idx < 0 || conn_ex_idx < 0) {
        OPENSSL_free(chk);
        SSL_CTX_free(ctx);
        return NULL;
    }
    chk->fn = check;
    chk->arg = arg;
    if (!SSL_CTX_set_ex_data(ctx, server_ex_idx, chk)) {
        OPENSSL_free(chk);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, verify_client, NULL);
    return ctx;
}

/* The client accepts exactly the pinned certificate (any, when none is
   pinned: only `softfm client setup` does that, to fetch it). */
static int verify_server(X509_STORE_CTX *xs, void *unused)
{
    (void)unused;
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    X509 *pinned = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), pin_ex_idx) : NULL;
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    if (!leaf || !ssl)
        return 0;
    if (pinned && X509_cmp(leaf, pinned) != 0) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    return 1;
}

SSL_CTX *net_client_ctx(EVP_PKEY *key, X509 *cert, X509 *pinned_server)
{
    if (!CRYPTO_THREAD_run_once(&indexes_once, make_indexes) || pin_ex_idx < 0)
        return NULL;
    SSL_CTX *ctx = ctx_common(TLS_client_method(), key, cert);
    if (!ctx)
        return NULL;
    /* The context keeps its own reference to the pin. */
    if (pinned_server && (!X509_up_ref(pinned_server) ||
                          !SSL_CTX_set_ex_data(ctx, pin_ex_idx, pinned_server))) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, verify_server, NULL);
    return ctx;
}

/* OpenSSL's socket BIO writes with write(2): a peer that has gone would
   raise SIGPIPE in the host application that loaded the module. This one
   is the socket BIO with writes made by send(2) with MSG_NOSIGNAL. */
static BIO_METHOD *nosig_method;

static int nosig_write(BIO *b, const char *buf, int len)
{
    int fd = -1;
    BIO_get_fd(b, &fd);
    BIO_clear_retry_flags(b);
    ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return (int)n;
}

static void make_nosig_method(void)
{
    const BIO_METHOD *sock = BIO_s_socket();
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK |
                                     BIO_TYPE_DESCRIPTOR, "softfm socket");
    if (!m || !BIO_meth_set_write(m, nosig_write) ||
        !BIO_meth_set_read(m, BIO_meth_get_read(sock)) ||
        !BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(sock)) ||
        !BIO_meth_set_create(m, BIO_meth_get_create(sock)) ||
        !BIO_meth_set_destroy(m, BIO_meth_get_destroy(sock))) {
        BIO_meth_free(m);
        return;
    }
    nosig_method = m;
}

static bool attach_fd(SSL *ssl, int fd)
{
    static CRYPTO_ONCE once = CRYPTO_ONCE_STATIC_INIT;
    if (!CRYPTO_THREAD_run_once(&once, make_nosig_method) || !nosig_method)
        return false;
    BIO *bio = BIO_new(nosig_method);
    if (!bio)
        return false;
    BIO_set_fd(bio, fd, BIO_NOCLOSE);
    SSL_set_bio(ssl, bio, bio);
    return true;
}

/* Drive a handshake on a non-blocking socket until the deadline. */
static int handshake(SSL *ssl, int fd, long deadline, bool server, char *why, size_t cap)
{
    for (;;) {
        ERR_clear_error();
        int r = server ? SSL_accept(ssl) : SSL_connect(ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (net_wait(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
                snprintf(why, cap, "handshake timed out");
                return -1;
            }
            continue;
        }
        long vr = SSL_get_verify_result(ssl);
        unsigned long err = ERR_peek_last_error();
        if (vr != X509_V_OK)
            snprintf(why, cap, "certificate refused (%s)", X509_verify_cert_error_string(vr));
        else if (err)
            snprintf(why, cap, "TLS: %s", ERR_reason_error_string(err));
        else
            snprintf(why, cap, "connection closed during the handshake");
        return -1;
    }
}

/* No Nagle delay for request/reply traffic; keep-alive probes so that a
   peer that vanished without a word (a cable, a crash of its machine) ends
   the connection within about half a minute instead of never: a client
   waiting for a reply then gets its lost-device error, and the HSM ends a
   dead client's sessions. */
static void tune_socket(int fd)
{
    int one = 1, idle = 10, intvl = 5, cnt = 3;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int net_accept(SSL_CTX *ctx, int fd, long deadline_ms, void *conn, chan_t *c, char *why,
               size_t cap)
{
    tune_socket(fd);
    SSL *ssl = SSL_new(ctx);
    if (!ssl || !attach_fd(ssl, fd) || !SSL_set_ex_data(ssl, conn_ex_idx, conn)) {
        snprintf(why, cap, "out of memory");
        SSL_free(ssl);
        return -1;
    }
    if (handshake(ssl, fd, deadline_ms, true, why, cap)) {
        SSL_free(ssl);
        return -1;
    }
    c->fd = fd;
    c->ssl = ssl;
    c->first_by = -1;
    return 0;
}

static int connect_tcp(const char *hostport, char *why, size_t cap)
{
    char host[256], port[8];
    if (net_split_hostport(hostport, host, sizeof host, port, sizeof port)) {
        snprintf(why, cap, "not HOST:PORT: %s", hostport);
        return -1;
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    int gr = getaddrinfo(host, port, &hints, &ai);
    if (gr) {
        snprintf(why, cap, "%s: %s", host, gai_strerror(gr));
        return -1;
    }
    int fd = -1;
    snprintf(why, cap, "cannot connect to %s", hostport);
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            int err = 0;
            socklen_t el = sizeof err;
            if (net_wait(fd, POLLOUT, net_now_ms() + NET_CONNECT_MS) == 0 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
                break;
            snprintf(why, cap, "cannot connect to %s: %s", hostport,
                     err ? strerror(err) : "timed out");
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int net_connect(SSL_CTX *ctx, const char *hostport, chan_t *c, X509 **peer, char *why,
                size_t cap)
{
    int fd = connect_tcp(hostport, why, cap);
    if (fd < 0)
        return -1;
    tune_socket(fd);
    SSL *ssl = SSL_new(ctx);
    if (!ssl || !attach_fd(ssl, fd)) {
        snprintf(why, cap, "out of memory");
        SSL_free(ssl);
        close(fd);
        return -1;
    }
    int rc = handshake(ssl, fd, net_now_ms() + NET_HANDSHAKE_MS, false, why, cap);
    if (peer)
        *peer = SSL_get1_peer_certificate(ssl);
    if (rc) {
        SSL_free(ssl);
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->ssl = ssl;
    c->first_by = -1;
    return 0;
}
