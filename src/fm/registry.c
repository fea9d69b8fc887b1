/*
 * The registry of loaded FMs and their fmhost processes.
 *
 * Each FM has a lock held for the whole of one request, so an FM sees one
 * request at a time; the registry's own lock guards the list and is never
 * held while an FM works. An fmhost that dies or overruns its time is
 * killed and started again on the FM's next request (the restart count
 * says how often); one whose Startup fails stays down until it is loaded
 * again or the HSM restarts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "fm.h"
#include "fmlink.h"
#include "smfs.h"

#define START_TIMEOUT_MS 10000
#define DEFAULT_TIMEOUT_MS 5000
#define MAX_FMS 64
#define MAX_USERS 256
/* A trace file is kept to this size: past it, its older half goes. */
#define TRACE_MAX_DEFAULT (4u << 20)

typedef struct fm {
    pthread_mutex_t lock;         /* one request at a time */
    fm_image_info_t info;
    uint16_t number;
    bool unsigned_image;
    fm_origin_t origin;
    uint8_t *image;               /* the ELF object it runs */
    size_t len;
    bool refused;                 /* no longer accepted (at an HSM start): never started */
    enum fm_state state;
    uint32_t startup_status;
    unsigned restarts;
    bool has_notify;
    bool deleted;
    uint8_t patched[FM_PATCH_BYTES];  /* the Cryptoki entries it patches */
    bool patch_conflict;          /* another FM patches one of them */
    bool patched_any;
    bool patches_saved;
    bool userdata;                /* it holds user data: tell it of events */
    fm_ud_event_t *events;        /* not told yet (r->lock) */
    size_t nevents, events_cap;
    char why[160];
    pid_t pid;
    int link;
    wire_reader_t rd;
    uint32_t users[MAX_USERS];    /* host processes that sent it requests */
    size_t nusers;
    int refs;                     /* held by callers outside the registry lock */
    fm_smfs_t *smfs;              /* its open SMFS files and searches */
} fm_t;

struct fm_registry {
    pthread_mutex_t lock;
    store_t *store;
    fm_ck_handler_t ck;
    void *ck_ctx;
    bool smfs_active;
    fm_trust_t trust;             /* at open, for the stored images */
    char trace_dir[4096];
    char fmhost[4096];
    fm_t *fms[MAX_FMS];
    size_t n;
};

static void set_why(fm_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void flush_events(fm_registry_t *r, fm_t *f);
static void set_why(fm_t *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
}

/* Where the fmhost program is: SOFTFM_FMHOST, else beside softfmd. */
static void find_fmhost(char *buf, size_t cap)
{
    const char *env = getenv("SOFTFM_FMHOST");
    if (env && *env) {
        snprintf(buf, cap, "%s", env);
        return;
    }
    char self[3800];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(buf, cap, "softfm-fmhost");
        return;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(buf, cap, "%s/softfm-fmhost", self);
}

static int trace_open(fm_registry_t *r, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.log", r->trace_dir, name);
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

static void trace_line(fm_registry_t *r, fm_t *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void trace_line(fm_registry_t *r, fm_t *f, const char *fmt, ...)
{
    int fd = trace_open(r, f->info.name);
    if (fd < 0)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        (void)!write(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    close(fd);
}

/* Keep an FM's trace bounded: when it has grown past the limit
   (SOFTFM_FM_TRACE_MAX bytes), keep its newer half, from a line start. The
   fmhost appends (O_APPEND), so it writes on at the new end. Called while
   the FM is idle (f->lock held). */
static void trace_trim(fm_registry_t *r, fm_t *f)
{
    const char *env = getenv("SOFTFM_FM_TRACE_MAX");
    unsigned long max = env && *env ? strtoul(env, NULL, 10) : TRACE_MAX_DEFAULT;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.log", r->trace_dir, f->info.name);
    struct stat st;
    if (max < 1024 || stat(path, &st) || (unsigned long)st.st_size <= max)
        return;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t keep = max / 2;
    char *buf = malloc(keep);
    ssize_t n = buf ? pread(fd, buf, keep, st.st_size - (off_t)keep) : -1;
    if (n > 0) {
        char *start = memchr(buf, '\n', (size_t)n);
        start = start ? start + 1 : buf;
        size_t len = (size_t)n - (size_t)(start - buf);
        static const char note[] = "[older trace lines dropped]\n";
        if (ftruncate(fd, 0) == 0 && pwrite(fd, note, sizeof note - 1, 0) >= 0)
            (void)!pwrite(fd, start, len, (off_t)(sizeof note - 1));
    }
    free(buf);
    close(fd);
}

/* Wait up to ms for fd to be readable: 1 readable, 0 timed out, -1 error. */
static int wait_readable(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    for (;;) {
        int rc = poll(&p, 1, ms);
        if (rc < 0 && errno == EINTR)
            continue;
        return rc < 0 ? -1 : rc > 0;
    }
}

/* Poll without sleeping for up to the spin budget: an FM that answers in
   microseconds should not pay for waking this thread on another core. */
static bool spin_readable(int fd)
{
    static unsigned spin_us = UINT_MAX;
    if (spin_us == UINT_MAX)
        spin_us = wire_spin_setting();
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0;; i++) {
        if (wait_readable(fd, 0) == 1)
            return true;
        sched_yield();
        if ((i & 15) == 15) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            long us = (long)(now.tv_sec - t0.tv_sec) * 1000000L + (now.tv_nsec - t0.tv_nsec) / 1000L;
            if (us >= (long)spin_us)
                return false;
        }
    }
}

/* Read one frame from the fmhost within ms. */
static int read_frame(fm_t *f, int ms, rbuf_t *out)
{
    if (f->rd.end == f->rd.start && !spin_readable(f->link) && wait_readable(f->link, ms) != 1)
        return -1;
    const uint8_t *frame;
    size_t len;
    if (wire_read(f->link, &f->rd, 0, &frame, &len))
        return -1;
    rb_init(out, frame, len);
    return 0;
}

void fm_registry_set_cryptoki(fm_registry_t *r, fm_ck_handler_t fn, void *ctx)
{
    r->ck = fn;
    r->ck_ctx = ctx;
}

/* One Cryptoki request from the FM (an FMH_CK frame, kind already read). */
static int serve_cryptoki(fm_registry_t *r, fm_t *f, rbuf_t *in)
{
    uint32_t app = rb_u32(in);
    uint8_t privilege = rb_u8(in);
    size_t len;
    const uint8_t *req = rb_bytes(in, &len);
    if (!rb_done(in))
        return -1;
    wbuf_t reply, out;
    wb_init(&reply);
    wb_init(&out);
    if (!r->ck || r->ck(r->ck_ctx, f->number, app, privilege, req, len, &reply)) {
        wb_reset(&reply);
        wb_u32(&reply, CKR_DEVICE_ERROR);
    }
    size_t n;
    const uint8_t *p = wb_payload(&reply, &n);
    wb_u32(&out, FMH_CK_REPLY);
    wb_bytes(&out, p, n);
    int rc = wire_send(f->link, &out);
    if (reply.p)
        secure_zero(reply.p, reply.len);
    if (out.p)
        secure_zero(out.p, out.len);
    wb_free(&reply);
    wb_free(&out);
    wire_reader_wipe(&f->rd, 1u << 20); /* requests may carry PINs and keys */
    return rc;
}

/* One SMFS request from the FM (an FMH_SMFS frame, kind already read). */
static int serve_smfs(fm_registry_t *r, fm_t *f, rbuf_t *in)
{
    wbuf_t out;
    wb_init(&out);
    wb_u32(&out, FMH_SMFS_REPLY);
    /* The reply's own frame: u32 code and results follow the kind. */
    (void)smfs_serve(r->store, f->smfs, f->info.name, r->smfs_active, in, &out);
    int rc = wire_send(f->link, &out);
    if (out.p)
        secure_zero(out.p, out.len); /* file contents */
    wb_free(&out);
    wire_reader_wipe(&f->rd, 1u << 20);
    return rc;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* The fmhost's next frame other than a Cryptoki request, within ms (the
   FM's Cryptoki requests are served meanwhile and count against it). */
static int await(fm_registry_t *r, fm_t *f, int ms, rbuf_t *out)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long left = ms == INT_MAX ? INT_MAX : ms - ms_since(&t0);
        if (left < 0)
            left = 0;
        if (read_frame(f, (int)left, out))
            return -1;
        rbuf_t peek = *out;
        uint32_t kind = rb_u32(&peek);
        if (kind != FMH_CK && kind != FMH_SMFS)
            return 0;
        if (kind == FMH_CK ? serve_cryptoki(r, f, &peek) : serve_smfs(r, f, &peek))
            return -1;
    }
}

static void stop_host(fm_t *f)
{
    if (f->link >= 0)
        close(f->link);
    f->link = -1;
    wire_reader_free(&f->rd);
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
    }
    f->pid = 0;
}

/* Split SOFTFM_FMHOST_WRAPPER (e.g. "valgrind --error-exitcode=1") into argv. */
static size_t wrapper_argv(char *buf, size_t cap, char **argv, size_t max)
{
    const char *w = getenv("SOFTFM_FMHOST_WRAPPER");
    size_t n = 0;
    if (!w || !*w)
        return 0;
    snprintf(buf, cap, "%s", w);
    for (char *save = NULL, *tok = strtok_r(buf, " \t", &save); tok && n < max;
         tok = strtok_r(NULL, " \t", &save))
        argv[n++] = tok;
    return n;
}

/* Tell the daemon who patches what; r->lock held. */
static void publish_patches(fm_registry_t *r)
{
    uint16_t owners[FM_PATCH_ENTRIES] = { 0 };
    for (size_t k = 0; k < r->n; k++)
        for (int i = 0; i < FM_PATCH_ENTRIES; i++)
            if (r->fms[k]->patched[i / 8] & (1u << (i % 8)))
                owners[i] = r->fms[k]->number;
    fm_patch_set(owners);
}

/* f's Startup patched these entries: one FM a function (FMs that patch
   disjoint functions may be loaded together). 0, or -1 with f->why set.
   f->lock held, not r->lock. */
static int claim_patches(fm_registry_t *r, fm_t *f, const uint8_t *bits)
{
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t k = 0; k < r->n && !rc; k++) {
        fm_t *g = r->fms[k];
        if (g == f)
            continue;
        for (int i = 0; i < FM_PATCH_ENTRIES; i++)
            if ((bits[i / 8] & g->patched[i / 8]) & (1u << (i % 8))) {
                set_why(f, "it patches %s, which FM %s patches already (one FM a function)",
                        fm_patch_name(i), g->info.name);
                f->patch_conflict = true;
                rc = -1;
                break;
            }
    }
    if (!rc) {
        if (memcmp(f->patched, bits, FM_PATCH_BYTES) || !f->patches_saved)
            f->patches_saved = store_fm_set_patches(r->store, f->info.name, bits,
                                                    FM_PATCH_BYTES) == 0;
        memcpy(f->patched, bits, FM_PATCH_BYTES);
        f->patched_any = false;
        for (int i = 0; i < FM_PATCH_BYTES; i++)
            f->patched_any |= bits[i] != 0;
        publish_patches(r);
    }
    pthread_mutex_unlock(&r->lock);
    if (!rc && f->patched_any) {
        char list[600] = "";
        size_t at = 0;
        for (int i = 0; i < FM_PATCH_ENTRIES && at < sizeof list - 32; i++)
            if (bits[i / 8] & (1u << (i % 8)))
                at += (size_t)snprintf(list + at, sizeof list - at, " %s", fm_patch_name(i));
        trace_line(r, f, "Startup patched the HSM's Cryptoki:%s\n", list);
    }
    return rc;
}

/* Start f's fmhost and wait for Startup's answer. f->lock held. */
static void start_host(fm_registry_t *r, fm_t *f)
{
    int sv[2] = { -1, -1 }, img = -1, trace = -1;
    smfs_reset(f->smfs); /* a new process has no open files */
    if (f->refused) {
        f->state = FM_FAILED;
        return;
    }
    if (!r->smfs_active) {
        f->state = FM_WAITING;
        set_why(f, "waiting for SMFS activation (softfm smfs activate)");
        return;
    }
    f->state = FM_FAILED;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
        (img = memfd_create(f->info.name, MFD_CLOEXEC)) < 0 ||
        (trace = trace_open(r, f->info.name)) < 0) {
        set_why(f, "cannot set up its process: %s", strerror(errno));
        goto out;
    }
    size_t done = 0;
    while (done < f->len) {
        ssize_t w = write(img, f->image + done, f->len - done);
        if (w <= 0) {
            set_why(f, "cannot pass its image: %s", strerror(errno));
            goto out;
        }
        done += (size_t)w;
    }
    char wbuf[1024], num[16];
    char *argv[24];
    size_t k = wrapper_argv(wbuf, sizeof wbuf, argv, 16);
    snprintf(num, sizeof num, "%u", f->number);
    argv[k++] = r->fmhost;
    argv[k++] = "3";
    argv[k++] = "4";
    argv[k++] = "5";
    argv[k++] = num;
    argv[k] = NULL;
    /* The environment, built before fork: with a debugger or valgrind in
       front, the fmhost leaves out its sandbox, which they would trip. */
    extern char **environ;
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **envp = calloc(nenv + 2, sizeof *envp);
    if (!envp) {
        set_why(f, "out of memory");
        goto out;
    }
    memcpy(envp, environ, nenv * sizeof *envp);
    if (k > 5)
        envp[nenv++] = "SOFTFM_FMHOST_NO_SANDBOX=1";
    pid_t pid = fork();
    if (pid < 0) {
        free(envp);
        set_why(f, "cannot start its process: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls here: the daemon has threads. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (dup2(sv[1], 3) < 0 || dup2(img, 4) < 0 || dup2(trace, 5) < 0)
            _exit(127);
        close_range(6, ~0u, 0);
        execvpe(argv[0], argv, envp);
        _exit(127);
    }
    free(envp);
    close(sv[1]);
    sv[1] = -1;
    f->pid = pid;
    f->link = sv[0];
    sv[0] = -1;
    wire_reader_init(&f->rd);
    rbuf_t rb;
    int wait = getenv("SOFTFM_FMHOST_WRAPPER") ? INT_MAX : START_TIMEOUT_MS;
    if (await(r, f, wait, &rb)) {
        stop_host(f);
        set_why(f, "its process ended or hung before Startup returned");
        goto out;
    }
    uint32_t kind = rb_u32(&rb);
    if (kind == FMH_FAILED) {
        size_t n;
        const uint8_t *msg = rb_bytes(&rb, &n);
        set_why(f, "%.*s", msg ? (int)(n > 150 ? 150 : n) : 0, msg ? (const char *)msg : "");
        stop_host(f);
        goto out;
    }
    uint32_t st = rb_u32(&rb), model = rb_u32(&rb);
    (void)rb_u32(&rb);
    uint8_t notify = rb_u8(&rb);
    const uint8_t *patched = rb_raw(&rb, FM_PATCH_BYTES);
    f->userdata = rb_u8(&rb) != 0;
    if (kind != FMH_READY || !rb_done(&rb) || !patched) {
        stop_host(f);
        set_why(f, "its process spoke out of turn");
        goto out;
    }
    f->startup_status = st;
    f->has_notify = notify != 0;
    if (st != 0) {
        stop_host(f);
        set_why(f, "Startup returned 0x%x", st);
        goto out;
    }
    if (claim_patches(r, f, patched)) {
        stop_host(f);
        goto out;
    }
    if (model == FMH_MODEL_NONE && !f->patched_any)
        trace_line(r, f, "Startup registered no dispatch function: requests will fail\n");
    f->state = FM_RUNNING;
    f->why[0] = '\0';
out:
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    if (img >= 0)
        close(img);
    if (trace >= 0)
        close(trace);
}

static bool name_ok(const char *s)
{
    if (!*s || *s == '.')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* r->lock held. */
static fm_t *find_name(fm_registry_t *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->fms[i]->info.name, name))
            return r->fms[i];
    return NULL;
}

static fm_t *find_number(fm_registry_t *r, uint16_t number)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->fms[i]->number == number)
            return r->fms[i];
    return NULL;
}

static uint16_t allocate_number(fm_registry_t *r)
{
    for (uint32_t n = FM_NUMBER_ALLOC_FIRST; n < FM_NUMBER_ALLOCATE; n++)
        if (!find_number(r, (uint16_t)n))
            return (uint16_t)n;
    return 0;
}

static void fm_free(fm_t *f)
{
    if (!f)
        return;
    stop_host(f);
    smfs_free(f->smfs);
    free(f->image);
    free(f->events);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* Make an FM entry (not started); r->lock held. */
static enum fm_result add(fm_registry_t *r, const uint8_t *img, size_t n,
                          const fm_origin_t *origin, uint16_t number, fm_t **out, char *why, size_t cap)
{
    fm_t *f = calloc(1, sizeof *f);
    if (!f || !(f->image = malloc(n ? n : 1)) || !(f->smfs = smfs_new())) {
        if (f)
            free(f->image);
        free(f);
        return FMR_RESOURCES;
    }
    if (fm_image_check(img, n, &f->info, why, cap)) {
        smfs_free(f->smfs);
        free(f->image);
        free(f);
        return FMR_BAD_IMAGE;
    }
    if (!name_ok(f->info.name)) {
        snprintf(why, cap, "FM names are letters, digits, '_', '-' and '.'");
        smfs_free(f->smfs);
        free(f->image);
        free(f);
        return FMR_BAD_IMAGE;
    }
    enum fm_result res = FMR_OK;
    if (find_name(r, f->info.name)) {
        snprintf(why, cap, "an FM named %s is loaded", f->info.name);
        res = FMR_EXISTS;
    } else if (r->n >= MAX_FMS) {
        snprintf(why, cap, "too many FMs (at most %d)", MAX_FMS);
        res = FMR_RESOURCES;
    } else {
        if (!number)
            number = f->info.number == FM_NUMBER_ALLOCATE ? allocate_number(r) : f->info.number;
        if (!number || find_number(r, number)) {
            snprintf(why, cap, "FM number 0x%04x is taken", number);
            res = FMR_EXISTS;
        }
    }
    if (res) {
        smfs_free(f->smfs);
        free(f->image);
        free(f);
        return res;
    }
    memcpy(f->image, img, n);
    f->len = n;
    f->number = number;
    f->origin = *origin;
    if (!f->info.build_time)
        f->info.build_time = origin->build_time;
    f->unsigned_image = origin->build == FM_BUILD_UNSIGNED;
    f->link = -1;
    pthread_mutex_init(&f->lock, NULL);
    r->fms[r->n++] = f;
    *out = f;
    return FMR_OK;
}

/* A stored image is accepted again; one that no longer is (its signer's
   certificate gone or expired, a policy changed) is kept but not run. */
static int load_stored(void *ctx, const store_fm_t *s)
{
    fm_registry_t *r = ctx;
    fm_t *f;
    char why[160], refused[160] = "";
    bool dev = (s->flags & STORE_FM_UNSIGNED) != 0;
    const uint8_t *elf = s->image;
    size_t elf_len = s->len;
    fm_origin_t origin;
    if (fm_accept(s->image, s->len, dev, &r->trust, &elf, &elf_len, refused, sizeof refused))
        log_err("stored FM %s not started: %s", s->name, refused);
    if (fm_origin(s->image, s->len, dev, &origin, &elf, &elf_len)) {
        log_err("stored FM %s not loaded: not an FM image", s->name);
        return 0;
    }
    if (add(r, elf, elf_len, &origin, s->number, &f, why, sizeof why) != FMR_OK) {
        log_err("stored FM %s not loaded: %s", s->name, why);
        return 0;
    }
    if (s->patches && s->patches_len == FM_PATCH_BYTES) {
        /* Until it runs again, the functions it patched fail (a policy FM
           must not be bypassed while it waits for the SMFS or has failed). */
        memcpy(f->patched, s->patches, FM_PATCH_BYTES);
        f->patches_saved = true;
        for (int i = 0; i < FM_PATCH_BYTES; i++)
            f->patched_any |= f->patched[i] != 0;
    }
    if (refused[0]) {
        f->refused = true;
        f->state = FM_FAILED;
        set_why(f, "not accepted at this start: %s", refused);
    }
    return 0;
}

int fm_registry_open(const char *data_dir, store_t *store, bool smfs_active,
                     const fm_trust_t *trust, fm_registry_t **out)
{
    fm_registry_t *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    pthread_mutex_init(&r->lock, NULL);
    r->store = store;
    r->smfs_active = smfs_active;
    r->trust = *trust;
    snprintf(r->trace_dir, sizeof r->trace_dir, "%s/fm-trace", data_dir);
    if (mkdir(r->trace_dir, 0700) && errno != EEXIST) {
        log_err("cannot create %s", r->trace_dir);
        free(r);
        return -1;
    }
    find_fmhost(r->fmhost, sizeof r->fmhost);
    if (store_fm_load_all(store, load_stored, r)) {
        fm_registry_close(r);
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    publish_patches(r);
    pthread_mutex_unlock(&r->lock);
    *out = r;
    return 0;
}

static void release(fm_registry_t *r, fm_t *f);

void fm_registry_start(fm_registry_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        fm_t *f = r->fms[i];
        pthread_mutex_lock(&f->lock);
        start_host(r, f);
        if (f->state == FM_RUNNING)
            log_info("FM %s (0x%04x) started", f->info.name, f->number);
        else if (f->state != FM_WAITING)
            log_warn("FM %s (0x%04x) not started: %s", f->info.name, f->number, f->why);
        pthread_mutex_unlock(&f->lock);
    }
}

bool fm_registry_smfs_active(fm_registry_t *r)
{
    pthread_mutex_lock(&r->lock);
    bool active = r->smfs_active;
    pthread_mutex_unlock(&r->lock);
    return active;
}

void fm_registry_activate_smfs(fm_registry_t *r)
{
    fm_t *list[MAX_FMS];
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    bool was = r->smfs_active;
    r->smfs_active = true;
    for (size_t i = 0; i < r->n && !was; i++) {
        r->fms[i]->refs++;
        list[n++] = r->fms[i];
    }
    pthread_mutex_unlock(&r->lock);
    if (!was)
        log_info("SMFS activated");
    for (size_t i = 0; i < n; i++) {
        fm_t *f = list[i];
        pthread_mutex_lock(&f->lock);
        if (f->state == FM_WAITING && !f->deleted) {
            start_host(r, f);
            if (f->state == FM_RUNNING)
                log_info("FM %s (0x%04x) started", f->info.name, f->number);
        }
        pthread_mutex_unlock(&f->lock);
        release(r, f);
    }
}

void fm_registry_restart_all(fm_registry_t *r)
{
    fm_t *list[MAX_FMS];
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++) {
        r->fms[i]->refs++;
        list[n++] = r->fms[i];
    }
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < n; i++) {
        fm_t *f = list[i];
        pthread_mutex_lock(&f->lock);
        if (f->state == FM_RUNNING && !f->deleted) {
            stop_host(f);
            start_host(r, f);
        }
        pthread_mutex_unlock(&f->lock);
        release(r, f);
    }
}

static int sum_files(void *ctx, const store_smfs_t *e)
{
    if (!e->is_dir)
        *(uint64_t *)ctx += e->size;
    return 0;
}

int fm_registry_smfs_usage(fm_registry_t *r, uint64_t *capacity, uint64_t *used)
{
    *capacity = smfs_capacity();
    *used = 0;
    return store_smfs_list(r->store, NULL, sum_files, used);
}

void fm_registry_close(fm_registry_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        fm_free(r->fms[i]);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

enum fm_result fm_load(fm_registry_t *r, const uint8_t *img, size_t n, bool dev,
                       const fm_trust_t *trust, fm_status_t *out, char *why, size_t cap)
{
    fm_t *f;
    const uint8_t *elf;
    size_t elf_len;
    fm_origin_t origin;
    int acc = fm_accept(img, n, dev, trust, &elf, &elf_len, why, cap);
    if (acc)
        return acc == -2 ? FMR_POLICY : FMR_BAD_IMAGE;
    if (fm_origin(img, n, dev, &origin, &elf, &elf_len))
        return FMR_BAD_IMAGE;
    pthread_mutex_lock(&r->lock);
    enum fm_result res = add(r, elf, elf_len, &origin, 0, &f, why, cap);
    if (res == FMR_OK &&
        store_fm_put(r->store, f->info.name, f->number, dev ? STORE_FM_UNSIGNED : 0, img, n)) {
        snprintf(why, cap, "cannot keep the image in the store");
        r->fms[--r->n] = NULL;
        fm_free(f);
        res = FMR_RESOURCES;
    }
    if (res == FMR_OK) {
        f->refs++;
        /* The FM is new, so its lock is free; taking it with trylock does
           not put f->lock after r->lock (elsewhere f->lock comes first). */
        if (pthread_mutex_trylock(&f->lock))
            abort();
    }
    pthread_mutex_unlock(&r->lock);
    if (res)
        return res;
    start_host(r, f);
    bool conflict = f->patch_conflict;
    if (conflict) { /* refused: another FM patches one of its functions */
        snprintf(why, cap, "%s", f->why);
        pthread_mutex_unlock(&f->lock);
        pthread_mutex_lock(&r->lock);
        f->refs--;
        pthread_mutex_unlock(&r->lock);
        char name[FM_NAME_MAX + 1];
        snprintf(name, sizeof name, "%s", f->info.name);
        (void)fm_delete(r, name);
        return FMR_EXISTS;
    }
    memset(out, 0, sizeof *out);
    out->info = f->info;
    out->number = f->number;
    out->state = f->state;
    out->startup_status = f->startup_status;
    out->unsigned_image = f->unsigned_image;
    out->origin = f->origin;
    out->elf_len = (uint32_t)f->len;
    snprintf(out->why, sizeof out->why, "%s", f->why);
    pthread_mutex_unlock(&f->lock);
    pthread_mutex_lock(&r->lock);
    f->refs--;
    pthread_mutex_unlock(&r->lock);
    return FMR_OK;
}

enum fm_result fm_delete(fm_registry_t *r, const char *key)
{
    char *end;
    unsigned long num = strtoul(key, &end, 0);
    pthread_mutex_lock(&r->lock);
    fm_t *f = find_name(r, key);
    if (!f && *key && !*end && num <= 0xFFFF)
        f = find_number(r, (uint16_t)num);
    if (!f || store_fm_delete(r->store, f->info.name)) {
        pthread_mutex_unlock(&r->lock);
        return f ? FMR_RESOURCES : FMR_NOT_FOUND;
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->fms[i] == f) {
            r->fms[i] = r->fms[--r->n];
            r->fms[r->n] = NULL;
            break;
        }
    f->deleted = true;
    publish_patches(r); /* the HSM's own functions come back */
    pthread_mutex_unlock(&r->lock);
    /* Wait for a request in progress to end, then stop the process. */
    pthread_mutex_lock(&f->lock);
    stop_host(f);
    pthread_mutex_unlock(&f->lock);
    for (;;) {
        pthread_mutex_lock(&r->lock);
        int refs = f->refs;
        pthread_mutex_unlock(&r->lock);
        if (!refs)
            break;
        usleep(1000);
    }
    fm_free(f);
    return FMR_OK;
}

void fm_registry_zeroize(fm_registry_t *r)
{
    for (;;) {
        char name[FM_NAME_MAX + 1] = "";
        pthread_mutex_lock(&r->lock);
        if (r->n)
            snprintf(name, sizeof name, "%s", r->fms[0]->info.name);
        pthread_mutex_unlock(&r->lock);
        if (!name[0] || fm_delete(r, name) != FMR_OK)
            break;
    }
    DIR *d = opendir(r->trace_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", r->trace_dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
}

int fm_list(fm_registry_t *r, fm_status_t **out, size_t *n)
{
    pthread_mutex_lock(&r->lock);
    fm_status_t *v = calloc(r->n ? r->n : 1, sizeof *v);
    if (!v) {
        pthread_mutex_unlock(&r->lock);
        return -1;
    }
    for (size_t i = 0; i < r->n; i++) {
        const fm_t *f = r->fms[i];
        v[i].info = f->info;
        v[i].number = f->number;
        v[i].state = f->state;
        v[i].startup_status = f->startup_status;
        v[i].restarts = f->restarts;
        v[i].unsigned_image = f->unsigned_image;
        v[i].origin = f->origin;
        v[i].elf_len = (uint32_t)f->len;
        snprintf(v[i].why, sizeof v[i].why, "%s", f->why);
    }
    *n = r->n;
    pthread_mutex_unlock(&r->lock);
    *out = v;
    return 0;
}

int fm_number_of(fm_registry_t *r, const char *name, size_t len, uint16_t *number)
{
    int rc = -1;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++) {
        const char *nm = r->fms[i]->info.name;
        if (strlen(nm) == len && !memcmp(nm, name, len)) {
            *number = r->fms[i]->number;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* Take a reference on FM number so it is not freed while used. */
static fm_t *grab(fm_registry_t *r, uint16_t number)
{
    pthread_mutex_lock(&r->lock);
    fm_t *f = find_number(r, number);
    if (f)
        f->refs++;
    pthread_mutex_unlock(&r->lock);
    return f;
}

static void release(fm_registry_t *r, fm_t *f)
{
    pthread_mutex_lock(&r->lock);
    f->refs--;
    pthread_mutex_unlock(&r->lock);
}

static void note_user(fm_t *f, uint32_t pid)
{
    for (size_t i = 0; i < f->nusers; i++)
        if (f->users[i] == pid)
            return;
    if (f->nusers < MAX_USERS)
        f->users[f->nusers++] = pid;
}

/* The fmhost died or overran: record it, stop it; the next request
   starts it again. exiting: the link broke, so the process is on its way
   out (give it a moment to finish, to learn how it ended). f->lock held. */
static void host_lost(fm_registry_t *r, fm_t *f, const char *what, bool exiting)
{
    int status = 0;
    pid_t pid = f->pid, got = 0;
    for (int i = 0; exiting && pid > 0 && i < 1000; i++) {
        if ((got = waitpid(pid, &status, WNOHANG)) != 0)
            break;
        usleep(1000);
    }
    if (got == pid) {
        f->pid = 0;
        if (WIFSIGNALED(status))
            trace_line(r, f, "FM process ended by signal %d (%s) %s\n", WTERMSIG(status),
                       strsignal(WTERMSIG(status)), what);
        else
            trace_line(r, f, "FM process exited with status %d %s\n", WEXITSTATUS(status), what);
    } else {
        trace_line(r, f, "FM process stopped %s\n", what);
    }
    stop_host(f);
    f->state = FM_STOPPED;
    set_why(f, "restarting after a failure");
    log_warn("FM %s (0x%04x) failed %s", f->info.name, f->number, what);
}

/* How long an FM may take on one exchange (0: the default); under a
   debugger or valgrind (SOFTFM_FMHOST_WRAPPER) time stands still. */
static int exchange_ms(uint32_t timeout_ms)
{
    if (getenv("SOFTFM_FMHOST_WRAPPER"))
        return INT_MAX;
    if (!timeout_ms)
        return DEFAULT_TIMEOUT_MS;
    return timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms;
}

/* f may take an exchange: restarted if it failed on an earlier one, told of
   the events queued for it. f->lock held. FMR_OK, FMR_NOT_AVAILABLE (deleted
   or not running), or FMR_FAILED (it failed while told of the events). */
static enum fm_result make_ready(fm_registry_t *r, fm_t *f)
{
    if (f->deleted)
        return FMR_NOT_AVAILABLE;
    if (f->state == FM_STOPPED) { /* it failed on an earlier request */
        f->restarts++;
        start_host(r, f);
    }
    if (f->state != FM_RUNNING)
        return FMR_NOT_AVAILABLE;
    flush_events(r, f);
    return f->state == FM_RUNNING ? FMR_OK : FMR_FAILED;
}

/* Why an exchange failed, for the trace: the frame was not taken, the
   process broke while on it, or it overran its time (and was killed). */
typedef struct lost_why {
    const char *not_taken, *broke, *overran;
} lost_why_t;

/* Send w (wiped and freed here) to f's process and read its answer into
   rb within ms; on failure the process is stopped with the reason and -1
   returned. f->lock held, f running. */
static int exchange(fm_registry_t *r, fm_t *f, wbuf_t *w, int ms, const lost_why_t *why,
                    rbuf_t *rb)
{
    int sent = wire_send(f->link, w);
    secure_zero(w->p, w->len);
    wb_free(w);
    if (!sent && !await(r, f, ms, rb))
        return 0;
    bool broke = sent || wait_readable(f->link, 0) == 1;
    host_lost(r, f, sent ? why->not_taken : broke ? why->broke : why->overran, broke);
    return -1;
}

enum fm_result fm_call(fm_registry_t *r, uint16_t number, uint32_t pid, uint32_t oid,
                       const uint8_t *req, size_t len, uint32_t reply_cap,
                       uint32_t timeout_ms, uint32_t *status, uint8_t **reply,
                       size_t *reply_len)
{
    *reply = NULL;
    *reply_len = 0;
    fm_t *f = grab(r, number);
    if (!f)
        return FMR_NOT_AVAILABLE;
    pthread_mutex_lock(&f->lock);
    enum fm_result res = make_ready(r, f);
    if (res)
        goto out;
    note_user(f, pid);
    wbuf_t w;
    wb_init(&w);
    wb_u32(&w, FMH_REQUEST);
    wb_u32(&w, pid);
    wb_u32(&w, oid);
    wb_u32(&w, reply_cap);
    wb_bytes(&w, req, len);
    static const lost_why_t why = { "before taking a request", "while handling a request",
                                    "after overrunning its time on a request (killed)" };
    rbuf_t rb;
    if (exchange(r, f, &w, exchange_ms(timeout_ms), &why, &rb)) {
        res = FMR_FAILED;
        goto out;
    }
    uint32_t kind = rb_u32(&rb);
    *status = rb_u32(&rb);
    (void)rb_u8(&rb);
    size_t n;
    const uint8_t *p = rb_bytes(&rb, &n);
    f->userdata |= rb_u8(&rb) != 0;
    if (kind != FMH_REPLY || !rb_done(&rb) || n > reply_cap) {
        host_lost(r, f, "after sending a malformed reply", false);
        res = FMR_FAILED;
        goto out;
    }
    if ((*reply = malloc(n ? n : 1)) == NULL) {
        res = FMR_RESOURCES;
        goto out;
    }
    if (n)
        memcpy(*reply, p, n);
    *reply_len = n;
    wire_reader_wipe(&f->rd, 1u << 20);
out:
    trace_trim(r, f);
    pthread_mutex_unlock(&f->lock);
    release(r, f);
    return res;
}

/* Tell f of the events queued for it, in order; f->lock held, f running.
   Events wait for the FM's next exchange: it runs no code meanwhile, and an
   event raised by its own Cryptoki call cannot be sent while it waits for
   that call's reply. */
static void flush_events(fm_registry_t *r, fm_t *f)
{
    pthread_mutex_lock(&r->lock);
    fm_ud_event_t *ev = f->events;
    size_t n = f->nevents;
    f->events = NULL;
    f->nevents = f->events_cap = 0;
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < n && f->state == FM_RUNNING; i++) {
        wbuf_t w;
        wb_init(&w);
        wb_u32(&w, FMH_UD_EVENT);
        wb_u8(&w, ev[i].event);
        wb_u32(&w, ev[i].app);
        wb_u64(&w, ev[i].slot);
        wb_u64(&w, ev[i].session);
        rbuf_t rb;
        if (wire_send(f->link, &w) || await(r, f, DEFAULT_TIMEOUT_MS, &rb) ||
            rb_u32(&rb) != FMH_DONE)
            host_lost(r, f, "while freeing user data", true);
        wb_free(&w);
    }
    free(ev);
}

void fm_ud_note(fm_registry_t *r, uint8_t event, uint32_t app, uint64_t slot, uint64_t session)
{
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++) {
        fm_t *f = r->fms[i];
        if (!f->userdata)
            continue;
        if (f->nevents == f->events_cap) {
            size_t cap = f->events_cap ? f->events_cap * 2 : 16;
            fm_ud_event_t *grown = cap <= 65536 ? realloc(f->events, cap * sizeof *grown) : NULL;
            if (!grown) {
                log_warn("FM %s: too many user-data events waiting; one dropped", f->info.name);
                continue;
            }
            f->events = grown;
            f->events_cap = cap;
        }
        f->events[f->nevents++] = (fm_ud_event_t){ event, app, slot, session };
    }
    pthread_mutex_unlock(&r->lock);
}

void fm_patch_call(fm_registry_t *r, uint16_t number, uint32_t app, const uint8_t *req,
                   size_t len, wbuf_t *reply)
{
    fm_t *f = grab(r, number);
    bool done = false;
    if (f) {
        pthread_mutex_lock(&f->lock);
        if (make_ready(r, f) == FMR_OK) {
            note_user(f, app);
            wbuf_t w;
            wb_init(&w);
            wb_u32(&w, FMH_PKCS11);
            wb_u32(&w, app);
            wb_bytes(&w, req, len);
            static const lost_why_t why = {
                "in a patched Cryptoki function", "in a patched Cryptoki function",
                "after overrunning its time in a patched Cryptoki function (killed)"
            };
            rbuf_t rb;
            if (exchange(r, f, &w, exchange_ms(0), &why, &rb) == 0) {
                uint32_t kind = rb_u32(&rb);
                size_t n;
                const uint8_t *p = rb_bytes(&rb, &n);
                f->userdata |= rb_u8(&rb) != 0;
                if (kind != FMH_PKCS11_REPLY || !p || n < 4 || !rb_done(&rb)) {
                    host_lost(r, f, "after a malformed reply from a patched Cryptoki function",
                              false);
                } else {
                    wb_reset(reply);
                    wb_raw(reply, p, n);
                    done = true;
                }
                wire_reader_wipe(&f->rd, 1u << 20);
            }
        }
        trace_trim(r, f);
        pthread_mutex_unlock(&f->lock);
        release(r, f);
    }
    /* A patching FM that is down fails its functions: a policy FM is not
       bypassed by making it crash. */
    if (!done) {
        wb_reset(reply);
        wb_u32(reply, CKR_DEVICE_ERROR);
    }
}

void fm_app_closed(fm_registry_t *r, uint32_t pid)
{
    fm_t *list[MAX_FMS];
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++) {
        r->fms[i]->refs++;
        list[n++] = r->fms[i];
    }
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < n; i++) {
        fm_t *f = list[i];
        pthread_mutex_lock(&f->lock);
        bool used = false;
        for (size_t k = 0; k < f->nusers; k++)
            if (f->users[k] == pid) {
                used = true;
                f->users[k] = f->users[--f->nusers];
                break;
            }
        if (used && (f->has_notify || f->userdata) && f->state == FM_RUNNING && !f->deleted) {
            flush_events(r, f);
            wbuf_t w;
            wb_init(&w);
            wb_u32(&w, FMH_APP_CLOSE);
            wb_u32(&w, pid);
            wb_u8(&w, f->nusers == 0);
            rbuf_t rb;
            if (wire_send(f->link, &w) || await(r, f, DEFAULT_TIMEOUT_MS, &rb) ||
                rb_u32(&rb) != FMH_DONE)
                host_lost(r, f, "while told of a host process's end", true);
            else
                f->userdata |= rb_u8(&rb) != 0;
            wb_free(&w);
        }
        pthread_mutex_unlock(&f->lock);
        release(r, f);
    }
}

int fm_trace_path(fm_registry_t *r, const char *name, char *buf, size_t cap)
{
    if (!name_ok(name))
        return -1;
    pthread_mutex_lock(&r->lock);
    bool known = find_name(r, name) != NULL;
    pthread_mutex_unlock(&r->lock);
    snprintf(buf, cap, "%s/%s.log", r->trace_dir, name);
    return known || access(buf, R_OK) == 0 ? 0 : -1;
}
