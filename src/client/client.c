#include "client.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define OP_WAIT_SLOTS 512u /* above every opcode */
#define SPIN_WORTH 4u /* spin only for requests under SPIN_WORTH x the spin */

struct client_conn {
    int fd;
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
    char path[108];
    pthread_mutex_t lock;
    client_conn_t *idle;
    client_conn_t *all;         /* idle or in use, for client_forget */
    unsigned spin_us;
    /* How long each kind of request has been taking (a running average, in
       microseconds): waiting for one that takes many times the spin is
       done asleep, leaving the core to the daemon's thread doing the work. */
    _Atomic uint32_t wait_us[OP_WAIT_SLOTS];
};

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

void client_socket_path(char *buf, size_t cap)
{
    const char *env = getenv("SOFTFM_SOCKET");
    if (env && *env) {
        snprintf(buf, cap, "%s", env);
        return;
    }
    snprintf(buf, cap, "%s", CLIENT_DEFAULT_SOCKET);
    const char *conf = getenv("SOFTFM_CONF");
    FILE *f = fopen(conf && *conf ? conf : CLIENT_DEFAULT_CONF, "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "socket", 6))
            continue;
        p += 6;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '=')
            continue;
        while (*p == ' ' || *p == '\t')
            p++;
        trim(p);
        if (*p)
            snprintf(buf, cap, "%s", p);
    }
    fclose(f);
}

client_t *client_new(const char *socket_path)
{
    client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->path, sizeof c->path, "%s", socket_path);
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
    if (k->fd >= 0)
        close(k->fd);
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
        if (k->fd >= 0)
            close(k->fd);
        k->fd = -1;
        if (k->req.p)
            secure_zero(k->req.p, k->req.cap);
        wb_free(&k->req);
        wire_reader_free(&k->rd);
        free(k);
        k = next;
    }
    free(c);
}

static CK_RV connect_new(client_t *c, client_conn_t **out)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", c->path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return CKR_HOST_MEMORY;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return CKR_DEVICE_REMOVED;
    }
    client_conn_t *k = calloc(1, sizeof *k);
    if (!k) {
        close(fd);
        return CKR_HOST_MEMORY;
    }
    k->fd = fd;
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
    struct pollfd pf = { .fd = k->fd, .events = POLLIN | POLLRDHUP };
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
    if (wire_read(k->fd, &k->rd, spin, &frame, &len)) {
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
    if (wire_send(k->fd, &k->req)) {
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
    if (wire_send_pair(k->fd, first, &k->req)) {
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
