/*
 * softfm-fmhost LINK-FD IMAGE-FD TRACE-FD NUMBER
 *
 * Started by softfmd for one FM. The image arrives as a file descriptor
 * (the fmhost never opens the data directory); the trace goes to another.
 * SOFTFM_FMHOST_WRAPPER, read by the daemon, may put a debugger or
 * valgrind in front of this program.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "common.h"
#include "fmhost.h"

typedef uint32_t (*startup_fn)(void);
typedef void (*random_fn)(void *token, void *req, uint32_t len);
typedef int (*stream_fn)(void *token);


static int send_frame(wbuf_t *w)
{
    int rc = wire_send(fmh.link, w);
    wb_reset(w);
    return rc;
}

static void fail(wbuf_t *w, const char *why)
{
    fmh_trace("FM not started: %s\n", why);
    wb_u32(w, FMH_FAILED);
    wb_bytes(w, why, strlen(why));
    (void)send_frame(w);
    exit(3);
}

static int parse_fd(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= 0 && v < 65536 ? (int)v : -1;
}

static void handle_request(rbuf_t *r, wbuf_t *w)
{
    fmh_req_t q;
    memset(&q, 0, sizeof q);
    q.pid = rb_u32(r);
    q.oid = rb_u32(r);
    q.reply_cap = rb_u32(r);
    size_t len;
    const uint8_t *in = rb_bytes(r, &len);
    if (!rb_done(r)) {
        fmh_trace("malformed request from the HSM\n");
        exit(4);
    }
    /* The FM gets a copy: the link's buffer is reused by its Cryptoki calls. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        fmh_trace("out of memory for a request of %zu bytes\n", len);
        exit(5);
    }
    if (len)
        memcpy(copy, in, len);
    q.req = copy;
    q.req_len = (uint32_t)len;
    fmh.current = &q;
    fmh.app_id = q.pid;
    fmh.oid = q.oid;
    fmh.privilege = 0;
    if (fmh.model == FMH_MODEL_STREAM) {
        q.status = (uint32_t)((stream_fn)fmh.dispatch)(&q);
        q.replied = true;
    } else if (fmh.model == FMH_MODEL_RANDOM) {
        ((random_fn)fmh.dispatch)(&q, (void *)q.req, q.req_len);
    }
    fmh.current = NULL;
    fmh.app_id = fmh.oid = FMH_NO_APP;
    fmh.privilege = 0; /* privilege never outlives the request */
    bool replied = q.replied;
    if (!replied) {
        fmh_trace("the FM returned without SVC_SendReply: answered FM_ERR_INVALID_REQUEST\n");
        q.status = 0x0C; /* FM_ERR_INVALID_REQUEST */
        q.reply_len = 0;
    }
    uint32_t n = replied && q.reply ? q.reply_len : 0;
    if (n > q.reply_cap)
        n = q.reply_cap; /* cut to the host's buffers; the status stands */
    wb_u32(w, FMH_REPLY);
    wb_u32(w, q.status);
    wb_u8(w, replied);
    wb_bytes(w, q.reply, n);
    wb_u8(w, fmh_ud_any());
    if (q.reply) {
        secure_zero(q.reply, q.reply_room);
        free(q.reply);
    }
    secure_zero(copy, len);
    free(copy);
    if (send_frame(w))
        exit(0);
}

static void handle_ud_event(rbuf_t *r, wbuf_t *w)
{
    uint8_t event = rb_u8(r);
    uint32_t app = rb_u32(r);
    uint64_t slot = rb_u64(r), session = rb_u64(r);
    if (!rb_done(r))
        exit(4);
    fmh_ud_event(event, app, (unsigned long)slot, (unsigned long)session);
    wb_u32(w, FMH_DONE);
    wb_u8(w, fmh_ud_any());
    if (send_frame(w))
        exit(0);
}

static void handle_app_close(rbuf_t *r, wbuf_t *w)
{
    uint32_t pid = rb_u32(r);
    uint8_t last = rb_u8(r);
    if (!rb_done(r))
        exit(4);
    if (fmh.notify) {
        fmh.in_notify = true;
        fmh.app_id = pid;
        fmh.notify(0); /* FMSW_EVENT_APP_CLOSE */
        fmh.app_id = FMH_NO_APP;
        if (last)
            fmh.notify(1); /* FMSW_EVENT_ALL_APPS_CLOSED */
        fmh.in_notify = false;
    }
    fmh_ud_event(FMH_UD_APP_GONE, pid, 0, 0);
    if (last)
        fmh_ud_event(FMH_UD_ALL_GONE, 0, 0, 0);
    fmh_ck_app_closed(pid); /* the daemon has closed its sessions */
    wb_u32(w, FMH_DONE);
    wb_u8(w, fmh_ud_any());
    if (send_frame(w))
        exit(0);
}

/* An FM that crashes says so in its trace before the process ends by the
   same signal (only async-signal-safe calls here). */
static void on_crash(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    char msg[128] = "FM crashed: signal ";
    if (sig == SIGSYS) {
        /* A system call the sandbox does not allow. */
        const char *t = "FM stopped: it made a system call FMs may not make (number ";
        size_t k = strlen(t);
        memcpy(msg, t, k);
        int nr = si->si_syscall;
        char digits[12];
        int d = 0;
        do {
            digits[d++] = (char)('0' + nr % 10);
            nr /= 10;
        } while (nr && d < 11);
        while (d)
            msg[k++] = digits[--d];
        msg[k++] = ')';
        msg[k++] = '\n';
        if (fmh.trace_fd >= 0)
            (void)!write(fmh.trace_fd, msg, k);
        raise(sig);
        return;
    }
    size_t n = strlen(msg);
    msg[n++] = (char)('0' + sig / 10);
    msg[n++] = (char)('0' + sig % 10);
    const char *at = " at address 0x";
    memcpy(msg + n, at, strlen(at));
    n += strlen(at);
    uintptr_t a = (uintptr_t)si->si_addr;
    for (int shift = (int)sizeof a * 8 - 4; shift >= 0; shift -= 4)
        msg[n++] = "0123456789abcdef"[(a >> shift) & 0xf];
    msg[n++] = '\n';
    if (fmh.trace_fd >= 0)
        (void)!write(fmh.trace_fd, msg, n);
    raise(sig); /* SA_RESETHAND: now the default action */
}

static void catch_crashes(void)
{
    static uint8_t alt[64 * 1024]; /* room to report a stack overflow */
    stack_t ss = { .ss_sp = alt, .ss_size = sizeof alt };
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_crash;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

static void *orphan_guard(void *arg)
{
    pid_t parent = (pid_t)(intptr_t)arg;
    for (;;) {
        usleep(250000);
        if (getppid() != parent)
            _exit(0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != FMH_ARGC) {
        fprintf(stderr, "usage: softfm-fmhost LINK-FD IMAGE-FD TRACE-FD NUMBER\n");
        return 2;
    }
    fmh.link = parse_fd(argv[1]);
    int image_fd = parse_fd(argv[2]);
    fmh.trace_fd = parse_fd(argv[3]);
    long number = strtol(argv[4], NULL, 0);
    if (fmh.link < 0 || image_fd < 0 || fmh.trace_fd < 0 || number <= 0 || number > 0xFFFF)
        return 2;
    fmh.number = (uint16_t)number;
    fmh.spin_us = wire_spin_setting();
    signal(SIGPIPE, SIG_IGN);
    /* The FM does not outlive the HSM, even while it is busy. (Not
       PR_SET_PDEATHSIG: that follows the daemon thread that started us.) */
    pthread_t guard;
    pid_t parent = getppid();
    pthread_create(&guard, NULL, orphan_guard, (void *)(intptr_t)parent);

    wbuf_t w;
    wb_init(&w);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", image_fd);
    void *img = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!img)
        fail(&w, dlerror());
    close(image_fd);
    const fm_calls_t **slot = dlsym(img, FM_CALLS_SYMBOL);
    startup_fn startup = (startup_fn)dlsym(img, "Startup");
    if (!startup)
        fail(&w, "the image has no Startup function");
    fmh_calls.ck = fmh_cryptoki();
    fmh_cprov_init(fmh_calls.ck);
    wire_reader_init(&fmh.rd);
    if (slot) /* absent when the FM calls nothing outside itself */
        *slot = &fmh_calls;
    catch_crashes();
    if (fmh_sandbox())
        fail(&w, "cannot confine the FM's process (seccomp)");

    uint32_t rv = startup();
    uint8_t patched[FMH_CPROV_BYTES];
    char why[160];
    if (fmh_cprov_patched(patched, why, sizeof why))
        fail(&w, why);
    wb_u32(&w, FMH_READY);
    wb_u32(&w, rv);
    wb_u32(&w, fmh.model);
    wb_u32(&w, fmh.number);
    wb_u8(&w, fmh.notify != NULL);
    wb_raw(&w, patched, sizeof patched);
    wb_u8(&w, fmh_ud_any());
    if (send_frame(&w))
        return 0;

    for (;;) {
        const uint8_t *frame;
        size_t len;
        if (wire_read(fmh.link, &fmh.rd, fmh.spin_us, &frame, &len))
            break; /* the daemon closed the link: stop */
        rbuf_t r;
        rb_init(&r, frame, len);
        uint32_t kind = rb_u32(&r);
        if (kind == FMH_REQUEST)
            handle_request(&r, &w);
        else if (kind == FMH_APP_CLOSE)
            handle_app_close(&r, &w);
        else if (kind == FMH_UD_EVENT)
            handle_ud_event(&r, &w);
        else if (kind == FMH_PKCS11) {
            fmh_cprov_serve(&r, &w);
            if (send_frame(&w))
                break;
        }
        else
            break;
        wire_reader_wipe(&fmh.rd, 1u << 20);
    }
    return 0;
}
