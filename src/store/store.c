/*
 * The store: what the HSM keeps on disk and how it keeps it safe.
 *
 * Threat: someone who reads the data directory (a backup, a stolen disk, a
 * core of another process) must learn no key value, no private object and no
 * PIN. Hence: the master key lives in its own file (mode 0600); each
 * partition has a random key sealed under it; each object is one blob sealed
 * under its partition's key with its handle and partition as associated data,
 * so blobs cannot be swapped between rows unnoticed. PINs arrive here only as
 * salted slow hashes made by the HSM core.
 *
 * Durability: WAL journal, synchronous=FULL; one connection, one mutex, and
 * prepared statements kept for the life of the store.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common.h"
#include "seal.h"

enum stmt_id {
    ST_META_GET, ST_META_SET, ST_TOK_INSERT, ST_TOK_UPDATE, ST_TOK_DELETE,
    ST_TOK_ALL, ST_OBJ_PUT, ST_OBJ_DEL, ST_OBJ_DEL_TOK, ST_OBJ_LOAD, ST_OBJ_MAX,
    ST_FM_PUT, ST_FM_DEL, ST_FM_ALL, ST_FM_PATCH_SET, ST_FM_PATCH_DEL,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_META_GET] = "SELECT v FROM meta WHERE k = ?1",
    [ST_META_SET] = "INSERT OR REPLACE INTO meta(k, v) VALUES (?1, ?2)",
    [ST_TOK_INSERT] = "INSERT INTO tokens(id, name, initialized, label, serial, so_pin, "
                      "user_pin, so_fail, user_fail, key) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
    [ST_TOK_UPDATE] = "UPDATE tokens SET name=?2, initialized=?3, label=?4, serial=?5, "
                      "so_pin=?6, user_pin=?7, so_fail=?8, user_fail=?9 WHERE id=?1",
    [ST_TOK_DELETE] = "DELETE FROM tokens WHERE id = ?1",
    [ST_TOK_ALL] = "SELECT id, name, initialized, label, serial, so_pin, user_pin, so_fail, "
                   "user_fail, key FROM tokens ORDER BY id",
    [ST_OBJ_PUT] = "INSERT OR REPLACE INTO objects(handle, token_id, blob) VALUES (?1,?2,?3)",
    [ST_OBJ_DEL] = "DELETE FROM objects WHERE handle = ?1",
    [ST_OBJ_DEL_TOK] = "DELETE FROM objects WHERE token_id = ?1",
    [ST_OBJ_LOAD] = "SELECT handle, blob FROM objects WHERE token_id = ?1 ORDER BY handle",
    [ST_OBJ_MAX] = "SELECT COALESCE(MAX(handle), 0) FROM objects",
    [ST_FM_PUT] = "INSERT INTO fms(name, number, flags, image) VALUES (?1,?2,?3,?4)",
    [ST_FM_DEL] = "DELETE FROM fms WHERE name = ?1",
    [ST_FM_ALL] = "SELECT f.name, f.number, f.flags, f.image, p.bits FROM fms f"
                  " LEFT JOIN fm_patches p ON p.name = f.name ORDER BY f.rowid",
    [ST_FM_PATCH_SET] = "INSERT OR REPLACE INTO fm_patches(name, bits) VALUES (?1,?2)",
    [ST_FM_PATCH_DEL] = "DELETE FROM fm_patches WHERE name = ?1",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tokens(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
    " initialized INTEGER NOT NULL, label BLOB NOT NULL, serial TEXT NOT NULL,"
    " so_pin BLOB NOT NULL, user_pin BLOB NOT NULL, so_fail INTEGER NOT NULL,"
    " user_fail INTEGER NOT NULL, key BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS objects(handle INTEGER PRIMARY KEY, token_id INTEGER NOT NULL,"
    " blob BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS objects_token ON objects(token_id);"
    "CREATE TABLE IF NOT EXISTS fms(name TEXT PRIMARY KEY, number INTEGER NOT NULL,"
    " flags INTEGER NOT NULL, image BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS smfs(fm TEXT NOT NULL, path TEXT NOT NULL,"
    " is_dir INTEGER NOT NULL, size INTEGER NOT NULL, blob BLOB NOT NULL,"
    " PRIMARY KEY(fm, path));"
    "CREATE TABLE IF NOT EXISTS fm_patches(name TEXT PRIMARY KEY, bits BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY, time INTEGER NOT NULL,"
    " who TEXT NOT NULL, event TEXT NOT NULL, mac BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tls_identity(id INTEGER PRIMARY KEY CHECK(id = 1),"
    " key BLOB NOT NULL, cert BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS clients(name TEXT PRIMARY KEY, fp BLOB UNIQUE NOT NULL,"
    " cert BLOB NOT NULL, revoked INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS client_partitions(name TEXT NOT NULL,"
    " token_id INTEGER NOT NULL, PRIMARY KEY(name, token_id));";

struct store {
    pthread_mutex_t lock;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    char *key_path;
    uint8_t master[SEAL_KEY_LEN];
    hmap_t keys;   /* token id -> uint8_t[SEAL_KEY_LEN], the partition keys */
};

sqlite3 *store_db_locked(store_t *s, const uint8_t **master)
{
    *master = s->master;
    return s->db;
}

void store_lock(store_t *s)
{
    pthread_mutex_lock(&s->lock);
}

void store_unlock(store_t *s)
{
    pthread_mutex_unlock(&s->lock);
}

static void free_keys(store_t *s)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&s->keys, &pos, NULL, &v)) {
        secure_zero(v, SEAL_KEY_LEN);
        free(v);
    }
    hmap_free(&s->keys);
}

static int write_key_file(const char *path, const uint8_t key[SEAL_KEY_LEN])
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.new", path) >= sizeof tmp)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, key, SEAL_KEY_LEN);
    int rc = (w == SEAL_KEY_LEN && fsync(fd) == 0) ? 0 : -1;
    close(fd);
    if (rc == 0)
        rc = rename(tmp, path);
    if (rc)
        unlink(tmp);
    return rc;
}

static int read_key_file(const char *path, uint8_t key[SEAL_KEY_LEN])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == SEAL_KEY_LEN &&
        read(fd, key, SEAL_KEY_LEN) == SEAL_KEY_LEN)
        rc = 0;
    if (rc == 0 && (st.st_mode & 077)) {
        log_warn("%s is readable by others; setting mode 0600", path);
        (void)fchmod(fd, 0600);
    }
    close(fd);
    return rc;
}

static int table_empty(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int empty = 1;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM tokens LIMIT 1", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        empty = 0;
    sqlite3_finalize(st);
    return empty;
}

static int load_master(store_t *s)
{
    if (read_key_file(s->key_path, s->master) == 0)
        return 0;
    if (errno != ENOENT) {
        log_err("cannot read the master key %s", s->key_path);
        return -1;
    }
    if (!table_empty(s->db)) {
        log_err("the master key %s is missing but the store holds partitions", s->key_path);
        return -1;
    }
    if (RAND_bytes(s->master, SEAL_KEY_LEN) != 1 || write_key_file(s->key_path, s->master)) {
        log_err("cannot create the master key %s", s->key_path);
        return -1;
    }
    return 0;
}

/* The schema's version lives in SQLite's user_version. A store written by a
   newer softfm is refused rather than misread; older ones are migrated here
   as the schema grows. */
#define SCHEMA_VERSION 6 /* 2: the fms table; 3: the smfs table; 4: the audit table;
                            5: fm_patches; 6: tls_identity, clients, client_partitions */

static int check_version(sqlite3 *db, const char *path)
{
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version < 0)
        return -1;
    if (version > SCHEMA_VERSION) {
        log_err("%s has schema version %d; this softfm knows up to %d", path, version,
                SCHEMA_VERSION);
        return -1;
    }
    if (version < SCHEMA_VERSION) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            return -1;
    }
    return 0;
}

int store_key_file(store_t *s, const char *name, uint8_t key[SEAL_KEY_LEN])
{
    char path[4096];
    const char *slash = strrchr(s->key_path, '/');
    int dl = slash ? (int)(slash - s->key_path) : 1;
    if ((size_t)snprintf(path, sizeof path, "%.*s/%s", dl, slash ? s->key_path : ".", name) >=
        sizeof path)
        return -1;
    if (read_key_file(path, key) == 0)
        return 0;
    if (errno != ENOENT || RAND_bytes(key, SEAL_KEY_LEN) != 1 || write_key_file(path, key)) {
        log_err("cannot read or create %s", path);
        return -1;
    }
    return 0;
}

int store_open(const char *dir, store_t **out)
{
    int rc = -1;
    char path[4096];
    store_t *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    pthread_mutex_init(&s->lock, NULL);
    hmap_init(&s->keys);
    if ((size_t)snprintf(path, sizeof path, "%s/master.key", dir) >= sizeof path)
        goto out;
    s->key_path = strdup(path);
    if (!s->key_path)
        goto out;
    if ((size_t)snprintf(path, sizeof path, "%s/softfm.db", dir) >= sizeof path)
        goto out;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                          SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        log_err("cannot open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "no memory");
        goto out;
    }
    (void)chmod(path, 0600);
    char *err = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                            "PRAGMA secure_delete=ON;", NULL, NULL, &err) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &err) != SQLITE_OK) {
        log_err("cannot set up %s: %s", path, err ? err : "?");
        sqlite3_free(err);
        goto out;
    }
    if (check_version(s->db, path))
        goto out;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &s->st[i], NULL) != SQLITE_OK) {
            log_err("store: %s", sqlite3_errmsg(s->db));
            goto out;
        }
    }
    if (load_master(s))
        goto out;
    rc = 0;
out:
    if (rc) {
        store_close(s);
        s = NULL;
    }
    *out = s;
    return rc;
}

void store_close(store_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free_keys(s);
    secure_zero(s->master, sizeof s->master);
    free(s->key_path);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Take the statement, reset for reuse. Caller holds the lock. */
static sqlite3_stmt *stmt(store_t *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->st[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static int step_done(store_t *s, sqlite3_stmt *st)
{
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        log_err("store write failed: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

int store_wipe(store_t *s)
{
    int rc = -1;
    uint8_t fresh[SEAL_KEY_LEN];
    pthread_mutex_lock(&s->lock);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE; DELETE FROM objects; DELETE FROM tokens;"
                            "DELETE FROM meta; DELETE FROM fms; DELETE FROM smfs;"
                            "DELETE FROM fm_patches; DELETE FROM tls_identity;"
                            "DELETE FROM clients; DELETE FROM client_partitions; COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    /* Old blobs may linger in free pages of the WAL; a new master key makes
       them unreadable even so. */
    (void)sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;", NULL, NULL, NULL);
    free_keys(s);
    if (RAND_bytes(fresh, sizeof fresh) != 1 || write_key_file(s->key_path, fresh))
        goto out;
    memcpy(s->master, fresh, sizeof fresh);
    rc = 0;
out:
    secure_zero(fresh, sizeof fresh);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_meta_get(store_t *s, const char *key, char *buf, size_t cap)
{
    int rc = 1;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = stmt(s, ST_META_GET);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        rc = (v && strlen(v) < cap) ? 0 : -1;
        if (rc == 0)
            strcpy(buf, v);
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_meta_set(store_t *s, const char *key, const char *val)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = stmt(s, ST_META_SET);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, val, -1, SQLITE_STATIC);
    int rc = step_done(s, st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void key_aad(uint8_t aad[14], uint32_t id)
{
    memcpy(aad, "softfm-key", 10);
    be32_put(aad + 10, id);
}

static void bind_token(sqlite3_stmt *st, const store_token_t *t)
{
    sqlite3_bind_int64(st, 1, t->id);
    sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, t->initialized);
    sqlite3_bind_blob(st, 4, t->label, sizeof t->label, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, t->serial, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, t->so_pin, sizeof t->so_pin, SQLITE_STATIC);
    sqlite3_bind_blob(st, 7, t->user_pin, sizeof t->user_pin, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, t->so_fail);
    sqlite3_bind_int64(st, 9, t->user_fail);
}

int store_token_create(store_t *s, store_token_t *t, int want_zero)
{
    int rc = -1;
    uint8_t aad[14];
    uint8_t sealed[SEAL_KEY_LEN + SEAL_OVERHEAD];
    uint8_t *key = malloc(SEAL_KEY_LEN);
    if (!key)
        return -1;
    pthread_mutex_lock(&s->lock);
    if (want_zero) {
        t->id = 0;
    } else {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(s->db, "SELECT COALESCE(MAX(id), 0) + 1 FROM tokens", -1, &q,
                               NULL) != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW) {
            sqlite3_finalize(q);
            goto out;
        }
        t->id = (uint32_t)sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    key_aad(aad, t->id);
    if (RAND_bytes(key, SEAL_KEY_LEN) != 1 ||
        seal(s->master, aad, sizeof aad, key, SEAL_KEY_LEN, sealed))
        goto out;
    sqlite3_stmt *st = stmt(s, ST_TOK_INSERT);
    bind_token(st, t);
    sqlite3_bind_blob(st, 10, sealed, sizeof sealed, SQLITE_STATIC);
    if (step_done(s, st))
        goto out;
    free(hmap_del(&s->keys, t->id));
    if (hmap_put(&s->keys, t->id, key))
        goto out;
    key = NULL;
    rc = 0;
out:
    pthread_mutex_unlock(&s->lock);
    if (key) {
        secure_zero(key, SEAL_KEY_LEN);
        free(key);
    }
    return rc;
}

int store_token_update(store_t *s, const store_token_t *t)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = stmt(s, ST_TOK_UPDATE);
    bind_token(st, t);
    int rc = step_done(s, st);
    if (rc == 0 && sqlite3_changes(s->db) != 1)
        rc = -1;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_token_delete(store_t *s, uint32_t id)
{
    int rc = -1;
    pthread_mutex_lock(&s->lock);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    sqlite3_stmt *st = stmt(s, ST_OBJ_DEL_TOK);
    sqlite3_bind_int64(st, 1, id);
    if (step_done(s, st))
        goto rollback;
    st = stmt(s, ST_TOK_DELETE);
    sqlite3_bind_int64(st, 1, id);
    if (step_done(s, st))
        goto rollback;
    char sql[80]; /* the partition is no longer any client's */
    snprintf(sql, sizeof sql, "DELETE FROM client_partitions WHERE token_id = %u", id);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        goto rollback;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto rollback;
    uint8_t *key = hmap_del(&s->keys, id);
    if (key) {
        secure_zero(key, SEAL_KEY_LEN);
        free(key);
    }
    rc = 0;
    goto out;
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void copy_blob(void *dst, size_t cap, sqlite3_stmt *st, int col)
{
    const void *p = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    memset(dst, 0, cap);
    if (p)
        memcpy(dst, p, n < cap ? n : cap);
}

int store_token_load_all(store_t *s, int (*cb)(void *ctx, const store_token_t *t), void *ctx)
{
    int rc = 0;
    store_token_t t;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = stmt(s, ST_TOK_ALL);
    int r;
    while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&t, 0, sizeof t);
        t.id = (uint32_t)sqlite3_column_int64(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        snprintf(t.name, sizeof t.name, "%s", name ? name : "");
        t.initialized = sqlite3_column_int(st, 2);
        copy_blob(t.label, sizeof t.label, st, 3);
        const char *serial = (const char *)sqlite3_column_text(st, 4);
        snprintf(t.serial, sizeof t.serial, "%s", serial ? serial : "");
        copy_blob(t.so_pin, sizeof t.so_pin, st, 5);
        copy_blob(t.user_pin, sizeof t.user_pin, st, 6);
        t.so_fail = (uint32_t)sqlite3_column_int64(st, 7);
        t.user_fail = (uint32_t)sqlite3_column_int64(st, 8);
        /* Unseal the partition key before handing the row out. */
        uint8_t aad[14];
        key_aad(aad, t.id);
        uint8_t *key = malloc(SEAL_KEY_LEN);
        const void *blob = sqlite3_column_blob(st, 9);
        int blen = sqlite3_column_bytes(st, 9);
        if (!key || !blob || blen != SEAL_KEY_LEN + SEAL_OVERHEAD ||
            unseal(s->master, aad, sizeof aad, blob, (size_t)blen, key)) {
            log_err("partition %u: its key does not open under the master key", t.id);
            free(key);
            rc = -1;
            break;
        }
        free(hmap_del(&s->keys, t.id));
        if (hmap_put(&s->keys, t.id, key)) {
            free(key);
            rc = -1;
            break;
        }
        pthread_mutex_unlock(&s->lock);
        rc = cb(ctx, &t);
        pthread_mutex_lock(&s->lock);
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->lock);
    secure_zero(&t, sizeof t);
    return rc;
}

static void obj_aad(uint8_t aad[22], uint32_t token_id, uint64_t handle)
{
    memcpy(aad, "softfm-obj", 10);
    be32_put(aad + 10, token_id);
    be64_put(aad + 14, handle);
}

int store_object_put(store_t *s, uint32_t token_id, uint64_t handle,
                     const uint8_t *plain, size_t len)
{
    int rc = -1;
    uint8_t aad[22];
    uint8_t *blob = malloc(len + SEAL_OVERHEAD);
    if (!blob || handle > INT64_MAX)
        goto done;
    obj_aad(aad, token_id, handle);
    pthread_mutex_lock(&s->lock);
    const uint8_t *key = hmap_get(&s->keys, token_id);
    if (key && seal(key, aad, sizeof aad, plain, len, blob) == 0) {
        sqlite3_stmt *st = stmt(s, ST_OBJ_PUT);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
        sqlite3_bind_int64(st, 2, token_id);
        sqlite3_bind_blob(st, 3, blob, (int)(len + SEAL_OVERHEAD), SQLITE_STATIC);
        rc = step_done(s, st);
    }
    pthread_mutex_unlock(&s->lock);
done:
    free(blob);
    return rc;
}

int store_object_delete(store_t *s, uint64_t handle)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = stmt(s, ST_OBJ_DEL);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
    int rc = step_done(s, st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_object_delete_token(store_t *s, uint32_t token_id)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = stmt(s, ST_OBJ_DEL_TOK);
    sqlite3_bind_int64(st, 1, token_id);
    int rc = step_done(s, st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_object_load(store_t *s, uint32_t token_id,
                      int (*cb)(void *ctx, uint64_t handle, const uint8_t *p, size_t n),
                      void *ctx)
{
    int rc = 0, r;
    uint8_t aad[22];
    pthread_mutex_lock(&s->lock);
    const uint8_t *key = hmap_get(&s->keys, token_id);
    sqlite3_stmt *st = stmt(s, ST_OBJ_LOAD);
    sqlite3_bind_int64(st, 1, token_id);
    while (key && rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t handle = (uint64_t)sqlite3_column_int64(st, 0);
        const uint8_t *blob = sqlite3_column_blob(st, 1);
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        if (!blob || n < SEAL_OVERHEAD) {
            rc = -1;
            break;
        }
        uint8_t *plain = malloc(n - SEAL_OVERHEAD + 1);
        obj_aad(aad, token_id, handle);
        if (!plain || unseal(key, aad, sizeof aad, blob, n, plain)) {
            log_err("object %llu of partition %u does not open", (unsigned long long)handle,
                    token_id);
            free(plain);
            rc = -1;
            break;
        }
        rc = cb(ctx, handle, plain, n - SEAL_OVERHEAD);
        secure_zero(plain, n - SEAL_OVERHEAD);
        free(plain);
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->lock);
    return key ? rc : -1;
}

uint64_t store_max_handle(store_t *s)
{
    uint64_t max = 0;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = stmt(s, ST_OBJ_MAX);
    if (sqlite3_step(st) == SQLITE_ROW)
        max = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->lock);
    return max;
}

int store_fm_put(store_t *s, const char *name, uint16_t number, uint32_t flags,
                 const uint8_t *image, size_t len)
{
    if (len > INT32_MAX)
        return -1;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = stmt(s, ST_FM_PUT);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, number);
    sqlite3_bind_int64(st, 3, flags);
    sqlite3_bind_blob(st, 4, image, (int)len, SQLITE_STATIC);
    int rc = step_done(s, st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_fm_delete(store_t *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = stmt(s, ST_FM_PATCH_DEL);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = step_done(s, st);
    st = stmt(s, ST_FM_DEL);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc |= step_done(s, st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_fm_set_patches(store_t *s, const char *name, const uint8_t *bits, size_t len)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = stmt(s, ST_FM_PATCH_SET);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, bits, (int)len, SQLITE_STATIC);
    int rc = step_done(s, st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_fm_load_all(store_t *s, int (*cb)(void *ctx, const store_fm_t *fm), void *ctx)
{
    int rc = 0, r;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = stmt(s, ST_FM_ALL);
    while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
        store_fm_t fm;
        const unsigned char *name = sqlite3_column_text(st, 0);
        snprintf(fm.name, sizeof fm.name, "%s", name ? (const char *)name : "");
        fm.number = (uint16_t)sqlite3_column_int(st, 1);
        fm.flags = (uint32_t)sqlite3_column_int64(st, 2);
        fm.image = sqlite3_column_blob(st, 3);
        fm.len = (size_t)sqlite3_column_bytes(st, 3);
        fm.patches = sqlite3_column_blob(st, 4);
        fm.patches_len = fm.patches ? (size_t)sqlite3_column_bytes(st, 4) : 0;
        rc = cb(ctx, &fm);
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
