/*
 * softfm fm: load, status, delete and trace of FMs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "p11app.h"
#include "tool.h"

#define IMAGE_MAX SFM_FM_IMAGE_MAX

static const char *state_name(uint32_t s)
{
    return s == 1 ? "running" : s == 2 ? "failed" : s == 3 ? "waiting" : "stopped";
}

static const char *build_name(uint8_t b)
{
    return b == 0 ? "DEBUG" : b == 1 ? "RELEASE" : "unsigned (development)";
}

typedef struct fm_row {
    char name[17], manufacturer[33], why[161], signer_label[129];
    uint32_t number, state, startup, restarts, image_len, elf_len;
    uint8_t major, minor, unsigned_image, build;
    uint64_t serial, built;
    uint8_t fp[32], signer[32];
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
    f->build = rb_u8(r);
    const uint8_t *sg = rb_raw(r, sizeof f->signer);
    if (sg)
        memcpy(f->signer, sg, sizeof f->signer);
    wire_str(r, f->signer_label, sizeof f->signer_label);
    f->image_len = rb_u32(r);
    f->elf_len = rb_u32(r);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* One FM, as ctfm query shows it on the vendor's HSMs. */
static void print_row(const fm_row_t *f)
{
    char built[32] = "-";
    if (f->built) {
        time_t t = (time_t)f->built;
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(built, sizeof built, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    char fp[65], signer[17];
    hex(f->fp, sizeof f->fp, fp);
    hex(f->signer, 8, signer);
    printf("FM %s\n", f->name);
    printf("  FM id          0x%04x\n", f->number);
    printf("  version        %u.%u\n", f->major, f->minor);
    printf("  manufacturer   %s\n", f->manufacturer);
    printf("  build time     %s\n", built);
    printf("  build type     %s\n", build_name(f->build));
    if (f->build != 2)
        printf("  signer         %s (certificate SHA-256 %s...)\n",
               f->signer_label[0] ? f->signer_label : "(not in the Admin Token)", signer);
    printf("  fingerprint    %s\n", fp);
    printf("  size           image %u bytes, object %u bytes\n", f->image_len, f->elf_len);
    printf("  status         %s\n", state_name(f->state));
    printf("  startup status 0x%x, restarts %u\n", f->startup, f->restarts);
    if (f->why[0])
        printf("  reason         %s\n", f->why);
}

static uint8_t *read_file(const char *file, size_t *n)
{
    bool too_big;
    uint8_t *img = p11app_read_file(file, IMAGE_MAX, n, &too_big);
    if (!img && too_big)
        fail_msg("%s is larger than an FM image may be (%u bytes)", file, IMAGE_MAX);
    else if (!img)
        fail_msg("cannot read %s: %s", file, strerror(errno));
    return img;
}

/* The SHA-256 of a certificate file's DER (PEM or DER). */
static int cert_sha256(const char *file, uint8_t out[32])
{
    X509 *x = p11app_read_cert(file);
    unsigned int len = 0;
    int rc = x && X509_digest(x, EVP_sha256(), out, &len) == 1 && len == 32 ? 0 : 1;
    X509_free(x);
    if (rc)
        fail_msg("%s is not an X.509 certificate (PEM or DER)", file);
    return rc;
}

int fm_cmd_load(tool_t *t, const char *file, const fm_load_opts_t *o)
{
    uint8_t want[32];
    if (o->cert_file && cert_sha256(o->cert_file, want))
        return 1;
    size_t n;
    uint8_t *img = read_file(file, &n);
    if (!img)
        return 1;
    client_conn_t *k = NULL;
    wbuf_t *w;
    rbuf_t r;
    CK_RV rv = so_begin(t, OP_ADMIN_FM_LOAD, NULL, false, &k, &w);
    if (rv == CKR_CANCEL) {
        free(img);
        return 1;
    }
    if (rv == CKR_OK) {
        wb_u8(w, (uint8_t)(o->dev ? 1 : o->cert_file ? 2 : o->cert_label ? 4 : 0));
        wb_bytes(w, img, n);
        if (o->cert_file && !o->dev)
            wb_raw(w, want, sizeof want);
        else if (o->cert_label && !o->dev)
            wb_bytes(w, o->cert_label, strlen(o->cert_label));
        rv = admin_send(t, k, &r);
    }
    free(img);
    int code = 0;
    if (rv == SFM_R_BAD_IMAGE || rv == SFM_R_POLICY || rv == SFM_R_EXISTS) {
        char why[256];
        wire_str(&r, why, sizeof why);
        code = fail_msg("fm load: %s refused: %s", file, why);
    } else if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE) {
        code = fail_msg("fm load: %s not loaded: wrong HSM SO PIN", file);
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

int fm_cmd_status(tool_t *t, long number)
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
    uint32_t n = rb_u32(&r), shown = 0;
    for (uint32_t i = 0; i < n && !r.err; i++) {
        fm_row_t row;
        read_row(&r, &row);
        if (r.err || (number >= 0 && row.number != (uint32_t)number))
            continue;
        print_row(&row);
        shown++;
    }
    client_end(t->client, k);
    if (number >= 0 && !shown)
        return fail_msg("no FM 0x%04lx is loaded", (unsigned long)number);
    if (!shown)
        printf("no FMs loaded\n");
    return 0;
}

int fm_cmd_delete(tool_t *t, const char *key)
{
    client_conn_t *k = NULL;
    wbuf_t *w;
    rbuf_t r;
    CK_RV rv = so_begin(t, OP_ADMIN_FM_DELETE, key, false, &k, &w);
    if (rv == CKR_CANCEL)
        return 1;
    if (rv == CKR_OK)
        rv = admin_send(t, k, &r);
    client_end(t->client, k);
    if (rv == SFM_R_NOT_FOUND)
        return fail_msg("fm delete: no FM %s", key);
    if (rv)
        return fail("fm delete", rv);
    printf("FM %s deleted\n", key);
    return 0;
}

static int fm_load(tool_t *t, int argc, char **argv)
{
    static const char usage[] = "usage: softfm fm load [--dev] [--cert FILE | --cert-label LABEL] "
                                "FILE";
    fm_load_opts_t o = { 0 };
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dev"))
            o.dev = true;
        else if (!strcmp(argv[i], "--cert") && i + 1 < argc)
            o.cert_file = argv[++i];
        else if (!strcmp(argv[i], "--cert-label") && i + 1 < argc)
            o.cert_label = argv[++i];
        else if (!file && argv[i][0] != '-')
            file = argv[i];
        else
            return fail_msg("%s", usage), 2;
    }
    if (!file || (o.dev && (o.cert_file || o.cert_label)) || (o.cert_file && o.cert_label))
        return fail_msg("%s", usage), 2;
    return fm_cmd_load(t, file, &o);
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
        return fail_msg("usage: softfm fm load [--dev] FILE | status | delete NAME | trace NAME"),
               2;
    const char *sub = argv[0];
    if (!strcmp(sub, "load"))
        return fm_load(t, argc, argv);
    if (!strcmp(sub, "status"))
        return argc == 1 ? fm_cmd_status(t, -1) : (fail_msg("usage: softfm fm status"), 2);
    if (!strcmp(sub, "delete"))
        return argc == 2 ? fm_cmd_delete(t, argv[1])
                         : (fail_msg("usage: softfm fm delete NAME|NUMBER"), 2);
    if (!strcmp(sub, "trace")) {
        bool follow = argc == 3 && !strcmp(argv[2], "--follow");
        if (argc != 2 && !follow)
            return fail_msg("usage: softfm fm trace NAME [--follow]"), 2;
        return fm_trace(t, argv[1], follow);
    }
    return fail_msg("fm: unknown subcommand '%s'", sub), 2;
}
