#include "client.h"

#include <errno.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

#define OP_WAIT_SLOTS 512u /* above every opcode */
#define SPIN_WORTH 4u /* spin only for requests under SPIN_WORTH x the spin */

struct client_conn {
    chan_t ch;
    bool broken;
    wbuf_t req;
    wire_reader_t rd;
    uint32_t op;                /* of the call in progress */
    struct timespec used;       /* when it last went back to the pool */
    client_conn_t *next;        /* in the idle list */
    client_conn_t *all_next;    /* in the list of every connection */
    client_conn_t **all_prev;
};

struct client {
    char addr[256];             /* socket path, or HOST:PORT */
    SSL_CTX *tls;               /* a network HSM: this host's identity, the pin */
    pthread_mutex_t lock;
    client_conn_t *idle;
    client_conn_t *all;         /* idle or in use, for client_forget */
    unsigned spin_us;
    /* How long each kind of request has been taking (a running average, in
       microseconds): waiting for one that takes many times the spin is
       done asleep, leaving the core to the daemon's thread doing the work. */
    _Atomic uint32_t wait_us[OP_WAIT_SLOTS];
};

client_t *client_new(const char *socket_path)
{
    client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->addr, sizeof c->addr, "%s", socket_path);
    pthread_mutex_init(&c->lock, NULL);
    c->spin_us = wire_spin_setting();
    return c;
}

static void conn_free(client_t *c, client_conn_t *k)
{
    pthread_mutex_lock(&c->lock);
    *k->all_prev = k->all_next;
    if (k->all_next)
        k->all_next->all_prev = k->all_prev;
    pthread_mutex_unlock(&c->lock);
    chan_close(&k->ch);
    if (k->req.p)
        secure_zero(k->req.p, k->req.cap);
    wb_free(&k->req);
    wire_reader_free(&k->rd);
    free(k);
}

void client_free(client_t *c)
{
    if (!c)
        return;
    while (c->idle) {
        client_conn_t *k = c->idle;
        c->idle = k->next;
        conn_free(c, k);
    }
    pthread_mutex_destroy(&c->lock);
    SSL_CTX_free(c->tls);
    free(c);
}

void client_forget(client_t *c)
{
    if (!c)
        return;
    /* In a child after fork only this thread exists; other threads'
       connections may have been mid-call, their lock held by a thread that
       is gone. So: no locking; close every inherited descriptor, so that the
       parent's connections end when the parent's do (the daemon ties
       sessions to them), and free what nobody can use any more. */
    client_conn_t *k = c->all;
    while (k) {
        client_conn_t *next = k->all_next;
        /* Only the descriptor: a TLS close_notify would end the parent's
           link, which shares this socket. */
        if (k->ch.fd >= 0)
            close(k->ch.fd);
        k->ch.fd = -1;
        SSL_free(k->ch.ssl);
        if (k->req.p)
            secure_zero(k->req.p, k->req.cap);
        wb_free(&k->req);
        wire_reader_free(&k->rd);
        free(k);
        k = next;
    }
    SSL_CTX_free(c->tls);
    free(c);
}

/* This process as network HSMs know it: its id and a random value drawn
   once per process (a process id alone may be reused). */
static struct {
    pthread_mutex_t lock;
    pid_t pid;
    uint8_t instance[16];
} self = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int process_identity(uint64_t *pid, uint8_t instance[16])
{
    int rc = 0;
    pthread_mutex_lock(&self.lock);
    if (self.pid != getpid()) {
        rc = RAND_bytes(self.instance, sizeof self.instance) == 1 ? 0 : -1;
        self.pid = rc ? 0 : getpid();
    }
    *pid = (uint64_t)self.pid;
    memcpy(instance, self.instance, sizeof self.instance);
    pthread_mutex_unlock(&self.lock);
    return rc;
}

static CK_RV connect_local(client_t *c, chan_t *ch)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(c->addr) >= sizeof sa.sun_path)
        return CKR_DEVICE_REMOVED;
    memcpy(sa.sun_path, c->addr, strlen(c->addr) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return CKR_HOST_MEMORY;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return CKR_DEVICE_REMOVED;
    }
    *ch = (chan_t){ fd, NULL, -1 };
    return CKR_OK;
}

/* TLS, then the hello that ties the connection to this process. */
static CK_RV connect_remote(client_t *c, chan_t *ch)
{
    char why[200];
    if (net_connect(c->tls, c->addr, ch, NULL, why, sizeof why))
        return CKR_DEVICE_REMOVED;
    wbuf_t w;
    wire_reader_t rd;
    const uint8_t *frame;
    size_t len;
    uint64_t pid;
    uint8_t instance[16];
    CK_RV rv = CKR_DEVICE_REMOVED;
    wb_init(&w);
    wire_reader_init(&rd);
    if (process_identity(&pid, instance)) {
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    wb_u32(&w, OP_HELLO);
    wb_u32(&w, PROTO_VERSION);
    wb_u64(&w, pid);
    wb_raw(&w, instance, sizeof instance);
    /* An HSM that refuses this host's certificate says so here, after the
       handshake (TLS 1.3 checks the client's certificate last). */
    ch->first_by = net_now_ms() + NET_HANDSHAKE_MS;
    if (chan_send(ch, &w) || chan_read(ch, &rd, 0, &frame, &len))
        goto out;
    ch->first_by = -1;
    rbuf_t r;
    rb_init(&r, frame, len);
    uint32_t status = rb_u32(&r);
    (void)rb_u64(&r);
    if (rb_done(&r) && status == CKR_OK)
        rv = CKR_OK;
out:
    wb_free(&w);
    wire_reader_free(&rd);
    if (rv)
        chan_close(ch);
    return rv;
}

static CK_RV connect_new(client_t *c, client_conn_t **out)
{
    chan_t ch;
    CK_RV rv = c->tls ? connect_remote(c, &ch) : connect_local(c, &ch);
    if (rv)
        return rv;
    client_conn_t *k = calloc(1, sizeof *k);
    if (!k) {
        chan_close(&ch);
        return CKR_HOST_MEMORY;
    }
    k->ch = ch;
    wb_init(&k->req);
    wire_reader_init(&k->rd);
    pthread_mutex_lock(&c->lock);
    k->all_next = c->all;
    if (k->all_next)
        k->all_next->all_prev = &k->all_next;
    k->all_prev = &c->all;
    c->all = k;
    pthread_mutex_unlock(&c->lock);
    *out = k;
    return CKR_OK;
}

/* The configuration's HSM number i: CKR_HOST_MEMORY, or CKR_GENERAL_ERROR
   when a network HSM's files do not read or do not make a TLS identity. */
static CK_RV client_open(const client_config_t *cfg, size_t i, client_t **out)
{
    const client_hsm_t *hc = &cfg->hsm[i];
    client_t *c = client_new(hc->addr);
    *out = c;
    if (!c)
        return CKR_HOST_MEMORY;
    if (!hc->tls)
        return CKR_OK;
    EVP_PKEY *key = net_read_key(cfg->client_key);
    X509 *cert = net_read_cert(cfg->client_cert);
    X509 *pin = net_read_cert(hc->server_cert);
    if (key && cert && pin)
        c->tls = net_client_ctx(key, cert, pin);
    EVP_PKEY_free(key);
    X509_free(cert);
    X509_free(pin);
    if (c->tls)
        return CKR_OK;
    client_free(c);
    *out = NULL;
    return CKR_GENERAL_ERROR;
}

CK_RV client_open_all(client_t *out[CLIENT_MAX_HSMS], unsigned *n)
{
    client_config_t *cfg = calloc(1, sizeof *cfg);
    char err[256];
    CK_RV rv = CKR_OK;
    *n = 0;
    if (!cfg)
        return CKR_HOST_MEMORY;
    if (client_config_load(cfg, err, sizeof err))
        rv = CKR_GENERAL_ERROR;
    for (size_t i = 0; rv == CKR_OK && i < cfg->n; i++)
        if ((rv = client_open(cfg, i, &out[i])) == CKR_OK)
            (*n)++;
    free(cfg);
    if (rv) {
        for (unsigned i = 0; i < *n; i++)
            client_free(out[i]);
        *n = 0;
    }
    return rv;
}

bool client_is_remote(const client_t *c)
{
    return c->tls != NULL;
}

const char *client_addr(const client_t *c)
{
    return c->addr;
}

/* An idle connection the daemon has closed (it restarted, or dropped us)
   shows as readable or hung up; such a one is not used again. The check is
   a system call, so one back in the pool for less than CONN_FRESH_MS is
   taken as it is: should the daemon have gone in those milliseconds, that
   call fails with CKR_DEVICE_ERROR and the next one connects afresh. */
#define CONN_FRESH_MS 20
static bool conn_alive(const client_conn_t *k)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    long ms = (long)(now.tv_sec - k->used.tv_sec) * 1000L +
              (now.tv_nsec - k->used.tv_nsec) / 1000000L;
    if (ms >= 0 && ms < CONN_FRESH_MS)
        return true;
    struct pollfd pf = { .fd = k->ch.fd, .events = POLLIN | POLLRDHUP };
    return poll(&pf, 1, 0) == 0;
}

CK_RV client_begin(client_t *c, uint32_t op, client_conn_t **conn, wbuf_t **req)
{
    client_conn_t *k = NULL;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        k = c->idle;
        if (k)
            c->idle = k->next;
        pthread_mutex_unlock(&c->lock);
        if (!k || conn_alive(k))
            break;
        conn_free(c, k);
    }
    if (!k) {
        CK_RV rv = connect_new(c, &k);
        if (rv)
            return rv;
    }
    k->next = NULL;
    wb_reset(&k->req);
    wb_u32(&k->req, op);
    k->op = op;
    *conn = k;
    *req = &k->req;
    return CKR_OK;
}

/* Wait for and read one reply frame; its status into *status. */
static CK_RV read_reply(client_t *c, client_conn_t *k, CK_RV *status, rbuf_t *reply)
{
    const uint8_t *frame;
    size_t len;
    _Atomic uint32_t *avg = &c->wait_us[k->op % OP_WAIT_SLOTS];
    unsigned spin = *avg > SPIN_WORTH * c->spin_us ? 0 : c->spin_us;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (chan_read(&k->ch, &k->rd, spin, &frame, &len)) {
        k->broken = true;
        return CKR_DEVICE_ERROR;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long us = (long)(t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000L;
    if (us > 1000000L)
        us = 1000000L;
    *avg = (uint32_t)((*avg * 7u + (uint32_t)us) / 8u);
    rb_init(reply, frame, len);
    *status = (CK_RV)rb_u32(reply);
    if (reply->err) {
        k->broken = true;
        return CKR_DEVICE_ERROR;
    }
    return CKR_OK;
}

CK_RV client_call(client_t *c, client_conn_t *k, CK_RV *status, rbuf_t *reply)
{
    if (k->req.err)
        return CKR_ARGUMENTS_BAD; /* the request would not fit a frame */
    if (chan_send(&k->ch, &k->req)) {
        k->broken = true;
        return CKR_DEVICE_ERROR;
    }
    if (k->req.p)
        secure_zero(k->req.p, k->req.len);
    return read_reply(c, k, status, reply);
}

CK_RV client_call_after(client_t *c, client_conn_t *k, wbuf_t *first, CK_RV *first_status,
                        CK_RV *status, rbuf_t *reply)
{
    if (k->req.err || first->err)
        return CKR_ARGUMENTS_BAD;
    if (chan_send_pair(&k->ch, first, &k->req)) {
        k->broken = true;
        return CKR_DEVICE_ERROR;
    }
    if (k->req.p)
        secure_zero(k->req.p, k->req.len);
    CK_RV rv = read_reply(c, k, first_status, reply);
    if (rv)
        return rv;
    return read_reply(c, k, status, reply);
}

void client_end(client_t *c, client_conn_t *k)
{
    if (!k)
        return;
    wire_reader_wipe(&k->rd, 1u << 20); /* and keep the pool small in memory */
    if (k->broken) {
        conn_free(c, k);
        /* The daemon went away: the other pooled connections are dead too. */
        pthread_mutex_lock(&c->lock);
        client_conn_t *idle = c->idle;
        c->idle = NULL;
        pthread_mutex_unlock(&c->lock);
        while (idle) {
            client_conn_t *n = idle->next;
            conn_free(c, idle);
            idle = n;
        }
        return;
    }
    clock_gettime(CLOCK_MONOTONIC_COARSE, &k->used);
    pthread_mutex_lock(&c->lock);
    k->next = c->idle;
    c->idle = k;
    pthread_mutex_unlock(&c->lock);
}
