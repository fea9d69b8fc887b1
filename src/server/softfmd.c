/*
 * softfmd: the HSM daemon.
 *
 *   softfmd --data DIR --socket PATH [--foreground] [--log FILE] [--debug]
 *
 * It owns DIR (created 0700 on first start, locked against a second daemon),
 * listens on a Unix socket and serves each connection on its own thread. The
 * AppId of a connection is the peer's process id, read with SO_PEERCRED from
 * the kernel: a client cannot claim another process's sessions. With
 * --listen it also serves registered clients over TLS (netserve.c). Without
 * --foreground it detaches once the socket is ready, so a script that starts
 * it can use it as soon as the command returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"
#include "dispatch.h"
#include "hsm.h"
#include "server.h"

#define MAX_CONNECTIONS 1024
#define MAX_LISTEN 8

static struct {
    hsm_t *hsm;
    int listen_fd;
    int net_fd[MAX_LISTEN];     /* --listen HOST:PORT sockets */
    int nnet;
    int wake[2];               /* the signal thread writes here to stop */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    conn_t *conns;
    int nconns;
    unsigned spin_us;
    fm_registry_t *fms;
} srv = { .listen_fd = -1, .wake = { -1, -1 }, .lock = PTHREAD_MUTEX_INITIALIZER,
          .idle = PTHREAD_COND_INITIALIZER };

hsm_t *srv_hsm(void)
{
    return srv.hsm;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: softfmd --data DIR --socket PATH [--listen HOST:PORT]... [--foreground]\n"
               "               [--log FILE] [--debug]\n");
}

bool conn_add(conn_t *c)
{
    pthread_mutex_lock(&srv.lock);
    if (srv.nconns >= MAX_CONNECTIONS) {
        pthread_mutex_unlock(&srv.lock);
        return false;
    }
    c->next = srv.conns;
    if (c->next)
        c->next->prev = c;
    srv.conns = c;
    srv.nconns++;
    pthread_mutex_unlock(&srv.lock);
    return true;
}

/* Take a connection off the list, close it and free it. */
void conn_forget(conn_t *c)
{
    pthread_mutex_lock(&srv.lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (--srv.nconns == 0)
        pthread_cond_broadcast(&srv.idle);
    pthread_mutex_unlock(&srv.lock);
    chan_close(&c->ch);
    free(c);
}

void conns_drop_client(const char *name)
{
    int n = 0;
    pthread_mutex_lock(&srv.lock);
    for (conn_t *k = srv.conns; k; k = k->next)
        if (k->scope && !strcmp(k->client, name)) {
            shutdown(k->ch.fd, SHUT_RDWR); /* its thread sees the end and cleans up */
            n++;
        }
    pthread_mutex_unlock(&srv.lock);
    if (n)
        log_info("client %s: its registration changed; %d connection(s) ended", name, n);
}

/* An FM's Cryptoki request: PKCS#11 requests only (no administration and
   no messages to FMs, which could wait on the FM itself). */
static int fm_cryptoki(void *ctx, uint16_t fm, uint32_t app, int privilege, const uint8_t *req,
                       size_t len, wbuf_t *reply)
{
    if (len >= 4 && be32_get(req) >= OP_MD_SEND) {
        wb_reset(reply);
        wb_u32(reply, CKR_FUNCTION_NOT_SUPPORTED);
        return 0;
    }
    hsm_set_privileged(privilege == 1);
    int rc = dispatch_from((hsm_t *)ctx, app, fm, req, len, reply);
    hsm_set_privileged(false);
    return rc;
}

void conn_serve(conn_t *c)
{
    wire_reader_t rd;
    wbuf_t reply;
    wire_reader_init(&rd);
    wb_init(&reply);
    hsm_app_attach(srv.hsm, c->app);
    for (;;) {
        const uint8_t *req;
        size_t len;
        if (chan_read(&c->ch, &rd, srv.spin_us, &req, &len)) {
            if (errno == EPROTO || errno == ETIMEDOUT)
                log_warn("dropping a connection of %s%s: %s", c->scope ? "client " : "process ",
                         c->scope ? c->client : c->peer,
                         errno == EPROTO ? "a frame over the size limit" : "a frame too slow");
            break;
        }
        if (dispatch_scoped(srv.hsm, c->app, c->scope, req, len, &reply)) {
            log_warn("dropping a connection of %s%s: malformed request",
                     c->scope ? "client " : "process ", c->scope ? c->client : c->peer);
            break;
        }
        wire_reader_wipe(&rd, 65536); /* requests may carry PINs and key values */
        if (chan_send(&c->ch, &reply))
            break;
        if (reply.cap > 65536) { /* do not keep a large reply's buffer */
            secure_zero(reply.p, reply.len);
            wb_free(&reply);
            wb_init(&reply);
        }
    }
    if (hsm_app_detach(srv.hsm, c->app) && srv.fms)
        fm_app_closed(srv.fms, (uint32_t)c->app); /* the host process has gone */
    if (c->scope)
        netserve_app_release(c->app);
    wire_reader_free(&rd);
    if (reply.p)
        secure_zero(reply.p, reply.len);
    wb_free(&reply);
    conn_forget(c);
}

static void *serve_local(void *arg)
{
    conn_serve(arg);
    return NULL;
}

static void accept_one(void)
{
    int fd = accept4(srv.listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) || cred.pid <= 0) {
        close(fd);
        return;
    }
    conn_t *c = calloc(1, sizeof *c);
    pthread_attr_t attr;
    pthread_t tid;
    if (!c) {
        close(fd);
        return;
    }
    c->ch = (chan_t){ fd, NULL, -1 };
    c->app = (app_id_t)cred.pid;
    snprintf(c->peer, sizeof c->peer, "%d", (int)cred.pid);
    if (!conn_add(c)) {
        log_warn("connection limit reached; refusing process %d", (int)cred.pid);
        close(fd);
        free(c);
        return;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&tid, &attr, serve_local, c))
        conn_forget(c);
    pthread_attr_destroy(&attr);
}

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig = 0;
    sigwait(set, &sig);
    log_info("signal %d: shutting down", sig);
    char b = 1;
    if (write(srv.wake[1], &b, 1) < 0)
        log_err("cannot wake the main loop");
    return NULL;
}

static int lock_data_dir(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/softfmd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "softfmd: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        fprintf(stderr, "softfmd: %s is in use by another softfmd (pid %s)\n", dir,
                *pid ? pid : "unknown");
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n)
        log_warn("cannot record the pid in %s", path);
    return fd; /* kept open: the lock lives as long as the daemon */
}

static int listen_on(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "softfmd: socket path too long: %s\n", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* The data directory lock is ours, so a socket left at this path is a
       previous daemon's leftover. Only a socket is ever removed. */
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "softfmd: %s exists and is not a socket\n", path);
            close(fd);
            return -1;
        }
        unlink(path);
    }
    mode_t old = umask(0117);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc || listen(fd, 256)) {
        fprintf(stderr, "softfmd: cannot listen on %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    const char *data = NULL, *sock = NULL, *log_path = NULL;
    const char *listen_at[MAX_LISTEN];
    int nlisten = 0;
    bool foreground = false;
    static const struct option opts[] = {
        { "data", required_argument, NULL, 'd' },
        { "socket", required_argument, NULL, 's' },
        { "foreground", no_argument, NULL, 'f' },
        { "listen", required_argument, NULL, 'L' },
        { "log", required_argument, NULL, 'l' },
        { "debug", no_argument, NULL, 'D' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "d:s:fL:l:DhV", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 's': sock = optarg; break;
        case 'f': foreground = true; break;
        case 'L':
            if (nlisten == MAX_LISTEN) {
                fprintf(stderr, "softfmd: at most %d --listen addresses\n", MAX_LISTEN);
                return 2;
            }
            if (!net_split_hostport(optarg, (char[256]){ 0 }, 256, (char[8]){ 0 }, 8)) {
                listen_at[nlisten++] = optarg;
                break;
            }
            fprintf(stderr, "softfmd: --listen wants HOST:PORT, not %s\n", optarg);
            return 2;
        case 'l': log_path = optarg; break;
        case 'D': log_set_level(LOG_DEBUG); break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("softfmd %s\n", SOFTFM_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!data || !sock || optind != argc) {
        usage(stderr);
        return 2;
    }

    /* Secrets live in this process: no core dumps, no ptrace by peers. */
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0);
    umask(077);

    if (mkdir(data, 0700) && errno != EEXIST) {
        fprintf(stderr, "softfmd: cannot create %s: %s\n", data, strerror(errno));
        return 1;
    }
    int lock_fd = lock_data_dir(data);
    if (lock_fd < 0)
        return 1;

    /* Detach before opening anything that starts threads; the parent waits
       on a pipe until the socket is ready, so it returns a true status. */
    int ready[2] = { -1, -1 };
    if (!foreground) {
        if (pipe2(ready, O_CLOEXEC))
            return 1;
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid > 0) {
            char b = 0;
            close(ready[1]);
            ssize_t n = read(ready[0], &b, 1);
            return n == 1 && b == 'k' ? 0 : 1;
        }
        close(ready[0]);
        setsid();
        char pid_text[32];
        int n = snprintf(pid_text, sizeof pid_text, "%d\n", (int)getpid());
        if (ftruncate(lock_fd, 0) || pwrite(lock_fd, pid_text, (size_t)n, 0) != n)
            log_warn("cannot record the pid");
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/softfmd.log", data);
        if (!log_path)
            log_path = path;
        if (log_open(log_path))
            fprintf(stderr, "softfmd: cannot open the log %s\n", log_path);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2)
                close(null);
        }
    } else if (log_path && log_open(log_path)) {
        fprintf(stderr, "softfmd: cannot open the log %s\n", log_path);
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    srv.spin_us = wire_spin_setting();
    if (hsm_open(data, &srv.hsm)) {
        log_err("cannot open the HSM in %s", data);
        fprintf(stderr, "softfmd: cannot open the HSM in %s\n", data);
        return 1;
    }
    unsigned long smfs_auto = 0;
    (void)hsm_policy_get(srv.hsm, "smfs-auto-activate", &smfs_auto);
    fm_trust_t trust;
    fms_trust(srv.hsm, &trust);
    if (fm_registry_open(data, hsm_store(srv.hsm), smfs_auto != 0, &trust, &srv.fms)) {
        log_err("cannot open the FM registry in %s", data);
        hsm_close(srv.hsm);
        return 1;
    }
    fm_registry_set_cryptoki(srv.fms, fm_cryptoki, srv.hsm);
    fm_registry_start(srv.fms);
    dispatch_set_fms(srv.fms);
    dispatch_set_client_hook(conns_drop_client);
    srv.listen_fd = listen_on(sock);
    for (int i = 0; i < nlisten && srv.listen_fd >= 0; i++) {
        srv.net_fd[srv.nnet] = netserve_listen(listen_at[i]);
        if (srv.net_fd[srv.nnet] < 0) {
            close(srv.listen_fd);
            srv.listen_fd = -1;
        } else {
            srv.nnet++;
        }
    }
    if (srv.listen_fd < 0 || pipe2(srv.wake, O_CLOEXEC)) {
        for (int i = 0; i < srv.nnet; i++)
            close(srv.net_fd[i]);
        unlink(sock);
        fm_registry_close(srv.fms);
        hsm_close(srv.hsm);
        return 1;
    }
    pthread_t sig_tid;
    pthread_create(&sig_tid, NULL, signal_thread, &set);
    log_info("softfmd %s serving %s on %s", SOFTFM_VERSION, data, sock);
    for (int i = 0; i < nlisten; i++)
        log_info("listening for clients on %s (TLS)", listen_at[i]);
    if (ready[1] >= 0) {
        char b = 'k';
        if (write(ready[1], &b, 1) != 1)
            log_warn("the parent went away");
        close(ready[1]);
    }

    struct pollfd pf[2 + MAX_LISTEN] = { { srv.listen_fd, POLLIN, 0 }, { srv.wake[0], POLLIN, 0 } };
    for (int i = 0; i < srv.nnet; i++)
        pf[2 + i] = (struct pollfd){ srv.net_fd[i], POLLIN, 0 };
    for (;;) {
        if (poll(pf, (nfds_t)(2 + srv.nnet), -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents)
            break;
        if (pf[0].revents & POLLIN)
            accept_one();
        for (int i = 0; i < srv.nnet; i++)
            if (pf[2 + i].revents & POLLIN)
                netserve_accept(srv.net_fd[i]);
    }

    /* Stop accepting, end every connection, wait for their threads. */
    close(srv.listen_fd);
    for (int i = 0; i < srv.nnet; i++)
        close(srv.net_fd[i]);
    unlink(sock);
    pthread_mutex_lock(&srv.lock);
    for (conn_t *k = srv.conns; k; k = k->next)
        shutdown(k->ch.fd, SHUT_RDWR);
    while (srv.nconns)
        pthread_cond_wait(&srv.idle, &srv.lock);
    pthread_mutex_unlock(&srv.lock);
    pthread_join(sig_tid, NULL);
    dispatch_set_fms(NULL);
    fm_registry_close(srv.fms);
    hsm_close(srv.hsm);
    log_info("stopped");
    close(lock_fd);
    return 0;
}
