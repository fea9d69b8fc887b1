/*
 * softfm fm: load, status, delete and trace of FMs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define PIN_MAX 256
#define IMAGE_MAX (16u * 1024u * 1024u)

static const char *state_name(uint32_t s)
{
    return s == 1 ? "running" : s == 2 ? "failed" : s == 3 ? "waiting" : "stopped";
}

typedef struct fm_row {
    char name[17], manufacturer[33], why[161];
    uint32_t number, state, startup, restarts;
    uint8_t major, minor, unsigned_image;
    uint64_t serial, built;
    uint8_t fp[32];
} fm_row_t;

static void read_row(rbuf_t *r, fm_row_t *f)
{
    wire_str(r, f->name, sizeof f->name);
    f->number = rb_u32(r);
    f->major = rb_u8(r);
    f->minor = rb_u8(r);
    wire_str(r, f->manufacturer, sizeof f->manufacturer);
    f->serial = rb_u64(r);
    f->built = rb_u64(r);
    const uint8_t *fp = rb_raw(r, sizeof f->fp);
    if (fp)
        memcpy(f->fp, fp, sizeof f->fp);
    f->state = rb_u32(r);
    f->startup = rb_u32(r);
    f->restarts = rb_u32(r);
    f->unsigned_image = rb_u8(r);
    wire_str(r, f->why, sizeof f->why);
}

static void print_row(const fm_row_t *f, bool header)
{
    if (header)
        printf("%-16s %-6s %-7s %-20s %-20s %-16s %-8s %-8s %s\n", "NAME", "NUMBER", "VERSION",
               "MANUFACTURER", "BUILT", "FINGERPRINT", "STATUS", "STARTUP", "RESTARTS");
    char built[32] = "-";
    if (f->built) {
        time_t t = (time_t)f->built;
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(built, sizeof built, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    char fp[17];
    for (int i = 0; i < 8; i++)
        snprintf(fp + 2 * i, 3, "%02x", f->fp[i]);
    char startup[16];
    snprintf(startup, sizeof startup, "0x%x", f->startup);
    printf("%-16s 0x%04x %u.%-5u %-20s %-20s %-16s %-8s %-8s %u\n", f->name, f->number,
           f->major, f->minor, f->manufacturer, built, fp, state_name(f->state), startup,
           f->restarts);
    if (f->why[0])
        printf("  %s: %s\n", f->name, f->why);
}

static int fm_load(tool_t *t, int argc, char **argv)
{
    const char *file = NULL;
    bool dev = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dev"))
            dev = true;
        else if (!file && argv[i][0] != '-')
            file = argv[i];
        else
            return fail_msg("usage: softfm fm load --dev FILE"), 2;
    }
    if (!file)
        return fail_msg("usage: softfm fm load --dev FILE"), 2;
    if (!dev)
        return fail_msg("fm load: signed images come with ctfm; give --dev to load an "
                        "unsigned development image"), 2;
    FILE *f = fopen(file, "rb");
    if (!f)
        return fail_msg("fm load: cannot open %s: %s", file, strerror(errno));
    uint8_t *img = malloc(IMAGE_MAX);
    size_t n = img ? fread(img, 1, IMAGE_MAX, f) : 0;
    bool too_big = img && n == IMAGE_MAX && fgetc(f) != EOF;
    fclose(f);
    if (!img || too_big) {
        free(img);
        return fail_msg("fm load: %s is larger than %u bytes", file, IMAGE_MAX);
    }
    char pin[PIN_MAX];
    if (get_so_pin(t, pin, sizeof pin, false)) {
        free(img);
        return 1;
    }
    client_conn_t *k = NULL;
    wbuf_t *w;
    rbuf_t r;
    CK_RV rv = admin_begin(t, OP_ADMIN_FM_LOAD, &k, &w);
    if (rv == CKR_OK) {
        wb_bytes(w, pin, strlen(pin));
        wb_u8(w, 1);
        wb_bytes(w, img, n);
        rv = admin_send(t, k, &r);
    }
    secure_zero(pin, sizeof pin);
    free(img);
    int code = 0;
    if (rv == SFM_R_BAD_IMAGE || rv == SFM_R_POLICY || rv == SFM_R_EXISTS) {
        char why[256];
        wire_str(&r, why, sizeof why);
        code = fail_msg("fm load: %s: %s", file, why);
    } else if (rv) {
        code = fail("fm load", rv);
    } else {
        fm_row_t row;
        read_row(&r, &row);
        if (row.state == 1)
            printf("FM %s loaded as number 0x%04x and running\n", row.name, row.number);
        else if (row.state == 3)
            printf("FM %s loaded as number 0x%04x; it starts when the SMFS is activated "
                   "(softfm smfs activate)\n", row.name, row.number);
        else
            code = fail_msg("fm load: FM %s loaded as number 0x%04x but not running: %s",
                            row.name, row.number, row.why);
    }
    client_end(t->client, k);
    return code;
}

static int fm_status(tool_t *t)
{
    client_conn_t *k = NULL;
    wbuf_t *w;
    rbuf_t r;
    CK_RV rv = admin_begin(t, OP_ADMIN_FM_STATUS, &k, &w);
    if (rv == CKR_OK)
        rv = admin_send(t, k, &r);
    if (rv) {
        client_end(t->client, k);
        return fail("fm status", rv);
    }
    uint32_t n = rb_u32(&r);
    if (n == 0)
        printf("no FMs loaded\n");
    for (uint32_t i = 0; i < n && !r.err; i++) {
        fm_row_t row;
        read_row(&r, &row);
        print_row(&row, i == 0);
    }
    client_end(t->client, k);
    return 0;
}

static int fm_delete(tool_t *t, const char *key)
{
    char pin[PIN_MAX];
    if (get_so_pin(t, pin, sizeof pin, false))
        return 1;
    client_conn_t *k = NULL;
    wbuf_t *w;
    rbuf_t r;
    CK_RV rv = admin_begin(t, OP_ADMIN_FM_DELETE, &k, &w);
    if (rv == CKR_OK) {
        wb_bytes(w, pin, strlen(pin));
        wb_bytes(w, key, strlen(key));
        rv = admin_send(t, k, &r);
    }
    secure_zero(pin, sizeof pin);
    client_end(t->client, k);
    if (rv == SFM_R_NOT_FOUND)
        return fail_msg("fm delete: no FM %s", key);
    if (rv)
        return fail("fm delete", rv);
    printf("FM %s deleted\n", key);
    return 0;
}

static int fm_trace(tool_t *t, const char *name, bool follow)
{
    uint64_t off = 0;
    for (;;) {
        client_conn_t *k = NULL;
        wbuf_t *w;
        rbuf_t r;
        CK_RV rv = admin_begin(t, OP_ADMIN_FM_TRACE, &k, &w);
        if (rv == CKR_OK) {
            wb_bytes(w, name, strlen(name));
            wb_u64(w, off);
            rv = admin_send(t, k, &r);
        }
        if (rv) {
            client_end(t->client, k);
            if (rv == SFM_R_NOT_FOUND)
                return fail_msg("fm trace: no FM %s", name);
            return fail("fm trace", rv);
        }
        uint64_t next = rb_u64(&r);
        size_t n;
        const uint8_t *p = rb_bytes(&r, &n);
        if (p && n)
            fwrite(p, 1, n, stdout);
        fflush(stdout);
        client_end(t->client, k);
        if (n && next > off) {
            off = next;
            continue;
        }
        if (!follow)
            return 0;
        usleep(200000);
    }
}

int cmd_fm(tool_t *t, int argc, char **argv)
{
    if (argc < 1)
        return fail_msg("usage: softfm fm load --dev FILE | status | delete NAME | trace NAME"), 2;
    const char *sub = argv[0];
    if (!strcmp(sub, "load"))
        return fm_load(t, argc, argv);
    if (!strcmp(sub, "status"))
        return argc == 1 ? fm_status(t) : (fail_msg("usage: softfm fm status"), 2);
    if (!strcmp(sub, "delete"))
        return argc == 2 ? fm_delete(t, argv[1]) : (fail_msg("usage: softfm fm delete NAME"), 2);
    if (!strcmp(sub, "trace")) {
        bool follow = argc == 3 && !strcmp(argv[2], "--follow");
        if (argc != 2 && !follow)
            return fail_msg("usage: softfm fm trace NAME [--follow]"), 2;
        return fm_trace(t, argv[1], follow);
    }
    return fail_msg("fm: unknown subcommand '%s'", sub), 2;
}
