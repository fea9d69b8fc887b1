/*
 * The network HSM: registered clients over TLS 1.3 with certificates on
 * both sides (softfmd --listen HOST:PORT).
 *
 * A connection gets a thread that finishes the handshake and reads the
 * client's hello within NET_HANDSHAKE_MS; only then is it served like a
 * local one. What the client may reach is decided here, from the registry
 * the HSM SO keeps: its certificate must be registered, not revoked and
 * within its dates; it sees the partitions assigned to it and nothing of
 * the Admin Token or the administration.
 *
 * The AppId of a network connection comes from the authenticated client
 * and the process the client says the connection belongs to (its process
 * id and a random instance value the process chose at start): the daemon
 * hands out a fresh AppId per (client, process), so a client can only ever
 * name its own processes' sessions, never another client's or a local one.
 *
 * Against floods of connections that never finish a handshake: at most
 * PENDING_MAX handshakes at once, PENDING_PER_PEER from one address, each
 * bounded in time. Connections beyond are closed at once. A registered
 * client holds at most CONNS_PER_CLIENT connections. Refusals are logged,
 * at most LOG_BURST a second.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common.h"
#include "server.h"

#define PENDING_MAX 128
#define PENDING_PER_PEER 16
#define CONNS_PER_CLIENT 256    /* of the daemon's 1024: one client cannot take all */
#define LOG_BURST 20
#define APP_FIRST 0x40000000u   /* above any process id; FMs use 0xFFFFFFFF */
#define APP_LAST 0x7FFFFFFFu
#define INSTANCE_LEN 16

typedef struct net_app {
    uint8_t fp[NET_FP_LEN];
    uint64_t pid;
    uint8_t instance[INSTANCE_LEN];
    app_id_t app;
    unsigned refs;
    struct net_app *next;
} net_app_t;

typedef struct pending_peer {
    char host[48];
    unsigned n;
} pending_peer_t;

static struct {
    pthread_mutex_t lock;
    SSL_CTX *ctx;               /* for the identity below */
    unsigned ctx_gen;           /* the identity's generation it was made for */
    pending_peer_t peers[PENDING_MAX];
    unsigned pending;
    net_app_t *apps;
    app_id_t next_app;
    long log_second;
    unsigned log_count, log_dropped;
} net = { .lock = PTHREAD_MUTEX_INITIALIZER, .next_app = APP_FIRST };

/* Refusals are logged, but a flood of them must not flood the log. */
static void refusal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void refusal(const char *fmt, ...)
{
    long sec = net_now_ms() / 1000;
    unsigned dropped = 0;
    bool say;
    pthread_mutex_lock(&net.lock);
    if (sec != net.log_second) {
        dropped = net.log_dropped;
        net.log_second = sec;
        net.log_count = 0;
        net.log_dropped = 0;
    }
    say = net.log_count++ < LOG_BURST;
    if (!say)
        net.log_dropped++;
    pthread_mutex_unlock(&net.lock);
    if (dropped)
        log_warn("network: %u more refusals not logged", dropped);
    if (!say)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_warn("network: %s", msg);
}

static SSL_CTX *current_ctx(void);

int netserve_listen(const char *hostport)
{
    char host[256], port[8];
    if (net_split_hostport(hostport, host, sizeof host, port, sizeof port)) {
        fprintf(stderr, "softfmd: --listen wants HOST:PORT, not %s\n", hostport);
        return -1;
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    int gr = getaddrinfo(host, port, &hints, &ai);
    if (gr) {
        fprintf(stderr, "softfmd: %s: %s\n", host, gai_strerror(gr));
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 256)) {
        fprintf(stderr, "softfmd: cannot listen on %s: %s\n", hostport, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    /* The TLS context now, not on the first client's time (when the HSM has
       an identity yet). */
    if (fd >= 0)
        SSL_CTX_free(current_ctx());
    return fd;
}

/* ---- AppIds of network processes ---- */

/* The AppId of (client, process), with one more connection on it; 0 when
   the client has CONNS_PER_CLIENT connections already (*full set) or memory
   ran out. */
static app_id_t app_take(const uint8_t fp[NET_FP_LEN], uint64_t pid,
                         const uint8_t instance[INSTANCE_LEN], bool *full)
{
    app_id_t app = 0;
    unsigned conns = 0;
    pthread_mutex_lock(&net.lock);
    for (net_app_t *a = net.apps; a; a = a->next)
        if (!memcmp(a->fp, fp, NET_FP_LEN))
            conns += a->refs;
    *full = conns >= CONNS_PER_CLIENT;
    if (*full)
        goto out;
    for (net_app_t *a = net.apps; a; a = a->next)
        if (a->pid == pid && !memcmp(a->fp, fp, NET_FP_LEN) &&
            !memcmp(a->instance, instance, INSTANCE_LEN)) {
            a->refs++;
            app = a->app;
            goto out;
        }
    net_app_t *a = calloc(1, sizeof *a);
    if (!a)
        goto out;
    /* The next id not in use (there are a billion; in use are a few). */
    for (bool used = true; used;) {
        app = net.next_app;
        net.next_app = net.next_app == APP_LAST ? APP_FIRST : net.next_app + 1;
        used = false;
        for (net_app_t *k = net.apps; k && !used; k = k->next)
            used = k->app == app;
    }
    memcpy(a->fp, fp, NET_FP_LEN);
    a->pid = pid;
    memcpy(a->instance, instance, INSTANCE_LEN);
    a->app = app;
    a->refs = 1;
    a->next = net.apps;
    net.apps = a;
out:
    pthread_mutex_unlock(&net.lock);
    return app;
}

void netserve_app_release(app_id_t app)
{
    pthread_mutex_lock(&net.lock);
    for (net_app_t **p = &net.apps; *p; p = &(*p)->next) {
        net_app_t *a = *p;
        if (a->app != app)
            continue;
        if (--a->refs == 0) {
            *p = a->next;
            free(a);
        }
        break;
    }
    pthread_mutex_unlock(&net.lock);
}

/* ---- the handshake ---- */

static bool check_client(void *arg, void *connp, X509 *cert)
{
    (void)arg;
    conn_t *c = connp;
    hsm_client_info_t info;
    char fp[NET_FP_TEXT];
    if (net_fingerprint(cert, c->fp)) {
        snprintf(c->why, sizeof c->why, "a certificate that does not hash");
        return false;
    }
    net_fp_text(c->fp, fp);
    int rc = hsm_client_lookup(srv_hsm(), c->fp, &info);
    if (rc) {
        snprintf(c->why, sizeof c->why, "%s certificate SHA-256 %.23s…",
                 rc > 0 ? "unregistered" : "cannot look up", fp);
        return false;
    }
    if (info.revoked) {
        snprintf(c->why, sizeof c->why, "client %s is revoked", info.name);
        return false;
    }
    if (!net_cert_current(cert)) {
        snprintf(c->why, sizeof c->why, "client %s: certificate expired or not yet valid",
                 info.name);
        return false;
    }
    snprintf(c->client, sizeof c->client, "%s", info.name);
    memcpy(c->slots, info.slots, info.nslots * sizeof info.slots[0]);
    c->net_scope.slots = c->slots;
    c->net_scope.nslots = info.nslots;
    return true;
}

/* The context for the HSM's current identity (made at hsm init, new after
   a zeroize and init), with a reference for the caller. The key is read
   from the store only when the identity's generation has changed, not for
   every connection. */
static SSL_CTX *current_ctx(void)
{
    /* Read before the identity: a change in between makes the next
       connection load it again, never keeps a stale one. */
    unsigned gen = hsm_tls_generation(srv_hsm());
    SSL_CTX *ctx = NULL;
    pthread_mutex_lock(&net.lock);
    if (net.ctx && net.ctx_gen == gen && SSL_CTX_up_ref(net.ctx))
        ctx = net.ctx;
    pthread_mutex_unlock(&net.lock);
    if (ctx)
        return ctx;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    if (hsm_tls_identity(srv_hsm(), &key, &cert) == 0)
        ctx = net_server_ctx(key, cert, check_client, NULL);
    EVP_PKEY_free(key);
    X509_free(cert);
    if (!ctx)
        return NULL;
    pthread_mutex_lock(&net.lock);
    SSL_CTX_free(net.ctx);
    net.ctx = ctx;
    net.ctx_gen = gen;
    if (!SSL_CTX_up_ref(ctx))
        ctx = NULL;
    pthread_mutex_unlock(&net.lock);
    return ctx;
}

/* The address of "ADDRESS:PORT". */
static void peer_host(const char *peer, char *host, size_t cap)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= cap)
        n = cap - 1;
    memcpy(host, peer, n);
    host[n] = '\0';
}

static bool pending_enter(const char *peer)
{
    char host[48];
    peer_host(peer, host, sizeof host);
    bool ok = false;
    pthread_mutex_lock(&net.lock);
    pending_peer_t *slot = NULL, *free_slot = NULL;
    for (size_t i = 0; i < PENDING_MAX; i++) {
        if (net.peers[i].n && !strcmp(net.peers[i].host, host))
            slot = &net.peers[i];
        else if (!net.peers[i].n && !free_slot)
            free_slot = &net.peers[i];
    }
    if (net.pending < PENDING_MAX && (slot ? slot->n < PENDING_PER_PEER : free_slot != NULL)) {
        if (!slot) {
            slot = free_slot;
            snprintf(slot->host, sizeof slot->host, "%s", host);
        }
        slot->n++;
        net.pending++;
        ok = true;
    }
    pthread_mutex_unlock(&net.lock);
    return ok;
}

static void pending_leave(conn_t *c)
{
    if (!c->counted)
        return;
    c->counted = false;
    char host[48];
    peer_host(c->peer, host, sizeof host);
    pthread_mutex_lock(&net.lock);
    for (size_t i = 0; i < PENDING_MAX; i++)
        if (net.peers[i].n && !strcmp(net.peers[i].host, host)) {
            net.peers[i].n--;
            break;
        }
    net.pending--;
    pthread_mutex_unlock(&net.lock);
}

/* The first frame: u32 OP_HELLO, u32 version, u64 process id, 16 bytes
   instance. The answer: u32 status, u64 AppId. */
static bool hello(conn_t *c)
{
    wire_reader_t rd;
    wbuf_t w;
    const uint8_t *req;
    size_t len;
    bool ok = false;
    wire_reader_init(&rd);
    wb_init(&w);
    if (chan_read(&c->ch, &rd, 0, &req, &len)) {
        snprintf(c->why, sizeof c->why, "no hello in time");
        goto out;
    }
    rbuf_t r;
    rb_init(&r, req, len);
    uint32_t op = rb_u32(&r), version = rb_u32(&r);
    uint64_t pid = rb_u64(&r);
    const uint8_t *instance = rb_raw(&r, INSTANCE_LEN);
    if (!rb_done(&r) || op != OP_HELLO) {
        snprintf(c->why, sizeof c->why, "client %s: a malformed hello", c->client);
        goto out;
    }
    wb_u32(&w, version == PROTO_VERSION ? CKR_OK : CKR_DEVICE_ERROR);
    if (version == PROTO_VERSION) {
        bool full = false;
        c->app = app_take(c->fp, pid, instance, &full);
        if (!c->app) {
            if (full)
                snprintf(c->why, sizeof c->why, "client %s has %d connections already",
                         c->client, CONNS_PER_CLIENT);
            else
                snprintf(c->why, sizeof c->why, "out of memory");
            goto out;
        }
    }
    wb_u64(&w, c->app);
    if (chan_send(&c->ch, &w) || version != PROTO_VERSION) {
        if (c->app)
            netserve_app_release(c->app);
        c->app = 0;
        snprintf(c->why, sizeof c->why, "client %s: protocol version %u", c->client, version);
        goto out;
    }
    ok = true;
out:
    wire_reader_free(&rd);
    wb_free(&w);
    return ok;
}

static void *net_conn_main(void *arg)
{
    conn_t *c = arg;
    long deadline = net_now_ms() + NET_HANDSHAKE_MS;
    int fd = c->ch.fd;
    SSL_CTX *ctx = current_ctx();
    if (!ctx) {
        refusal("refused %s: the HSM has no TLS identity (not initialised)", c->peer);
        goto drop;
    }
    char why[160];
    if (net_accept(ctx, fd, deadline, c, &c->ch, why, sizeof why)) {
        SSL_CTX_free(ctx);
        /* The client check's reason, if it ran; else the handshake's. */
        refusal("refused %s: %s", c->peer, c->why[0] ? c->why : why);
        goto drop;
    }
    SSL_CTX_free(ctx);
    c->ch.first_by = deadline;
    if (!hello(c)) {
        refusal("dropped %s: %s", c->peer, c->why);
        goto drop;
    }
    c->ch.first_by = -1;
    c->scope = &c->net_scope;
    pending_leave(c);
    log_debug("client %s connected from %s (AppId %#llx)", c->client, c->peer,
              (unsigned long long)c->app);
    conn_serve(c);
    return NULL;
drop:
    pending_leave(c);
    conn_forget(c);
    return NULL;
}

void netserve_accept(int listen_fd)
{
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    int fd = accept4(listen_fd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    char host[48] = "?", port[8] = "?";
    (void)getnameinfo((struct sockaddr *)&sa, sl, host, sizeof host, port, sizeof port,
                      NI_NUMERICHOST | NI_NUMERICSERV);
    conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->ch = (chan_t){ fd, NULL, -1 };
    snprintf(c->peer, sizeof c->peer, "%s:%s", host, port);
    c->why[0] = '\0';
    if (!pending_enter(c->peer)) {
        refusal("refused %s: too many handshakes in progress", c->peer);
        close(fd);
        free(c);
        return;
    }
    c->counted = true;
    if (!conn_add(c)) {
        refusal("refused %s: connection limit reached", c->peer);
        pending_leave(c);
        close(fd);
        free(c);
        return;
    }
    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&tid, &attr, net_conn_main, c)) {
        pending_leave(c);
        conn_forget(c);
    }
    pthread_attr_destroy(&attr);
}
