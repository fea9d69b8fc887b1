/*
 * The HSM core: HSM state, the Admin Token, partitions (tokens), sessions per
 * AppId, objects, mechanisms and policies.
 *
 * The core is a library: it does no socket I/O and is driven in-process by
 * the daemon, the unit tests and (later) the FM runtime. Each entry mirrors a
 * Cryptoki function, takes the AppId it runs on behalf of, uses native
 * Cryptoki types and returns the CKR_ code the PKCS#11 v2.40 specification
 * names. Entries are thread-safe; no global lock is held around slow work
 * (PIN hashing, digests, store writes are done outside the core's lock).
 */
#ifndef SOFTFM_HSM_H
#define SOFTFM_HSM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "store.h"

typedef struct hsm hsm_t;
typedef uint64_t app_id_t;

#define HSM_ADMIN_SLOT 0
#define HSM_FW_MAJOR 0
#define HSM_FW_MINOR 1
#define HSM_PIN_MIN 4
#define HSM_PIN_MAX 255
#define HSM_NAME_MAX 32

/* Open the HSM whose state lives in dir (created by the caller). */
int hsm_open(const char *dir, hsm_t **out) __attribute__((warn_unused_result));
void hsm_close(hsm_t *h);

/* A client of this AppId connected / went away. The last detach closes all
   sessions of the AppId and ends its logins. */
void hsm_app_attach(hsm_t *h, app_id_t app);
/* True when that was the AppId's last connection: the host process ended. */
bool hsm_app_detach(hsm_t *h, app_id_t app);
/* The application finalised: close all its sessions, end its logins. */
void hsm_app_finalize(hsm_t *h, app_id_t app);

/* Slots, tokens, mechanisms. list NULL asks for the count. */
CK_RV hsm_get_slot_list(hsm_t *h, CK_SLOT_ID *list, CK_ULONG *count);
CK_RV hsm_get_slot_info(hsm_t *h, CK_SLOT_ID slot, CK_SLOT_INFO *info);
CK_RV hsm_get_token_info(hsm_t *h, CK_SLOT_ID slot, CK_TOKEN_INFO *info);
CK_RV hsm_get_mechanism_list(hsm_t *h, CK_SLOT_ID slot, CK_MECHANISM_TYPE *list, CK_ULONG *count);
CK_RV hsm_get_mechanism_info(hsm_t *h, CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
                             CK_MECHANISM_INFO *info);

CK_RV hsm_init_token(hsm_t *h, app_id_t app, CK_SLOT_ID slot, const CK_UTF8CHAR *pin,
                     CK_ULONG pin_len, const CK_UTF8CHAR label[32]);
CK_RV hsm_init_pin(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_UTF8CHAR *pin,
                   CK_ULONG pin_len);
CK_RV hsm_set_pin(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_UTF8CHAR *old_pin,
                  CK_ULONG old_len, const CK_UTF8CHAR *new_pin, CK_ULONG new_len);

/* Sessions and login. */
CK_RV hsm_open_session(hsm_t *h, app_id_t app, CK_SLOT_ID slot, CK_FLAGS flags,
                       CK_SESSION_HANDLE *out);
CK_RV hsm_close_session(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s);
CK_RV hsm_close_all_sessions(hsm_t *h, app_id_t app, CK_SLOT_ID slot);
CK_RV hsm_get_session_info(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_SESSION_INFO *info);
CK_RV hsm_login(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_USER_TYPE user,
                const CK_UTF8CHAR *pin, CK_ULONG pin_len);
CK_RV hsm_logout(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s);

/* Objects. */
CK_RV hsm_create_object(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_ATTRIBUTE *t,
                        CK_ULONG n, CK_OBJECT_HANDLE *out);
CK_RV hsm_copy_object(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                      const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out);
CK_RV hsm_destroy_object(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o);
CK_RV hsm_get_object_size(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                          CK_ULONG *size);
CK_RV hsm_get_attribute_value(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                              CK_ATTRIBUTE *t, CK_ULONG n);
CK_RV hsm_set_attribute_value(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                              const CK_ATTRIBUTE *t, CK_ULONG n);
CK_RV hsm_find_objects_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_ATTRIBUTE *t,
                            CK_ULONG n);
CK_RV hsm_find_objects(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *out,
                       CK_ULONG max, CK_ULONG *count);
CK_RV hsm_find_objects_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s);

/* Symmetric encryption and decryption. Output rules as for digests: a NULL
   out asks for the length; CKR_BUFFER_TOO_SMALL keeps the operation; any
   other error ends it. */
enum hsm_crypt_dir { HSM_ENCRYPT = 0, HSM_DECRYPT = 1 };
CK_RV hsm_crypt_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_crypt_dir dir,
                     const CK_MECHANISM *m, CK_OBJECT_HANDLE key);
CK_RV hsm_crypt(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_crypt_dir dir,
                const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len);
CK_RV hsm_crypt_update(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_crypt_dir dir,
                       const CK_BYTE *in, CK_ULONG in_len, CK_BYTE *out, CK_ULONG *out_len);
CK_RV hsm_crypt_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_crypt_dir dir,
                      CK_BYTE *out, CK_ULONG *out_len);

/* Signatures and MACs. hsm_sign and hsm_sign_final follow the output
   rules above; verification answers CKR_SIGNATURE_INVALID or
   CKR_SIGNATURE_LEN_RANGE for a signature that does not match. */
enum hsm_sign_dir { HSM_SIGN = 0, HSM_VERIFY = 1 };
CK_RV hsm_sign_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_sign_dir dir,
                    const CK_MECHANISM *m, CK_OBJECT_HANDLE key);
CK_RV hsm_sign(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_BYTE *data, CK_ULONG len,
               CK_BYTE *sig, CK_ULONG *sig_len);
CK_RV hsm_sign_update(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_sign_dir dir,
                      const CK_BYTE *data, CK_ULONG len);
CK_RV hsm_sign_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_BYTE *sig,
                     CK_ULONG *sig_len);
CK_RV hsm_verify(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_BYTE *data, CK_ULONG len,
                 const CK_BYTE *sig, CK_ULONG sig_len);
CK_RV hsm_verify_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_BYTE *sig,
                       CK_ULONG sig_len);

/* Signatures with message recovery: raw RSA (CKM_RSA_X_509) and PKCS#1
   v1.5 (CKM_RSA_PKCS). Single-part; output rules as for C_Sign. */
CK_RV hsm_recover_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_sign_dir dir,
                       const CK_MECHANISM *m, CK_OBJECT_HANDLE key);
CK_RV hsm_recover(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, enum hsm_sign_dir dir,
                  const CK_BYTE *in, CK_ULONG len, CK_BYTE *out, CK_ULONG *out_len);

/* Key generation. */
CK_RV hsm_generate_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_MECHANISM *m,
                       const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out);

CK_RV hsm_generate_key_pair(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_MECHANISM *m,
                            const CK_ATTRIBUTE *pub_t, CK_ULONG npub, const CK_ATTRIBUTE *priv_t,
                            CK_ULONG npriv, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);

/* Wrapping: out NULL asks for the length. */
CK_RV hsm_wrap_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_MECHANISM *m,
                   CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key, CK_BYTE *out, CK_ULONG *out_len);
CK_RV hsm_unwrap_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_MECHANISM *m,
                     CK_OBJECT_HANDLE unwrapping, const CK_BYTE *wrapped, CK_ULONG len,
                     const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out);

CK_RV hsm_derive_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_MECHANISM *m,
                     CK_OBJECT_HANDLE base, const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out);

/* Digests and random. A NULL out asks for the length (operation stays). */
CK_RV hsm_digest_init(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_MECHANISM *m);
CK_RV hsm_digest(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_BYTE *data,
                 CK_ULONG len, CK_BYTE *out, CK_ULONG *out_len);
CK_RV hsm_digest_update(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_BYTE *data,
                        CK_ULONG len);
CK_RV hsm_digest_final(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_BYTE *out,
                       CK_ULONG *out_len);
/* Add a secret key's value to the digest under way. */
CK_RV hsm_digest_key(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key);
CK_RV hsm_seed_random(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, const CK_BYTE *seed,
                      CK_ULONG len);
CK_RV hsm_generate_random(hsm_t *h, app_id_t app, CK_SESSION_HANDLE s, CK_BYTE *out,
                          CK_ULONG len);

/* Administration. Changes need the HSM SO PIN (the Admin Token's SO PIN). */
typedef struct hsm_partition_info {
    CK_SLOT_ID slot;
    char name[HSM_NAME_MAX + 1];
    char label[33];
    char serial[17];
    int initialized;
    int user_pin_set;
    CK_ULONG objects;
} hsm_partition_info_t;

typedef struct hsm_policy_info {
    const char *name;
    const char *description;
    unsigned long value;
} hsm_policy_info_t;

typedef struct hsm_info {
    int initialized;
    char label[33];
    char serial[17];
    unsigned fw_major, fw_minor;
    hsm_policy_info_t *policies;
    size_t npolicies;
    hsm_partition_info_t *partitions;  /* the Admin Token first */
    size_t npartitions;
} hsm_info_t;

CK_RV hsm_admin_info(hsm_t *h, hsm_info_t *info);
void hsm_admin_info_free(hsm_info_t *info);
CK_RV hsm_admin_zeroize(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len);
CK_RV hsm_admin_partition_create(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len,
                                 const char *name, CK_SLOT_ID *slot);
CK_RV hsm_admin_partition_delete(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len,
                                 const char *name);
CK_RV hsm_admin_policy_set(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len,
                           const char *name, unsigned long value);
/* The certificate in the Admin Token whose DER has this SHA-256 (the
   signer an FM image names): 0 with *der malloc'ed, 1 when there is none. */
int hsm_admin_cert(hsm_t *h, const uint8_t sha256[32], uint8_t **der, size_t *len);
/* The label of that certificate (0; 1 when there is none). */
int hsm_admin_cert_label(hsm_t *h, const uint8_t sha256[32], char *label, size_t cap);
/* The SHA-256 of the Admin Token's certificate labelled so (0; 1 when none). */
int hsm_admin_cert_by_label(hsm_t *h, const char *label, size_t len, uint8_t sha256[32]);
/* The network link (clients.c). The HSM's TLS key and certificate, made
   when the HSM is initialised: 0, 1 when there are none (not initialised). */
int hsm_tls_identity(hsm_t *h, EVP_PKEY **key, X509 **cert);
/* A number that changes whenever the identity is made or erased. */
unsigned hsm_tls_generation(hsm_t *h);

#define HSM_CLIENT_SLOTS_MAX 64
typedef struct hsm_client_info {
    char name[HSM_NAME_MAX + 1];
    uint8_t fp[32];             /* SHA-256 of its certificate */
    bool revoked;
    bool current;               /* the certificate is within its dates now */
    uint64_t created;
    char common_name[64];
    char not_after[16];         /* YYYY-MM-DD */
    CK_SLOT_ID slots[HSM_CLIENT_SLOTS_MAX]; /* partitions assigned, by slot */
    size_t nslots;
} hsm_client_info_t;

/* The HSM SO's changes; each checks the SO PIN. A certificate is DER;
   register gives its SHA-256 in fp. */
CK_RV hsm_client_register(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len, const char *name,
                          const uint8_t *der, size_t der_len, uint8_t fp[32]);
CK_RV hsm_client_delete(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len, const char *name);
CK_RV hsm_client_revoke(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len, const char *name,
                        bool revoked);
CK_RV hsm_client_assign(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len, const char *name,
                        const char *partition, bool assigned);
/* Every client; free *list. */
CK_RV hsm_client_list(hsm_t *h, hsm_client_info_t **list, size_t *n);
/* The client with this certificate hash: 0, 1 when none. */
int hsm_client_lookup(hsm_t *h, const uint8_t fp[32], hsm_client_info_t *out);

/* Append to the audit log a change app made (printf-style; no secrets). */
void hsm_audit(hsm_t *h, app_id_t app, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The audit log's records (all, or the last `last`), the chain checked. */
int hsm_audit_list(hsm_t *h, size_t last, int (*cb)(void *ctx, const store_audit_t *e),
                   void *ctx);
/* Check the HSM SO PIN (for administration done outside the core). */
CK_RV hsm_admin_check(hsm_t *h, const CK_UTF8CHAR *so_pin, CK_ULONG len);
/* A policy's value by name; -1 if there is no such policy. */
int hsm_policy_get(hsm_t *h, const char *name, unsigned long *value);
/* For the calling thread's next requests: an FM under
   CT_SetPrivilegeLevel(PRIVILEGE_OVERRIDE), which may read sensitive
   attributes and use keys regardless of their usage attributes. Never set
   for a host application's requests. */
void hsm_set_privileged(bool on);

/* The store the HSM keeps its state in (FMs keep theirs there too). */
struct store;
struct store *hsm_store(hsm_t *h);

#endif
