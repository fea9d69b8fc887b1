/*
 * The audit log: a table of records chained by HMAC-SHA256.
 *
 *   mac[n] = HMAC(audit key, mac[n-1] | seq | time | who | 0 | event)
 *
 * with mac[0] of the first record over 32 zero bytes. The key lives in
 * audit.key beside the master key; zeroize keeps both the log and its key,
 * so the log tells what happened before a zeroize too.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>

#include "common.h"
#include "internal.h"

#define MAC_LEN 32
#define FIELD_MAX 1024

static int record_mac(const uint8_t key[SEAL_KEY_LEN], const uint8_t prev[MAC_LEN], uint64_t seq,
                      uint64_t time, const char *who, const char *event, uint8_t out[MAC_LEN])
{
    uint8_t head[16];
    for (int i = 0; i < 8; i++) {
        head[i] = (uint8_t)(seq >> (56 - 8 * i));
        head[8 + i] = (uint8_t)(time >> (56 - 8 * i));
    }
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM p[] = { OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                       OSSL_PARAM_construct_end() };
    size_t n = 0;
    int ok = c && EVP_MAC_init(c, key, SEAL_KEY_LEN, p) == 1 &&
             EVP_MAC_update(c, prev, MAC_LEN) == 1 && EVP_MAC_update(c, head, sizeof head) == 1 &&
             EVP_MAC_update(c, (const uint8_t *)who, strlen(who) + 1) == 1 &&
             EVP_MAC_update(c, (const uint8_t *)event, strlen(event)) == 1 &&
             EVP_MAC_final(c, out, &n, MAC_LEN) == 1 && n == MAC_LEN;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
    return ok ? 0 : -1;
}

int store_audit_append(store_t *s, uint64_t time, const char *who, const char *event)
{
    if (strlen(who) > FIELD_MAX || strlen(event) > FIELD_MAX)
        return -1;
    const uint8_t *master;
    uint8_t key[SEAL_KEY_LEN], prev[MAC_LEN] = { 0 }, mac[MAC_LEN];
    int rc = -1;
    uint64_t seq = 1;
    store_lock(s);
    sqlite3 *db = store_db_locked(s, &master);
    sqlite3_stmt *st = NULL;
    if (store_key_file(s, "audit.key", key))
        goto out;
    if (sqlite3_prepare_v2(db, "SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) == SQLITE_ROW) {
        seq = (uint64_t)sqlite3_column_int64(st, 0) + 1;
        if (sqlite3_column_bytes(st, 1) == MAC_LEN)
            memcpy(prev, sqlite3_column_blob(st, 1), MAC_LEN);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (record_mac(key, prev, seq, time, who, event, mac) ||
        sqlite3_prepare_v2(db, "INSERT INTO audit(seq, time, who, event, mac) VALUES (?1,?2,?3,?4,?5)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)time);
    sqlite3_bind_text(st, 3, who, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, event, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, mac, MAC_LEN, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
out:
    sqlite3_finalize(st);
    secure_zero(key, sizeof key);
    store_unlock(s);
    return rc;
}

int store_audit_list(store_t *s, size_t last, int (*cb)(void *ctx, const store_audit_t *e),
                     void *ctx)
{
    const uint8_t *master;
    uint8_t key[SEAL_KEY_LEN], prev[MAC_LEN] = { 0 };
    int rc = -1;
    store_lock(s);
    sqlite3 *db = store_db_locked(s, &master);
    sqlite3_stmt *st = NULL;
    sqlite3_int64 total = 0;
    if (store_key_file(s, "audit.key", key) ||
        sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM audit", -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) == SQLITE_ROW)
        total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT seq, time, who, event, mac FROM audit ORDER BY seq", -1,
                           &st, NULL) != SQLITE_OK)
        goto out;
    /* The chain is checked from the first record even when only the last
       ones are shown. */
    int ok = 1;
    uint64_t expect = 1;
    sqlite3_int64 row = 0;
    rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        store_audit_t e = { .seq = (uint64_t)sqlite3_column_int64(st, 0),
                            .time = (uint64_t)sqlite3_column_int64(st, 1),
                            .who = (const char *)sqlite3_column_text(st, 2),
                            .event = (const char *)sqlite3_column_text(st, 3) };
        uint8_t mac[MAC_LEN];
        if (!e.who || !e.event || e.seq != expect ||
            sqlite3_column_bytes(st, 4) != MAC_LEN ||
            record_mac(key, prev, e.seq, e.time, e.who, e.event, mac) ||
            CRYPTO_memcmp(mac, sqlite3_column_blob(st, 4), MAC_LEN))
            ok = 0;
        if (sqlite3_column_bytes(st, 4) == MAC_LEN)
            memcpy(prev, sqlite3_column_blob(st, 4), MAC_LEN);
        expect = e.seq + 1;
        e.chain_ok = ok;
        if (!e.who)
            e.who = "";
        if (!e.event)
            e.event = "";
        if (last == 0 || total - row <= (sqlite3_int64)last)
            rc = cb(ctx, &e);
        row++;
    }
out:
    sqlite3_finalize(st);
    secure_zero(key, sizeof key);
    store_unlock(s);
    return rc;
}
