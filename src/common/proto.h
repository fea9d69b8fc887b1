/*
 * The softfm request protocol, shared by the daemon and every client.
 *
 * A request frame is: u32 opcode, then the opcode's arguments. A reply frame
 * is: u32 status (a CK_RV), then the results. CK_ULONG values travel as u64.
 * Attribute values whose type is a CK_ULONG (or an array of them) travel as
 * u64 each, so that client and daemon need not share a word size; all other
 * values travel as the bytes the application gave.
 */
#ifndef SOFTFM_PROTO_H
#define SOFTFM_PROTO_H

#include <stdint.h>
#include <p11-kit/pkcs11.h>

#include "wire.h"

#define PROTO_VERSION 1u

enum proto_op {
    OP_HELLO = 1,             /* u32 version -> u64 app id */
    OP_FINALIZE,              /* close every session of the caller's AppId */
    /* Slots and tokens */
    OP_GET_SLOT_LIST = 10,
    OP_GET_SLOT_INFO,
    OP_GET_TOKEN_INFO,
    OP_GET_MECH_LIST,
    OP_GET_MECH_INFO,
    OP_INIT_TOKEN,
    OP_INIT_PIN,
    OP_SET_PIN,
    /* Sessions */
    OP_OPEN_SESSION = 30,
    OP_CLOSE_SESSION,
    OP_CLOSE_ALL_SESSIONS,
    OP_GET_SESSION_INFO,
    OP_LOGIN,
    OP_LOGOUT,
    /* Objects */
    OP_CREATE_OBJECT = 50,
    OP_COPY_OBJECT,
    OP_DESTROY_OBJECT,
    OP_GET_OBJECT_SIZE,
    OP_GET_ATTRIBUTE_VALUE,
    OP_SET_ATTRIBUTE_VALUE,
    OP_FIND_OBJECTS_INIT,
    OP_FIND_OBJECTS,
    OP_FIND_OBJECTS_FINAL,
    /* Digest and random */
    OP_DIGEST_INIT = 70,
    OP_DIGEST,
    OP_DIGEST_UPDATE,
    OP_DIGEST_FINAL,
    OP_SEED_RANDOM,
    OP_GENERATE_RANDOM,
    /* Keys */
    OP_GENERATE_KEY = 90,
    OP_GENERATE_KEY_PAIR,     /* session, mechanism, public and private templates */
    OP_WRAP_KEY,              /* session, mechanism, u64 wrapping key, u64 key, u8 has-out, u64 cap */
    OP_UNWRAP_KEY,            /* session, mechanism, u64 unwrapping key, bytes, template */
    OP_DERIVE_KEY,            /* session, mechanism, u64 base key, template */
    OP_DIGEST_KEY,            /* session, u64 key */
    /* Encryption and decryption: u8 direction (0 encrypt, 1 decrypt) after the
       session. Data calls carry u8 has-output, u64 output capacity, u64 total
       input length, bytes input (empty when only the length is asked). */
    OP_CRYPT_INIT = 110,
    OP_CRYPT,
    OP_CRYPT_UPDATE,
    OP_CRYPT_FINAL,
    /* Signatures and MACs: u8 direction (0 sign, 1 verify) where both apply. */
    OP_SIGN_INIT = 120,       /* session, u8 dir, mechanism, u64 key */
    OP_SIGN,                  /* session, u8 has-out, u64 cap, bytes data */
    OP_SIGN_UPDATE,           /* session, u8 dir, bytes data */
    OP_SIGN_FINAL,            /* session, u8 has-out, u64 cap */
    OP_VERIFY,                /* session, bytes data, bytes signature */
    OP_VERIFY_FINAL,          /* session, bytes signature */
    OP_RECOVER_INIT,          /* session, u8 dir, mechanism, u64 key */
    OP_RECOVER,               /* session, u8 dir, u8 has-out, u64 cap, bytes input */
    /* Administration (HSM SO PIN in each request that changes things) */
    OP_ADMIN_SHOW = 300,
    OP_ADMIN_ZEROIZE,
    OP_ADMIN_PARTITION_CREATE,
    OP_ADMIN_PARTITION_DELETE,
    OP_ADMIN_POLICY_SET,
    OP_ADMIN_FM_LOAD,         /* bytes SO PIN, u8 flags, bytes image [, signer] (req_fm.c) */
    OP_ADMIN_FM_STATUS,       /* -> u32 count, then per FM (see req_fm.c) */
    OP_ADMIN_FM_DELETE,       /* bytes SO PIN, string name or number */
    OP_ADMIN_FM_TRACE,        /* string name, u64 offset -> u64 next offset, bytes text */
    OP_ADMIN_SMFS_ACTIVATE,   /* bytes SO PIN */
    OP_ADMIN_SMFS_BACKUP,     /* bytes SO PIN -> bytes sealed backup */
    OP_ADMIN_SMFS_RESTORE,    /* bytes SO PIN, bytes sealed backup */
    OP_ADMIN_SMFS_STATUS,     /* -> u8 active, u64 capacity, u64 used */
    OP_ADMIN_AUDIT,           /* u32 last (0: all) -> u32 count, records (req_admin.c) */
    OP_ADMIN_CLIENT_REGISTER, /* bytes SO PIN, string name, bytes certificate (DER) */
    OP_ADMIN_CLIENT_DELETE,   /* bytes SO PIN, string name */
    OP_ADMIN_CLIENT_REVOKE,   /* bytes SO PIN, string name, u8 revoked (0: reinstate) */
    OP_ADMIN_CLIENT_ASSIGN,   /* bytes SO PIN, string name, string partition, u8 assigned */
    OP_ADMIN_CLIENT_LIST,     /* -> u32 count, then per client (req_client.c) */
    OP_ADMIN_SERVER_CERT,     /* -> bytes the HSM's TLS certificate (DER; empty: none) */
    /* Messages to FMs (the MD API) */
    OP_MD_SEND = 200,         /* u32 FM number, u32 originator id, u32 timeout ms,
                                 u32 reply capacity, bytes request
                                 -> u32 FM status, bytes reply */
    OP_MD_FM_ID,              /* bytes name -> u32 FM number */
    OP_FMSC_SEND,             /* u64 session, u32 FM number, u32 reply capacity,
                                 bytes request -> u32 FM status, bytes reply */
};

/* The largest FM image (signed or not) a load request carries: a frame
   less room for the PIN and the request's other fields. */
#define SFM_FM_IMAGE_MAX (WIRE_MAX_FRAME - 65536u)

/* softfm's own return codes, for administration (vendor-defined CK_RVs). */
#define SFM_R_NOT_INITIALIZED (CKR_VENDOR_DEFINED + 1) /* the HSM has no SO yet */
#define SFM_R_EXISTS (CKR_VENDOR_DEFINED + 2)          /* a partition of that name exists */
#define SFM_R_NOT_FOUND (CKR_VENDOR_DEFINED + 3)       /* no such partition or policy */
#define SFM_R_BAD_NAME (CKR_VENDOR_DEFINED + 4)        /* a name breaks the naming rules */
#define SFM_R_FM_NOT_AVAILABLE (CKR_VENDOR_DEFINED + 5) /* no such FM, or not running */
#define SFM_R_FM_FAILED (CKR_VENDOR_DEFINED + 6)       /* the FM failed on this request */
#define SFM_R_BAD_IMAGE (CKR_VENDOR_DEFINED + 7)       /* an FM image refused; a reason follows */
#define SFM_R_POLICY (CKR_VENDOR_DEFINED + 8)          /* an HSM policy forbids it */
#define SFM_R_LOCAL_ONLY (CKR_VENDOR_DEFINED + 9)      /* administration: the local shell only */

/* Largest template a request may carry. */
#define PROTO_MAX_ATTRS 256u
/* Largest number of handles one C_FindObjects reply carries. */
#define PROTO_MAX_FIND 4096u
/* "No length": CK_UNAVAILABLE_INFORMATION on the wire. */
#define PROTO_UNAVAILABLE UINT64_MAX

enum attr_kind { ATTR_BYTES, ATTR_ULONG, ATTR_ULONG_ARRAY };

/* How an attribute type's value is laid out. */
enum attr_kind attr_kind(CK_ATTRIBUTE_TYPE type);

/*
 * Templates on the wire: u32 count, then per attribute u64 type, u32 length,
 * bytes. A value whose CK_ULONG length is wrong travels as given, so that the
 * daemon can answer CKR_ATTRIBUTE_VALUE_INVALID for it.
 */
CK_RV proto_put_template(wbuf_t *b, const CK_ATTRIBUTE *t, CK_ULONG n);

/*
 * Attribute arrays (CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE): in an
 * application's template their value is an array of CK_ATTRIBUTE; on the wire
 * and in the HSM it is that array encoded as a template (above), with no
 * array inside it. An empty value means "no template".
 */
bool proto_is_attr_array(CK_ATTRIBUTE_TYPE type);
/* CKR_OK when p is a well-formed encoded array, else
   CKR_ATTRIBUTE_VALUE_INVALID. */
CK_RV proto_check_attr_array(const uint8_t *p, size_t len);
/* C_GetAttributeValue's answer for an array attribute from its encoding:
   the length of the array, or the array's types, lengths and values. */
CK_RV proto_get_attr_array(const uint8_t *p, size_t len, CK_ATTRIBUTE *a);
/* Largest encoded array the module asks the daemon for. */
#define PROTO_MAX_ARRAY_WIRE (64u * 1024u)

/*
 * Decode a template into native CK_ATTRIBUTEs. *out is one allocation holding
 * the array and the values; free it with proto_free_template.
 */
CK_RV proto_get_template(rbuf_t *r, CK_ATTRIBUTE **out, CK_ULONG *n);
void proto_free_template(CK_ATTRIBUTE *t, CK_ULONG n);

/*
 * A mechanism on the wire: u64 type, u8 parameter form, then the parameter.
 * Forms: 0 none; 1 opaque bytes (IVs and other byte strings); 2 an
 * CK_AES_CTR_PARAMS (u64 counter bits, 16 bytes); 3 a CK_GCM_PARAMS (bytes IV,
 * u64 IV bits, bytes AAD, u64 tag bits); 4 a CK_ULONG (u64); 5 a
 * CK_RSA_PKCS_PSS_PARAMS (three u64); 6 a CK_RSA_PKCS_OAEP_PARAMS (u64 hash,
 * u64 MGF, u64 source, bytes label); 7 a CK_ECDH1_DERIVE_PARAMS (u64 KDF,
 * bytes shared data, bytes public data). Structures that hold CK_ULONGs or
 * pointers always travel in their own form, never as memory images.
 */
enum { PARAM_NONE, PARAM_BYTES, PARAM_CTR, PARAM_GCM, PARAM_ULONG, PARAM_PSS, PARAM_OAEP, PARAM_ECDH };

typedef union proto_param {
    CK_AES_CTR_PARAMS ctr;
    CK_GCM_PARAMS gcm;
    CK_ULONG ulong;            /* the _GENERAL MACs' output length */
    CK_RSA_PKCS_PSS_PARAMS pss;
    CK_RSA_PKCS_OAEP_PARAMS oaep;
    CK_ECDH1_DERIVE_PARAMS ecdh;
} proto_param_t;

CK_RV proto_put_mechanism(wbuf_t *b, const CK_MECHANISM *m);
/* The same, with byte strings (IVs, AAD, labels, counter blocks) reduced to
   their lengths: two mechanisms of one shape pass or fail the same checks
   when an operation starts. */
CK_RV proto_put_mechanism_shape(wbuf_t *b, const CK_MECHANISM *m);
/* Decoded parameters point into the request buffer and into *store. */
bool proto_get_mechanism(rbuf_t *r, CK_MECHANISM *m, proto_param_t *store);

/* Native <-> wire length of a value of the given type. */
uint64_t proto_wire_len(CK_ATTRIBUTE_TYPE type, CK_ULONG native_len);
CK_ULONG proto_native_len(CK_ATTRIBUTE_TYPE type, uint64_t wire_len);
/* Encode / decode one value (lengths already converted; sizes checked). */
void proto_put_value(wbuf_t *b, CK_ATTRIBUTE_TYPE type, const void *v, CK_ULONG native_len);
void proto_get_value(const uint8_t *src, uint64_t wire_len, CK_ATTRIBUTE_TYPE type, void *dst);

#endif
