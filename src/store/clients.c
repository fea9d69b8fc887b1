/*
 * The network link's records: the HSM's TLS identity and the registered
 * clients with the partitions assigned to them. These change rarely (by the
 * HSM SO), so each call prepares its statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h"

static const uint8_t tls_aad[] = "softfm tls identity";

/* What a statement must do to count as done. */
enum want { ANY, CHANGE };

/* Run one statement with bound values to its end. 0; 1 on a constraint (a
   duplicate), or when it had to change a row and found none; -1 on any
   other failure. */
static int exec_bound(store_t *s, const char *sql, int (*bind)(sqlite3_stmt *, const void *),
                      const void *arg, enum want want)
{
    const uint8_t *master;
    store_lock(s);
    sqlite3 *db = store_db_locked(s, &master);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && bind(st, arg) == SQLITE_OK) {
        int r = sqlite3_step(st);
        rc = r == SQLITE_DONE ? 0 : (r & 0xff) == SQLITE_CONSTRAINT ? 1 : -1;
        if (rc < 0)
            log_err("store write failed: %s", sqlite3_errmsg(db));
        else if (rc == 0 && want == CHANGE && sqlite3_changes(db) == 0)
            rc = 1;
    }
    sqlite3_finalize(st);
    store_unlock(s);
    return rc;
}

typedef struct identity_args {
    const uint8_t *sealed;
    size_t sealed_len;
    const uint8_t *cert;
    size_t cert_len;
} identity_args_t;

static int bind_identity(sqlite3_stmt *st, const void *arg)
{
    const identity_args_t *a = arg;
    int r = sqlite3_bind_blob(st, 1, a->sealed, (int)a->sealed_len, SQLITE_STATIC);
    return r ? r : sqlite3_bind_blob(st, 2, a->cert, (int)a->cert_len, SQLITE_STATIC);
}

int store_tls_identity_put(store_t *s, const uint8_t *key, size_t key_len, const uint8_t *cert,
                           size_t cert_len)
{
    if (key_len > 4096 || cert_len > 65536)
        return -1;
    uint8_t *sealed = malloc(key_len + SEAL_OVERHEAD);
    if (!sealed)
        return -1;
    const uint8_t *master;
    store_lock(s);
    (void)store_db_locked(s, &master);
    int rc = seal(master, tls_aad, sizeof tls_aad, key, key_len, sealed);
    store_unlock(s);
    identity_args_t a = { sealed, key_len + SEAL_OVERHEAD, cert, cert_len };
    if (rc == 0)
        rc = exec_bound(s, "INSERT OR REPLACE INTO tls_identity(id, key, cert) VALUES (1, ?1, ?2)",
                        bind_identity, &a, ANY);
    free(sealed);
    return rc ? -1 : 0;
}

int store_tls_identity_get(store_t *s, uint8_t **key, size_t *key_len, uint8_t **cert,
                           size_t *cert_len)
{
    const uint8_t *master;
    store_lock(s);
    sqlite3 *db = store_db_locked(s, &master);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    uint8_t *k = NULL, *c = NULL;
    if (sqlite3_prepare_v2(db, "SELECT key, cert FROM tls_identity WHERE id = 1", -1, &st,
                           NULL) != SQLITE_OK)
        goto out;
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        rc = 1;
        goto out;
    }
    if (r != SQLITE_ROW)
        goto out;
    const uint8_t *blob = sqlite3_column_blob(st, 0);
    size_t blen = (size_t)sqlite3_column_bytes(st, 0);
    const uint8_t *der = sqlite3_column_blob(st, 1);
    size_t dlen = (size_t)sqlite3_column_bytes(st, 1);
    if (!blob || !der || blen <= SEAL_OVERHEAD || !dlen)
        goto out;
    k = malloc(blen - SEAL_OVERHEAD);
    c = malloc(dlen);
    if (!k || !c || unseal(master, tls_aad, sizeof tls_aad, blob, blen, k)) {
        log_err("the HSM's TLS key does not open under the master key");
        goto out;
    }
    memcpy(c, der, dlen);
    *key = k;
    *key_len = blen - SEAL_OVERHEAD;
    *cert = c;
    *cert_len = dlen;
    k = c = NULL;
    rc = 0;
out:
    if (k)
        secure_zero(k, blen - SEAL_OVERHEAD);
    free(k);
    free(c);
    sqlite3_finalize(st);
    store_unlock(s);
    return rc;
}

static int bind_client(sqlite3_stmt *st, const void *arg)
{
    const store_client_t *c = arg;
    int r = sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
    if (!r)
        r = sqlite3_bind_blob(st, 2, c->fp, sizeof c->fp, SQLITE_STATIC);
    if (!r)
        r = sqlite3_bind_blob(st, 3, c->cert, (int)c->cert_len, SQLITE_STATIC);
    if (!r)
        r = sqlite3_bind_int(st, 4, c->revoked);
    return r ? r : sqlite3_bind_int64(st, 5, (sqlite3_int64)c->created);
}

int store_client_put(store_t *s, const store_client_t *c)
{
    if (c->cert_len > 65536)
        return -1;
    return exec_bound(s,
                      "INSERT INTO clients(name, fp, cert, revoked, created)"
                      " VALUES (?1, ?2, ?3, ?4, ?5)",
                      bind_client, c, ANY);
}

static int bind_name(sqlite3_stmt *st, const void *arg)
{
    return sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
}

int store_client_delete(store_t *s, const char *name)
{
    /* Its assignments first: should the second step fail, a client is left
       with none, never assignments waiting for the next client of its name. */
    if (exec_bound(s, "DELETE FROM client_partitions WHERE name = ?1", bind_name, name, ANY))
        return -1;
    return exec_bound(s, "DELETE FROM clients WHERE name = ?1", bind_name, name, CHANGE);
}

typedef struct name_int {
    const char *name;
    int64_t v;
} name_int_t;

static int bind_name_int(sqlite3_stmt *st, const void *arg)
{
    const name_int_t *a = arg;
    int r = sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
    return r ? r : sqlite3_bind_int64(st, 2, a->v);
}

int store_client_set_revoked(store_t *s, const char *name, int revoked)
{
    name_int_t a = { name, revoked != 0 };
    return exec_bound(s, "UPDATE clients SET revoked = ?2 WHERE name = ?1", bind_name_int, &a,
                      CHANGE);
}

int store_client_assign(store_t *s, const char *name, uint32_t token_id, int assigned)
{
    name_int_t a = { name, token_id };
    return exec_bound(s,
                      assigned ? "INSERT INTO client_partitions(name, token_id) VALUES (?1, ?2)"
                               : "DELETE FROM client_partitions WHERE name = ?1 AND token_id = ?2",
                      bind_name_int, &a, assigned ? ANY : CHANGE);
}

int store_client_load_all(store_t *s, int (*cb)(void *ctx, const store_client_t *c), void *ctx)
{
    const uint8_t *master;
    store_lock(s);
    sqlite3 *db = store_db_locked(s, &master);
    sqlite3_stmt *st = NULL;
    int rc = -1, r;
    if (sqlite3_prepare_v2(db,
                           "SELECT name, fp, cert, revoked, created FROM clients ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    rc = 0;
    while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
        store_client_t c;
        memset(&c, 0, sizeof c);
        const unsigned char *name = sqlite3_column_text(st, 0);
        const void *fp = sqlite3_column_blob(st, 1);
        if (!name || !fp || sqlite3_column_bytes(st, 1) != (int)sizeof c.fp)
            continue; /* not a record this softfm wrote */
        snprintf(c.name, sizeof c.name, "%s", (const char *)name);
        memcpy(c.fp, fp, sizeof c.fp);
        c.cert = sqlite3_column_blob(st, 2);
        c.cert_len = (size_t)sqlite3_column_bytes(st, 2);
        c.revoked = sqlite3_column_int(st, 3);
        c.created = (uint64_t)sqlite3_column_int64(st, 4);
        rc = cb(ctx, &c);
    }
out:
    sqlite3_finalize(st);
    store_unlock(s);
    return rc;
}

int store_client_partitions(store_t *s, int (*cb)(void *ctx, const char *name, uint32_t token),
                            void *ctx)
{
    const uint8_t *master;
    store_lock(s);
    sqlite3 *db = store_db_locked(s, &master);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "SELECT name, token_id FROM client_partitions ORDER BY token_id",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(st, 0);
        if (name)
            rc = cb(ctx, (const char *)name, (uint32_t)sqlite3_column_int64(st, 1));
    }
out:
    sqlite3_finalize(st);
    store_unlock(s);
    return rc;
}
