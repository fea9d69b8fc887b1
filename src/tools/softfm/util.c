/*
 * PIN input, confirmation prompts, error lines and the two ways the shell
 * reaches the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "p11app.h"
#include "tool.h"

static const char *explain(CK_RV rv)
{
    switch (rv) {
    case CKR_PIN_INCORRECT: return "wrong PIN";
    case CKR_PIN_LOCKED: return "the PIN is locked after too many wrong tries";
    case CKR_PIN_LEN_RANGE: return "a PIN must have 4 to 255 characters";
    case CKR_DEVICE_REMOVED: return "softfmd is not running (or not at this socket)";
    case CKR_DEVICE_ERROR: return "the connection to softfmd failed";
    case CKR_SESSION_EXISTS: return "sessions are open on that token";
    case SFM_R_NOT_INITIALIZED: return "the HSM is not initialised (softfm hsm init)";
    case SFM_R_EXISTS: return "a partition of that name exists";
    case SFM_R_NOT_FOUND: return "no such partition or policy";
    case SFM_R_BAD_NAME: return "names have 1-32 characters: letters, digits, '-', '_', '.'";
    case CKR_ARGUMENTS_BAD: return "bad argument";
    default: return NULL;
    }
}

int fail(const char *what, CK_RV rv)
{
    const char *why = explain(rv);
    if (why)
        fprintf(stderr, "%s: %s: %s (%s)\n", p11app_prog, what, why, ckr_name(rv));
    else
        fprintf(stderr, "%s: %s: %s\n", p11app_prog, what, ckr_name(rv));
    return 1;
}

int fail_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    p11app_vfail(fmt, ap);
    va_end(ap);
    return 1;
}

static int read_tty(const char *prompt, char *buf, size_t cap, bool echo)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct termios old, raw;
    bool restore = false;
    if (!echo && tcgetattr(fd, &old) == 0) {
        raw = old;
        raw.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
        raw.c_lflag |= ICANON;
        restore = tcsetattr(fd, TCSAFLUSH, &raw) == 0;
    }
    if (write(fd, prompt, strlen(prompt)) < 0) {
        close(fd);
        return -1;
    }
    size_t n = 0;
    char c;
    int rc = 0;
    while (read(fd, &c, 1) == 1 && c != '\n') {
        if (n + 1 < cap)
            buf[n++] = c;
    }
    buf[n] = '\0';
    if (restore) {
        tcsetattr(fd, TCSAFLUSH, &old);
        if (write(fd, "\n", 1) < 0)
            rc = -1;
    }
    close(fd);
    return rc;
}

int get_so_pin(tool_t *t, char *buf, size_t cap, bool confirm_it)
{
    if (t->so_pin) {
        snprintf(buf, cap, "%s", t->so_pin);
        return 0;
    }
    if (t->so_pin_file) {
        FILE *f = fopen(t->so_pin_file, "re");
        if (!f)
            return fail_msg("cannot read %s: %s", t->so_pin_file, strerror(errno));
        if (!fgets(buf, (int)cap, f))
            buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
        return 0;
    }
    const char *env = getenv("SOFTFM_SO_PIN");
    if (env) {
        snprintf(buf, cap, "%s", env);
        return 0;
    }
    if (read_tty("HSM SO PIN: ", buf, cap, false))
        return fail_msg("no HSM SO PIN: use --so-pin-file, SOFTFM_SO_PIN or a terminal");
    if (confirm_it) {
        char again[256];
        if (read_tty("HSM SO PIN again: ", again, sizeof again, false) || strcmp(buf, again)) {
            secure_zero(again, sizeof again);
            return fail_msg("the PINs differ");
        }
        secure_zero(again, sizeof again);
    }
    return 0;
}

bool confirm(const char *question)
{
    char answer[16];
    char prompt[256];
    snprintf(prompt, sizeof prompt, "%s Type 'yes' to go on: ", question);
    if (read_tty(prompt, answer, sizeof answer, true))
        return false;
    return !strcmp(answer, "yes");
}

void wire_str(rbuf_t *r, char *buf, size_t cap)
{
    size_t n;
    const uint8_t *p = rb_bytes(r, &n);
    if (!p || n >= cap)
        n = 0;
    if (n)
        memcpy(buf, p, n);
    buf[n] = '\0';
}

CK_RV admin_begin(tool_t *t, uint32_t op, client_conn_t **k, wbuf_t **w)
{
    if (!t->client && !(t->client = client_new(t->socket)))
        return CKR_HOST_MEMORY;
    return client_begin(t->client, op, k, w);
}

CK_RV so_begin(tool_t *t, uint32_t op, const char *name, bool new_pin, client_conn_t **k,
               wbuf_t **w)
{
    char pin[256];
    if (get_so_pin(t, pin, sizeof pin, new_pin))
        return CKR_CANCEL;
    CK_RV rv = admin_begin(t, op, k, w);
    if (rv == CKR_OK) {
        wb_bytes(*w, pin, strlen(pin));
        if (name)
            wb_bytes(*w, name, strlen(name));
    }
    secure_zero(pin, sizeof pin);
    return rv;
}

CK_RV admin_send(tool_t *t, client_conn_t *k, rbuf_t *r)
{
    CK_RV status;
    CK_RV rv = client_call(t->client, k, &status, r);
    return rv ? rv : status;
}

CK_RV p11_ready(tool_t *t)
{
    if (t->p11_ready)
        return CKR_OK;
    setenv("SOFTFM_SOCKET", t->socket, 1);
    CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
    CK_RV rv = C_Initialize(&args);
    if (rv == CKR_OK)
        t->p11_ready = true;
    return rv;
}
