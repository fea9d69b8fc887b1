/*
 * The SMFS's entries at rest: one row per file or directory of an FM's
 * tree, each file's contents sealed (AES-256-GCM) under the HSM master key
 * with the FM and the path as associated data, so a blob moved to another
 * FM or path does not open. A change is one SQLite statement (or one
 * transaction), durable when it returns: a crash leaves the old contents or
 * the new, never a mix.
 *
 * Backups: every entry of every FM, serialised and sealed under a key
 * derived from the master key; only an HSM with the same master key can
 * restore one.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common.h"
#include "internal.h"

#define BACKUP_MAGIC "SFMSMFS1"

/* "smfs" || fm || 0 || path */
static size_t entry_aad(uint8_t *aad, size_t cap, const char *fm, const char *path)
{
    size_t f = strlen(fm), p = strlen(path);
    if (4 + f + 1 + p > cap)
        return 0;
    memcpy(aad, "smfs", 4);
    memcpy(aad + 4, fm, f + 1);
    memcpy(aad + 5 + f, path, p);
    return 4 + f + 1 + p;
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Seal and write one entry; the store's lock held. */
static int put_locked(store_t *s, const char *fm, const char *path, int is_dir, uint32_t size,
                      const uint8_t *data, size_t len)
{
    const uint8_t *master;
    sqlite3 *db = store_db_locked(s, &master);
    uint8_t aad[160];
    size_t an = entry_aad(aad, sizeof aad, fm, path);
    uint8_t *blob = malloc(len + SEAL_OVERHEAD);
    int rc = -1;
    sqlite3_stmt *st = NULL;
    if (!an || !blob || seal(master, aad, an, data, len, blob))
        goto out;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO smfs(fm, path, is_dir, size, blob) "
                           "VALUES (?1,?2,?3,?4,?5)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, fm, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, is_dir);
    sqlite3_bind_int64(st, 4, size);
    sqlite3_bind_blob(st, 5, blob, (int)(len + SEAL_OVERHEAD), SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
out:
    sqlite3_finalize(st);
    free(blob);
    return rc;
}

int store_smfs_put(store_t *s, const char *fm, const char *path, int is_dir, uint32_t size,
                   const uint8_t *data, size_t len)
{
    store_lock(s);
    int rc = put_locked(s, fm, path, is_dir, size, data, len);
    store_unlock(s);
    return rc;
}

/* Read and open one entry; the store's lock held. 1 when there is none. */
static int get_locked(store_t *s, const char *fm, const char *path, store_smfs_t *e,
                      uint8_t **data)
{
    const uint8_t *master;
    sqlite3 *db = store_db_locked(s, &master);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (data)
        *data = NULL;
    if (sqlite3_prepare_v2(db, "SELECT is_dir, size, blob FROM smfs WHERE fm = ?1 AND path = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, fm, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        rc = 1;
        goto out;
    }
    if (r != SQLITE_ROW)
        goto out;
    e->is_dir = sqlite3_column_int(st, 0);
    e->size = (uint32_t)sqlite3_column_int64(st, 1);
    snprintf(e->path, sizeof e->path, "%s", path);
    if (!data) {
        rc = 0;
        goto out;
    }
    const uint8_t *blob = sqlite3_column_blob(st, 2);
    size_t n = (size_t)sqlite3_column_bytes(st, 2);
    uint8_t aad[160];
    size_t an = entry_aad(aad, sizeof aad, fm, path);
    if (!blob || n < SEAL_OVERHEAD || !an || !(*data = malloc(n - SEAL_OVERHEAD + 1)))
        goto out;
    if (unseal(master, aad, an, blob, n, *data)) {
        log_err("SMFS entry %s of FM %s does not open", path, fm);
        free(*data);
        *data = NULL;
        goto out;
    }
    e->len = n - SEAL_OVERHEAD;
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

int store_smfs_get(store_t *s, const char *fm, const char *path, store_smfs_t *e, uint8_t **data)
{
    store_lock(s);
    int rc = get_locked(s, fm, path, e, data);
    store_unlock(s);
    return rc;
}

int store_smfs_delete(store_t *s, const char *fm, const char *path)
{
    const uint8_t *master;
    store_lock(s);
    sqlite3 *db = store_db_locked(s, &master);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "DELETE FROM smfs WHERE fm = ?1 AND path = ?2", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, fm, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    store_unlock(s);
    return rc;
}

int store_smfs_rename(store_t *s, const char *fm, const char *from, const char *to)
{
    const uint8_t *master;
    store_lock(s);
    sqlite3 *db = store_db_locked(s, &master);
    store_smfs_t e;
    uint8_t *data = NULL;
    int rc = exec(db, "BEGIN IMMEDIATE");
    if (rc == 0)
        rc = get_locked(s, fm, from, &e, &data) ? -1 : 0;
    if (rc == 0)
        rc = put_locked(s, fm, to, e.is_dir, e.size, data, e.len);
    if (rc == 0) {
        sqlite3_stmt *st = NULL;
        rc = -1;
        if (sqlite3_prepare_v2(db, "DELETE FROM smfs WHERE fm = ?1 AND path = ?2", -1, &st,
                               NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, fm, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        }
        sqlite3_finalize(st);
    }
    rc = exec(db, rc == 0 ? "COMMIT" : "ROLLBACK") ? -1 : rc;
    if (data) {
        secure_zero(data, e.len);
        free(data);
    }
    store_unlock(s);
    return rc;
}

int store_smfs_list(store_t *s, const char *fm, int (*cb)(void *ctx, const store_smfs_t *e),
                    void *ctx)
{
    const uint8_t *master;
    store_lock(s);
    sqlite3 *db = store_db_locked(s, &master);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db,
                           fm ? "SELECT path, is_dir, size FROM smfs WHERE fm = ?1 ORDER BY path"
                              : "SELECT path, is_dir, size FROM smfs ORDER BY fm, path",
                           -1, &st, NULL) == SQLITE_OK) {
        if (fm)
            sqlite3_bind_text(st, 1, fm, -1, SQLITE_STATIC);
        rc = 0;
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            store_smfs_t e;
            memset(&e, 0, sizeof e);
            const unsigned char *p = sqlite3_column_text(st, 0);
            snprintf(e.path, sizeof e.path, "%s", p ? (const char *)p : "");
            e.is_dir = sqlite3_column_int(st, 1);
            e.size = (uint32_t)sqlite3_column_int64(st, 2);
            rc = cb(ctx, &e);
        }
    }
    sqlite3_finalize(st);
    store_unlock(s);
    return rc;
}

/* The backup key: HMAC-SHA256(master, label). */
static int backup_key(const uint8_t *master, uint8_t key[SEAL_KEY_LEN])
{
    static const char label[] = "softfm SMFS backup v1";
    unsigned int n = 0;
    return HMAC(EVP_sha256(), master, SEAL_KEY_LEN, (const uint8_t *)label, sizeof label - 1, key,
                &n) && n == SEAL_KEY_LEN ? 0 : -1;
}

int store_smfs_export(store_t *s, uint8_t **out, size_t *out_len)
{
    const uint8_t *master;
    *out = NULL;
    store_lock(s);
    sqlite3 *db = store_db_locked(s, &master);
    sqlite3_stmt *st = NULL;
    wbuf_t w;
    wb_init(&w);
    uint32_t count = 0;
    size_t count_at = w.len;
    wb_u32(&w, 0);
    int rc = sqlite3_prepare_v2(db, "SELECT fm, path FROM smfs ORDER BY fm, path", -1, &st,
                                NULL) == SQLITE_OK ? 0 : -1;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        char fm[64], path[128];
        snprintf(fm, sizeof fm, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(path, sizeof path, "%s", (const char *)sqlite3_column_text(st, 1));
        store_smfs_t e;
        uint8_t *data = NULL;
        if (get_locked(s, fm, path, &e, &data)) {
            rc = -1;
            break;
        }
        wb_bytes(&w, fm, strlen(fm));
        wb_bytes(&w, path, strlen(path));
        wb_u8(&w, (uint8_t)e.is_dir);
        wb_u32(&w, e.size);
        wb_bytes(&w, data, e.len);
        secure_zero(data, e.len);
        free(data);
        count++;
    }
    sqlite3_finalize(st);
    uint8_t key[SEAL_KEY_LEN];
    if (rc == 0 && !w.err && backup_key(master, key) == 0) {
        be32_put(w.p + count_at, count);
        size_t n;
        const uint8_t *plain = wb_payload(&w, &n);
        size_t total = sizeof BACKUP_MAGIC - 1 + n + SEAL_OVERHEAD;
        if ((*out = malloc(total))) {
            memcpy(*out, BACKUP_MAGIC, sizeof BACKUP_MAGIC - 1);
            if (seal(key, (const uint8_t *)BACKUP_MAGIC, sizeof BACKUP_MAGIC - 1, plain, n,
                     *out + sizeof BACKUP_MAGIC - 1) == 0) {
                *out_len = total;
            } else {
                free(*out);
                *out = NULL;
            }
        }
    }
    secure_zero(key, sizeof key);
    if (w.p)
        secure_zero(w.p, w.len);
    wb_free(&w);
    store_unlock(s);
    return *out ? 0 : -1;
}

int store_smfs_import(store_t *s, const uint8_t *blob, size_t len)
{
    const size_t m = sizeof BACKUP_MAGIC - 1;
    if (len < m + SEAL_OVERHEAD || memcmp(blob, BACKUP_MAGIC, m))
        return 1;
    const uint8_t *master;
    store_lock(s);
    sqlite3 *db = store_db_locked(s, &master);
    uint8_t key[SEAL_KEY_LEN];
    uint8_t *plain = malloc(len - m - SEAL_OVERHEAD + 1);
    int rc = 1; /* not ours, or damaged */
    if (!plain || backup_key(master, key) ||
        unseal(key, (const uint8_t *)BACKUP_MAGIC, m, blob + m, len - m, plain))
        goto out;
    size_t n = len - m - SEAL_OVERHEAD;
    rbuf_t r;
    rb_init(&r, plain, n);
    uint32_t count = rb_u32(&r);
    if (r.err || exec(db, "BEGIN IMMEDIATE")) {
        rc = -1;
        goto out;
    }
    rc = exec(db, "DELETE FROM smfs");
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        size_t fl, pl, dl;
        const uint8_t *fm = rb_bytes(&r, &fl), *path = rb_bytes(&r, &pl);
        uint8_t is_dir = rb_u8(&r);
        uint32_t size = rb_u32(&r);
        const uint8_t *data = rb_bytes(&r, &dl);
        char f[64], p[128];
        if (r.err || fl >= sizeof f || pl >= sizeof p) {
            rc = 1;
            break;
        }
        memcpy(f, fm, fl);
        f[fl] = '\0';
        memcpy(p, path, pl);
        p[pl] = '\0';
        rc = put_locked(s, f, p, is_dir, size, data, dl);
    }
    if (rc == 0 && !rb_done(&r))
        rc = 1;
    if (exec(db, rc == 0 ? "COMMIT" : "ROLLBACK") && rc == 0)
        rc = -1;
out:
    secure_zero(key, sizeof key);
    if (plain) {
        secure_zero(plain, len - m - SEAL_OVERHEAD);
        free(plain);
    }
    store_unlock(s);
    return rc;
}
