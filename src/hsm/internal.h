/*
 * What the files of the HSM core share. Not for other parts.
 *
 * Locking: h->lock guards everything in memory (tokens, sessions, objects,
 * AppIds) and is held only for short bookkeeping. h->wlock serialises changes
 * that reach the store (token objects, token records); it is taken before
 * h->lock and held across the store write, so that readers keep going while a
 * write waits for the disk. Slow work on a session (a digest) checks the
 * session out (busy) and runs without either lock.
 */
#ifndef SOFTFM_HSM_INTERNAL_H
#define SOFTFM_HSM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <openssl/evp.h>

#include "common.h"
#include "hsm.h"
#include "store.h"

typedef struct token token_t;

typedef struct attr {
    CK_ATTRIBUTE_TYPE type;
    CK_ULONG len;
    uint8_t *val;
} attr_t;

typedef struct object {
    CK_OBJECT_HANDLE handle;
    token_t *tok;
    bool on_token;             /* CKA_TOKEN */
    bool priv;                 /* CKA_PRIVATE */
    app_id_t owner;            /* session objects: the AppId that made it */
    CK_SESSION_HANDLE session; /* session objects: the session that made it */
    attr_t *attrs;
    size_t nattrs;
    EVP_PKEY *pkey;            /* asymmetric keys: built on first use (pkey.c) */
    struct object *next, *prev; /* in tok->objects */
} object_t;

struct token {
    store_token_t rec;
    pthread_mutex_t pin_lock;  /* one PIN check at a time */
    object_t *objects;
    CK_ULONG nobjects_token;
    CK_ULONG nsessions, nrw;
    bool deleted;
    struct token *grave_next;  /* deleted tokens, kept until hsm_close */
};

/* A symmetric encryption or decryption in progress (cipher.c). */
typedef struct crypt_op {
    bool active;
    bool multi;                /* C_*Update was called: single-part refused */
    int mode;                  /* cipher.c's enum cipher_mode */
    size_t block;              /* block size, 1 for stream modes */
    size_t pending;            /* bytes OpenSSL holds back between updates */
    size_t tag_len;            /* GCM */
    EVP_CIPHER_CTX *ctx;
    EVP_PKEY *pkey;            /* RSA: the key (a reference) */
    const EVP_MD *oaep_md, *oaep_mgf;
    uint8_t *label;            /* OAEP: the label, if any */
    size_t label_len;
    uint8_t *buf;              /* GCM decryption: everything until the tag */
    size_t len, cap;
    bool need_auth;            /* CKA_ALWAYS_AUTHENTICATE: waits for a login */
} crypt_op_t;

/* A signature or MAC, or its verification, in progress (sign.c). */
typedef struct sign_op {
    bool active;
    bool multi;
    const struct sign_mech *sm;
    size_t out_len;            /* signature or MAC length */
    EVP_MAC_CTX *mac;          /* HMAC, CMAC */
    EVP_PKEY *pkey;            /* asymmetric: the key (a reference) */
    EVP_MD_CTX *md;            /* hash-and-sign mechanisms */
    const EVP_MD *pss_md, *pss_mgf;
    int pss_salt;
    size_t field_bytes;        /* ECDSA: size of r and of s */
    uint8_t *buf;              /* mechanisms that sign the data whole */
    size_t len, cap;
    bool need_auth;            /* CKA_ALWAYS_AUTHENTICATE: waits for a login */
} sign_op_t;

typedef struct session {
    CK_SESSION_HANDLE handle;
    app_id_t app;
    token_t *tok;
    CK_FLAGS flags;
    int refs;
    bool closed;
    bool busy;                 /* checked out for work outside the lock */
    /* C_FindObjects */
    bool finding;
    CK_OBJECT_HANDLE *found;
    CK_ULONG nfound, found_pos;
    /* C_Digest* */
    EVP_MD_CTX *md;
    bool digest_updated;
    /* C_Encrypt*, C_Decrypt*: indexed by HSM_ENCRYPT, HSM_DECRYPT */
    crypt_op_t crypt[2];
    /* C_Sign*, C_Verify*: indexed by HSM_SIGN, HSM_VERIFY */
    sign_op_t sign[2];
    /* C_SignRecover, C_VerifyRecover */
    sign_op_t recover[2];
} session_t;

/* Per AppId and token: who is logged in and how many sessions are open. */
typedef struct app_token {
    uint32_t token_id;
    CK_USER_TYPE user;         /* CKU_SO, CKU_USER, or NO_USER */
    CK_ULONG nsessions;
} app_token_t;

#define NO_USER ((CK_USER_TYPE)-1)

typedef struct app {
    app_id_t id;
    int refs;                  /* connections */
    app_token_t *toks;
    size_t ntoks;
} app_t;

enum policy_id {
    POL_SO_TRIES, POL_USER_TRIES, POL_ALLOW_FMS, POL_UNSIGNED_FMS, POL_RELEASE_ONLY, POL_SMFS_AUTO,
    POL_COUNT
};

struct hsm {
    pthread_mutex_t lock;
    pthread_mutex_t wlock;
    store_t *store;
    bool initialized;
    char label[33];
    char serial[17];
    unsigned long policy[POL_COUNT];
    hmap_t tokens;             /* token id (= slot id) -> token_t */
    hmap_t sessions;           /* handle -> session_t */
    hmap_t objects;            /* handle -> object_t */
    hmap_t apps;               /* app id -> app_t */
    /* Deleted tokens stay allocated: a thread in the middle of a PIN check
       or a digest may still hold a pointer to one. */
    token_t *graveyard;
    CK_ULONG next_session;
    CK_ULONG next_object;
    unsigned tls_gen;          /* the TLS identity's generation (clients.c) */
};

/* hsm.c */
app_t *app_get(hsm_t *h, app_id_t id, bool create);
app_token_t *app_token(app_t *a, uint32_t token_id, bool create);
CK_USER_TYPE login_state(hsm_t *h, app_id_t app, const token_t *tok);
token_t *token_by_slot(hsm_t *h, CK_SLOT_ID slot);
/* A partition by name (h->lock held), and the rule names follow. */
token_t *token_by_name(hsm_t *h, const char *name);
bool hsm_name_ok(const char *name);
const char *policy_name(enum policy_id id);
/* The calling thread's requests come from an FM with override privilege. */
extern _Thread_local bool hsm_privileged;

/* clients.c: the HSM's TLS identity, made when the HSM is initialised. */
int tls_identity_ensure(hsm_t *h);

/* session.c */
/* Look up a session of app and take a reference (h->lock held). */
CK_RV session_get(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, session_t **out);
void session_put(hsm_t *h, session_t *s);
void session_close_locked(hsm_t *h, session_t *s);
CK_STATE session_state(hsm_t *h, const session_t *s);
void app_close_sessions_locked(hsm_t *h, app_id_t app, token_t *only);

/* pin.c */
int pin_hash(const CK_UTF8CHAR *pin, CK_ULONG len, uint8_t rec[STORE_PIN_REC_LEN]);
/* 0 match, 1 mismatch, -1 failure */
int pin_verify(const uint8_t rec[STORE_PIN_REC_LEN], const CK_UTF8CHAR *pin, CK_ULONG len);
bool pin_is_set(const uint8_t rec[STORE_PIN_REC_LEN]);
/* Check a PIN of a token role, counting failures durably. The caller holds
   neither h->lock nor h->wlock. user is CKU_SO or CKU_USER. */
CK_RV pin_check(hsm_t *h, token_t *tok, CK_USER_TYPE user, const CK_UTF8CHAR *pin, CK_ULONG len);
CK_RV pin_len_ok(const CK_UTF8CHAR *pin, CK_ULONG len);

/* object.c */
void object_free(object_t *o);
void object_unlink_locked(hsm_t *h, object_t *o);
void object_link_locked(hsm_t *h, object_t *o);
int object_load(void *ctx, uint64_t handle, const uint8_t *p, size_t n);
void token_drop_objects_locked(hsm_t *h, token_t *tok);
void session_drop_objects_locked(hsm_t *h, session_t *s);

/* attrs.c: the attribute rules */
attr_t *obj_attr(const object_t *o, CK_ATTRIBUTE_TYPE type);
bool obj_bool(const object_t *o, CK_ATTRIBUTE_TYPE type, bool dflt);
CK_ULONG obj_ulong(const object_t *o, CK_ATTRIBUTE_TYPE type, CK_ULONG dflt);
/* Where a new object comes from: NULL for C_CreateObject (from outside),
   else made in the token by the mechanism named. */
typedef struct attr_origin {
    CK_MECHANISM_TYPE mech;
    bool derived;              /* from a base key: not local; protection as the base's */
    bool base_always_sensitive;
    bool base_never_extractable;
} attr_origin_t;

/* Build a new object's attributes from a template. */
CK_RV attrs_build(const CK_ATTRIBUTE *t, CK_ULONG n, CK_USER_TYPE who, const attr_origin_t *gen,
                  object_t *o);
/* Check a template for C_SetAttributeValue (copy: for C_CopyObject). */
CK_RV attrs_check_change(const object_t *o, const CK_ATTRIBUTE *t, CK_ULONG n, CK_USER_TYPE who,
                         bool copy);
/* Apply a checked template (allocates; on failure o is unchanged). */
CK_RV attrs_apply(object_t *o, const CK_ATTRIBUTE *t, CK_ULONG n);
/* May this attribute's value be returned? */
bool attr_readable(const object_t *o, CK_ATTRIBUTE_TYPE type);
bool attr_is_bool(const object_t *o, CK_ATTRIBUTE_TYPE type);
CK_RV attrs_clone(const object_t *src, object_t *dst);
void attrs_free(object_t *o);

/* cipher.c */
void crypt_op_end(crypt_op_t *op);
void crypt_op_free(crypt_op_t *op);

/* sign.c */
void sign_op_end(sign_op_t *op);
const EVP_MD *md_by_mech(CK_MECHANISM_TYPE m);
const EVP_MD *md_by_mgf(CK_RSA_PKCS_MGF_TYPE g);

/* session.c: check a session out for work outside the lock, and back in. */
CK_RV session_checkout(hsm_t *h, app_id_t app, CK_SESSION_HANDLE handle, session_t **out);
void session_checkin(hsm_t *h, session_t *s);

/* object.c: a copy of a key's value and facts, for an operation's start.
   Checks in the order PKCS#11 names the errors. */
typedef struct key_use {
    CK_OBJECT_CLASS cls;
    CK_KEY_TYPE type;
    uint8_t *value;            /* secret keys: the value (wipe with key_use_free) */
    size_t len;
    EVP_PKEY *pkey;            /* asymmetric keys: a reference */
    size_t field_bytes;        /* EC keys: the size of r and s */
    bool always_sensitive, never_extractable;
    bool always_authenticate;  /* each use needs a context-specific login */
} key_use_t;

/* An object the session may see (h->lock held); 0 or -1. */
int object_find_visible(hsm_t *h, const session_t *s, CK_OBJECT_HANDLE handle, object_t **out);
/* Does the object have every attribute of t with that value (booleans by
   truth; sensitive values never match)? */
bool object_matches(const object_t *o, const CK_ATTRIBUTE *t, CK_ULONG n);
#define KEY_USE_ANY CK_UNAVAILABLE_INFORMATION /* no usage attribute applies */
CK_RV key_for_use(hsm_t *h, session_t *s, CK_OBJECT_HANDLE key, CK_ATTRIBUTE_TYPE usage,
                  CK_MECHANISM_TYPE mech, key_use_t *out);
void key_use_free(key_use_t *k);

/* cipher.c: Encrypt or decrypt all of in at once with a key (wrapping); *out is
   allocated (wipe it). Mechanism and key checks as in C_EncryptInit. */
CK_RV crypt_oneshot(bool enc, const CK_MECHANISM *m, key_use_t *k, const uint8_t *in, size_t n,
                    uint8_t **out, size_t *out_len);

/* pkey.c */
/* The object's key as an EVP_PKEY with a reference for the caller, built on
   first use (h->lock held); NULL when its components make no key. */
EVP_PKEY *pkey_of(object_t *o);
int pkey_curve(const uint8_t *ec_params, size_t n, const char **name, size_t *field_bytes);
/* CKA_EC_PARAMS for an OpenSSL group name. */
int pkey_curve_oid(const char *group, const uint8_t **oid, size_t *len, size_t *field_bytes);

typedef struct pkey_attrs {
    CK_ATTRIBUTE a[12];
    size_t n;
} pkey_attrs_t;

/* The key-material attributes of a generated key's two objects. */
int pkey_to_attrs(const EVP_PKEY *pk, CK_KEY_TYPE kt, size_t field_bytes, pkey_attrs_t *pub,
                  pkey_attrs_t *priv);
void pkey_attrs_free(pkey_attrs_t *a);

/* keygen.c */
/* The 3-byte check value of a secret key: 0, or 1 when the key type has
   none, or -1 on failure. */
int key_check_value(CK_KEY_TYPE kt, const uint8_t *key, size_t len, uint8_t out[3]);
/* Take back an object just inserted (wlock held for token objects). */
void object_discard(hsm_t *h, CK_OBJECT_HANDLE handle);
/* Insert a new object made for session s, taking h->wlock for a token
   object; on success the HSM owns o. */
CK_RV object_add(hsm_t *h, session_t *s, object_t *o, CK_USER_TYPE who, CK_OBJECT_HANDLE *out);
/* Insert a new object made for session s (wlock held for token objects). */
CK_RV object_insert(hsm_t *h, session_t *s, object_t *o, CK_USER_TYPE who, CK_OBJECT_HANDLE *out);

/* mech.c */
typedef struct mech_info {
    CK_MECHANISM_TYPE type;
    CK_ULONG min_key, max_key;
    CK_FLAGS flags;            /* CKF_HW is added for every mechanism */
} mech_info_t;

size_t mech_count(void);
const mech_info_t *mech_at(size_t i);
const mech_info_t *mech_find(CK_MECHANISM_TYPE type);

#endif
