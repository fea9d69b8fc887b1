/*
 * The persistent store: one SQLite database in WAL mode plus the HSM master
 * key file, both inside the daemon's data directory.
 *
 * Every object is kept as one blob, sealed with AES-256-GCM under the key of
 * its partition; partition keys are sealed under the master key. Nothing
 * secret reaches the database in the clear. Every write returns only once
 * SQLite has made it durable (synchronous=FULL), so a reply sent after a
 * successful call survives a crash of the daemon or the machine.
 */
#ifndef SOFTFM_STORE_H
#define SOFTFM_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

#define STORE_PIN_REC_LEN 64
#define STORE_NAME_MAX 32

typedef struct store_token {
    uint32_t id;
    char name[STORE_NAME_MAX + 1];
    int initialized;
    unsigned char label[32];
    char serial[17];
    uint8_t so_pin[STORE_PIN_REC_LEN];     /* opaque PIN records, or zeros */
    uint8_t user_pin[STORE_PIN_REC_LEN];
    uint32_t so_fail;
    uint32_t user_fail;
} store_token_t;

/* Open (creating as needed) the store in dir, which must exist. */
int store_open(const char *dir, store_t **out);
void store_close(store_t *s);
/* Forget every token, object and setting, and replace the master key. */
int store_wipe(store_t *s);

/* Settings: short text values. get returns 1 when the key is absent. */
int store_meta_get(store_t *s, const char *key, char *buf, size_t cap);
int store_meta_set(store_t *s, const char *key, const char *val);

/* Create a token row with a fresh partition key. id 0 asks for a new id,
   except for the first token created (the Admin Token), which is given id 0
   when want_zero is set. */
int store_token_create(store_t *s, store_token_t *t, int want_zero);
int store_token_update(store_t *s, const store_token_t *t);
/* Delete a token, its objects and its key. */
int store_token_delete(store_t *s, uint32_t id);
int store_token_load_all(store_t *s, int (*cb)(void *ctx, const store_token_t *t), void *ctx);

int store_object_put(store_t *s, uint32_t token_id, uint64_t handle,
                     const uint8_t *plain, size_t len);
int store_object_delete(store_t *s, uint64_t handle);
int store_object_delete_token(store_t *s, uint32_t token_id);
/* cb gets each object's plaintext, wiped after cb returns. */
int store_object_load(store_t *s, uint32_t token_id,
                      int (*cb)(void *ctx, uint64_t handle, const uint8_t *p, size_t n),
                      void *ctx);
uint64_t store_max_handle(store_t *s);

/* Loaded FM images (not secret: kept as they are). flags: STORE_FM_*. */
#define STORE_FM_UNSIGNED 1u  /* an unsigned (development) image; else a signed one */
typedef struct store_fm {
    char name[17];
    uint16_t number;
    uint32_t flags;
    const uint8_t *image;   /* valid during the callback */
    size_t len;
    const uint8_t *patches; /* the Cryptoki entries it patched last (NULL: unknown) */
    size_t patches_len;
} store_fm_t;
int store_fm_put(store_t *s, const char *name, uint16_t number, uint32_t flags,
                 const uint8_t *image, size_t len);
int store_fm_delete(store_t *s, const char *name);
/* Remember which Cryptoki entries an FM patches, for the next start: its
   functions fail until it runs again, rather than bypass it. */
int store_fm_set_patches(store_t *s, const char *name, const uint8_t *bits, size_t len);
int store_fm_load_all(store_t *s, int (*cb)(void *ctx, const store_fm_t *fm), void *ctx);

/* The SMFS's entries (smfs_store.c): per FM, a path, a directory or a file
   of a fixed size whose contents are sealed under the master key. */
typedef struct store_smfs {
    char path[128];
    int is_dir;
    uint32_t size;    /* a file's bytes, a directory's entries */
    size_t len;       /* of the contents read */
} store_smfs_t;
int store_smfs_put(store_t *s, const char *fm, const char *path, int is_dir, uint32_t size,
                   const uint8_t *data, size_t len);
/* 0, 1 when there is no such entry, -1 on failure; *data (when asked for)
   is malloc'ed: wipe and free it. */
int store_smfs_get(store_t *s, const char *fm, const char *path, store_smfs_t *e,
                   uint8_t **data);
int store_smfs_delete(store_t *s, const char *fm, const char *path);
int store_smfs_rename(store_t *s, const char *fm, const char *from, const char *to);
/* Every entry of fm (of every FM when fm is NULL), without contents. */
int store_smfs_list(store_t *s, const char *fm, int (*cb)(void *ctx, const store_smfs_t *e),
                    void *ctx);
/* A sealed backup of the whole SMFS; import replaces the SMFS with one:
   0, 1 when the blob is not one this HSM's master key opens, -1 on failure. */
int store_smfs_export(store_t *s, uint8_t **blob, size_t *len);
int store_smfs_import(store_t *s, const uint8_t *blob, size_t len);

/* The audit log (audit.c): administrative changes, kept through zeroize.
   Each record carries an HMAC-SHA256 over itself and the previous record's
   MAC, under a key of its own (audit.key), so a record altered, removed or
   inserted in the database breaks the chain from there on. Records hold no
   secrets. */
typedef struct store_audit {
    uint64_t seq, time;
    const char *who, *event;
    int chain_ok;                  /* the chain verifies up to this record */
} store_audit_t;
int store_audit_append(store_t *s, uint64_t time, const char *who, const char *event);
/* Every record in order (the chain checked from the first), or only the last
   `last` when last > 0. */
int store_audit_list(store_t *s, size_t last, int (*cb)(void *ctx, const store_audit_t *e),
                     void *ctx);

/* The network link (clients.c): the HSM's TLS identity (its private key
   sealed under the master key) and the registered clients. */
int store_tls_identity_put(store_t *s, const uint8_t *key, size_t key_len, const uint8_t *cert,
                           size_t cert_len);
/* 1 when there is none; else *key and *cert are malloc'd (wipe the key). */
int store_tls_identity_get(store_t *s, uint8_t **key, size_t *key_len, uint8_t **cert,
                           size_t *cert_len);

typedef struct store_client {
    char name[STORE_NAME_MAX + 1];
    uint8_t fp[32];             /* SHA-256 of the certificate */
    const uint8_t *cert;        /* DER */
    size_t cert_len;
    int revoked;
    uint64_t created;           /* seconds since the epoch */
} store_client_t;
/* 1 when the name or the certificate is registered already. */
int store_client_put(store_t *s, const store_client_t *c);
/* 1 when there is no client of that name. */
int store_client_delete(store_t *s, const char *name);
int store_client_set_revoked(store_t *s, const char *name, int revoked);
/* 1 when it was assigned (or not) already. */
int store_client_assign(store_t *s, const char *name, uint32_t token_id, int assigned);
int store_client_load_all(store_t *s, int (*cb)(void *ctx, const store_client_t *c), void *ctx);
int store_client_partitions(store_t *s, int (*cb)(void *ctx, const char *name, uint32_t token),
                            void *ctx);

#endif
