#include "harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "common.h"

int daemon_start(daemon_proc_t *d)
{
    if (!d->dir[0]) {
        snprintf(d->dir, sizeof d->dir, "/tmp/softfm-it.XXXXXX");
        if (!mkdtemp(d->dir))
            return -1;
        snprintf(d->data, sizeof d->data, "%s/data", d->dir);
        snprintf(d->sock, sizeof d->sock, "%s/softfmd.sock", d->dir);
    }
    const char *bin = getenv("SOFTFMD");
    if (!bin)
        bin = "softfmd";
    char log[200];
    snprintf(log, sizeof log, "%s/softfmd.log", d->dir);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* The daemon dies with the test, and writes nothing to its pipes
           (CTest waits for those to close). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        const char *wrap = getenv("SOFTFM_DAEMON_WRAPPER"); /* e.g. valgrind */
        const char *net = d->listen[0] ? "--listen" : NULL; /* ends the list when unset */
        if (wrap && *wrap)
            execlp(wrap, wrap, "--quiet", "--error-exitcode=99", "--leak-check=full",
                   "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", bin,
                   "--data", d->data, "--socket", d->sock, "--foreground", "--log", log, net,
                   d->listen, (char *)NULL);
        else
            execl(bin, bin, "--data", d->data, "--socket", d->sock, "--foreground", "--log",
                  log, net, d->listen, (char *)NULL);
        _exit(127);
    }
    d->pid = pid;
    /* Ready when the socket accepts. */
    for (int i = 0; i < 3000; i++) {
        struct stat st;
        if (stat(d->sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
            client_t *c = client_new(d->sock);
            client_conn_t *k;
            wbuf_t *w;
            CK_RV rv = client_begin(c, OP_HELLO, &k, &w);
            if (rv == CKR_OK)
                client_end(c, k);
            client_free(c);
            if (rv == CKR_OK)
                return 0;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1;
        nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    }
    return -1;
}

void daemon_stop(daemon_proc_t *d, int sig)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, sig);
    int status = 0;
    while (waitpid(d->pid, &status, 0) < 0 && errno == EINTR)
        ;
    d->pid = 0;
    /* A clean stop exits 0; anything else (a sanitizer report, a crash on
       the way out) fails the test, with the daemon's log shown. */
    if (sig == SIGTERM && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "softfmd did not stop cleanly (status 0x%x); its log:\n", status);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "tail -n 60 '%s/softfmd.log' >&2", d->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "(no log)\n");
        exit(1);
    }
}

void daemon_cleanup(daemon_proc_t *d)
{
    daemon_stop(d, SIGTERM);
    if (d->dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", d->dir);
    }
}

CK_FUNCTION_LIST_PTR module_load(void)
{
    const char *path = getenv("SOFTFM_MODULE");
    void *h = dlopen(path ? path : "libsoftfm-pkcs11.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return NULL;
    }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR p = NULL;
    if (!gfl || gfl(&p) != CKR_OK)
        return NULL;
    return p;
}

int hsm_setup(CK_FUNCTION_LIST_PTR p, const char *sock, CK_SLOT_ID *slot)
{
    CK_UTF8CHAR label[32];
    CK_SESSION_HANDLE s;
    pad_copy(label, sizeof label, "it-hsm");
    if (p->C_InitToken(0, (CK_UTF8CHAR_PTR)T_SO_PIN, strlen(T_SO_PIN), label))
        return -1;
    /* The partition through the admin protocol, as softfm does it. */
    client_t *c = client_new(sock);
    client_conn_t *k;
    wbuf_t *w;
    rbuf_t r;
    CK_RV st = CKR_GENERAL_ERROR;
    if (client_begin(c, OP_ADMIN_PARTITION_CREATE, &k, &w) == CKR_OK) {
        wb_bytes(w, T_SO_PIN, strlen(T_SO_PIN));
        wb_bytes(w, "it", 2);
        if (client_call(c, k, &st, &r) == CKR_OK && st == CKR_OK)
            *slot = (CK_SLOT_ID)rb_u64(&r);
        client_end(c, k);
    }
    client_free(c);
    if (st)
        return -1;
    pad_copy(label, sizeof label, "it-token");
    if (p->C_InitToken(*slot, (CK_UTF8CHAR_PTR)T_PSO_PIN, strlen(T_PSO_PIN), label) ||
        p->C_OpenSession(*slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) ||
        p->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)T_PSO_PIN, strlen(T_PSO_PIN)) ||
        p->C_InitPIN(s, (CK_UTF8CHAR_PTR)T_USER_PIN, strlen(T_USER_PIN)) ||
        p->C_CloseSession(s))
        return -1;
    return 0;
}

/* An administration request with the HSM SO PIN: returns the daemon's
   status; *reason gets the text that comes with a refusal. */
CK_RV admin(const char *sock, uint32_t op, const void *arg, size_t len, int with_flags, const char *pin,
                   char *reason, size_t cap)
{
    client_t *c = client_new(sock);
    client_conn_t *k;
    wbuf_t *w;
    rbuf_t r;
    CK_RV st = CKR_GENERAL_ERROR;
    if (client_begin(c, op, &k, &w) == CKR_OK) {
        wb_bytes(w, pin, strlen(pin));
        if (with_flags)
            wb_u8(w, 1);
        if (arg)
            wb_bytes(w, arg, len);
        if (client_call(c, k, &st, &r) == CKR_OK && st != CKR_OK && reason) {
            size_t n;
            const uint8_t *t = rb_bytes(&r, &n);
            snprintf(reason, cap, "%.*s", t ? (int)n : 0, t ? (const char *)t : "");
        }
        client_end(c, k);
    }
    client_free(c);
    return st;
}

CK_RV set_policy(const char *sock, const char *name, uint64_t v)
{
    client_t *c = client_new(sock);
    client_conn_t *k;
    wbuf_t *w;
    rbuf_t r;
    CK_RV st = CKR_GENERAL_ERROR;
    if (client_begin(c, OP_ADMIN_POLICY_SET, &k, &w) == CKR_OK) {
        wb_bytes(w, T_SO_PIN, strlen(T_SO_PIN));
        wb_bytes(w, name, strlen(name));
        wb_u64(w, v);
        (void)client_call(c, k, &st, &r);
        client_end(c, k);
    }
    client_free(c);
    return st;
}

uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = malloc(4 << 20);
    *n = buf ? fread(buf, 1, 4 << 20, f) : 0;
    fclose(f);
    return buf;
}

CK_RV load_fm(const char *sock, const char *path, char *reason, size_t cap)
{
    size_t n;
    uint8_t *img = path ? read_file(path, &n) : NULL;
    if (!img)
        return CKR_GENERAL_ERROR;
    CK_RV rv = admin(sock, OP_ADMIN_FM_LOAD, img, n, 1, T_SO_PIN, reason, cap);
    free(img);
    return rv;
}

/* An FM's state, Startup status and number from the status list
   (0xFFFFFFFF each when it is not listed). */
void fm_status_of(const char *sock, const char *name, uint32_t *state, uint32_t *startup,
                  uint32_t *number)
{
    client_t *c = client_new(sock);
    client_conn_t *k;
    wbuf_t *w;
    rbuf_t r;
    CK_RV st = CKR_GENERAL_ERROR;
    *state = *startup = *number = 0xFFFFFFFFu;
    if (client_begin(c, OP_ADMIN_FM_STATUS, &k, &w) == CKR_OK) {
        if (client_call(c, k, &st, &r) == CKR_OK && st == CKR_OK) {
            uint32_t n = rb_u32(&r);
            for (uint32_t i = 0; i < n && !r.err; i++) {
                size_t len, nmlen;
                const uint8_t *nm = rb_bytes(&r, &nmlen);
                uint32_t num = rb_u32(&r);
                rb_u8(&r);
                rb_u8(&r);
                rb_bytes(&r, &len);
                rb_u64(&r);
                rb_u64(&r);
                rb_raw(&r, 32);
                uint32_t s = rb_u32(&r), su = rb_u32(&r);
                rb_u32(&r);
                rb_u8(&r);
                rb_bytes(&r, &len);
                rb_u8(&r);        /* origin: build type, signer, its label */
                rb_raw(&r, 32);
                rb_bytes(&r, &len);
                rb_u32(&r);       /* image and object sizes */
                rb_u32(&r);
                size_t nl = strlen(name);
                if (nm && nl == nmlen && !memcmp(nm, name, nl)) {
                    *state = s;
                    *startup = su;
                    *number = num;
                }
            }
        }
        client_end(c, k);
    }
    client_free(c);
}
