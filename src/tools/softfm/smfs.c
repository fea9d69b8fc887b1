/*
 * softfm smfs: activate, status, backup, restore.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define BACKUP_MAX (4u * 1024u * 1024u)

/* An SMFS request with the SO PIN and, for a restore, the backup. */
static CK_RV so_call(tool_t *t, uint32_t op, const uint8_t *blob, size_t n, client_conn_t **k,
                     rbuf_t *r)
{
    wbuf_t *w;
    CK_RV rv = so_begin(t, op, NULL, false, k, &w);
    if (rv == CKR_OK) {
        if (op == OP_ADMIN_SMFS_RESTORE)
            wb_bytes(w, blob, n);
        rv = admin_send(t, *k, r);
    }
    return rv;
}

static int smfs_status(tool_t *t)
{
    client_conn_t *k = NULL;
    wbuf_t *w;
    rbuf_t r;
    CK_RV rv = admin_begin(t, OP_ADMIN_SMFS_STATUS, &k, &w);
    if (rv == CKR_OK)
        rv = admin_send(t, k, &r);
    if (rv) {
        client_end(t->client, k);
        return fail("smfs status", rv);
    }
    uint8_t active = rb_u8(&r);
    uint64_t cap = rb_u64(&r), used = rb_u64(&r);
    client_end(t->client, k);
    printf("SMFS %s; %llu of %llu bytes used\n", active ? "active" : "not active",
           (unsigned long long)used, (unsigned long long)cap);
    return 0;
}

static int smfs_backup(tool_t *t, const char *out)
{
    client_conn_t *k = NULL;
    rbuf_t r;
    CK_RV rv = so_call(t, OP_ADMIN_SMFS_BACKUP, NULL, 0, &k, &r);
    int code = 0;
    if (rv == CKR_CANCEL) {
        code = 1;
    } else if (rv) {
        code = fail("smfs backup", rv);
    } else {
        size_t n;
        const uint8_t *p = rb_bytes(&r, &n);
        FILE *f = p ? fopen(out, "wb") : NULL;
        if (!f || fwrite(p, 1, n, f) != n || fclose(f))
            code = fail_msg("smfs backup: cannot write %s: %s", out, strerror(errno));
        else
            printf("SMFS backed up to %s (%zu bytes)\n", out, n);
    }
    client_end(t->client, k);
    return code;
}

static int smfs_restore(tool_t *t, const char *in)
{
    FILE *f = fopen(in, "rb");
    if (!f)
        return fail_msg("smfs restore: cannot open %s: %s", in, strerror(errno));
    uint8_t *blob = malloc(BACKUP_MAX);
    size_t n = blob ? fread(blob, 1, BACKUP_MAX, f) : 0;
    fclose(f);
    if (!blob)
        return fail_msg("smfs restore: out of memory");
    client_conn_t *k = NULL;
    rbuf_t r;
    CK_RV rv = so_call(t, OP_ADMIN_SMFS_RESTORE, blob, n, &k, &r);
    free(blob);
    int code = 0;
    if (rv == CKR_CANCEL) {
        code = 1;
    } else if (rv == SFM_R_BAD_IMAGE) {
        char why[128];
        wire_str(&r, why, sizeof why);
        code = fail_msg("smfs restore: %s: %s", in, why);
    } else if (rv) {
        code = fail("smfs restore", rv);
    } else {
        printf("SMFS restored from %s; FMs started again\n", in);
    }
    client_end(t->client, k);
    return code;
}

int cmd_smfs(tool_t *t, int argc, char **argv)
{
    const char *usage = "usage: softfm smfs activate | status | backup --out FILE | "
                        "restore --in FILE";
    if (argc < 1)
        return fail_msg("%s", usage), 2;
    if (!strcmp(argv[0], "status") && argc == 1)
        return smfs_status(t);
    if (!strcmp(argv[0], "activate") && argc == 1) {
        client_conn_t *k = NULL;
        rbuf_t r;
        CK_RV rv = so_call(t, OP_ADMIN_SMFS_ACTIVATE, NULL, 0, &k, &r);
        client_end(t->client, k);
        if (rv == CKR_CANCEL)
            return 1;
        if (rv)
            return fail("smfs activate", rv);
        printf("SMFS active; FMs started\n");
        return 0;
    }
    if (!strcmp(argv[0], "backup") && argc == 3 && !strcmp(argv[1], "--out"))
        return smfs_backup(t, argv[2]);
    if (!strcmp(argv[0], "restore") && argc == 3 && !strcmp(argv[1], "--in"))
        return smfs_restore(t, argv[2]);
    return fail_msg("%s", usage), 2;
}
