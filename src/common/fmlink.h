/*
 * The link between softfmd and an fmhost: frames of the wire codec on a
 * socketpair, each starting with a u32 kind.
 *
 *   fmhost -> daemon, once at start:
 *     FMH_READY    u32 Startup's FM_RV, u32 dispatch model (FMH_MODEL_*),
 *                  u32 number the FM registered, u8 has host-notify,
 *                  16 bytes: the Cryptoki table entries it patched (bit i:
 *                  entry i of CprovFnTable_t after numEntries)
 *     FMH_FAILED   string: why the image could not be started
 *   daemon -> fmhost:
 *     FMH_REQUEST  u32 pid, u32 oid, u32 reply capacity, bytes request
 *                  -> FMH_REPLY u32 FM status, u8 replied (0: the FM did not
 *                     reply and the status is the fmhost's), bytes reply
 *     FMH_APP_CLOSE u32 pid, u8 last (no host process it served is left)
 *                  -> FMH_DONE
 *     FMH_UD_EVENT u8 FMH_UD_*, u32 AppId, u64 slot, u64 session: free the
 *                  FM's user data that went with them -> FMH_DONE
 *     FMH_PKCS11   u32 AppId, bytes request: a request of the PKCS#11 wire
 *                  for a function the FM patched -> FMH_PKCS11_REPLY bytes
 *                  reply (u32 CK_RV, results)
 *   fmhost -> daemon, while it handles any of those (or runs Startup):
 *     FMH_CK       u32 AppId, u8 privilege, bytes request (a request of the
 *                  PKCS#11 wire, proto.h) -> FMH_CK_REPLY bytes reply
 *                  (a reply of the PKCS#11 wire: u32 CK_RV, results)
 *     FMH_SMFS     u32 SMFS_OP_*, its arguments -> FMH_SMFS_REPLY u32 SMFS
 *                  return code, results (see the list below)
 */
#ifndef SOFTFM_FMLINK_H
#define SOFTFM_FMLINK_H

enum fmh_kind {
    FMH_READY = 1,
    FMH_FAILED,
    FMH_REQUEST = 10,
    FMH_REPLY,
    FMH_APP_CLOSE,
    FMH_DONE,
    FMH_PKCS11,
    FMH_PKCS11_REPLY,
    FMH_UD_EVENT,
    FMH_CK = 20,
    FMH_CK_REPLY,
    FMH_SMFS = 30,
    FMH_SMFS_REPLY,
};

/* SMFS requests (strings are u32 length + bytes): arguments -> results. */
enum fmh_smfs_op {
    SMFS_OP_CREATE_DIR = 1, /* path, u32 entries */
    SMFS_OP_CREATE_FILE,    /* path, u32 length */
    SMFS_OP_DELETE,         /* path */
    SMFS_OP_OPEN,           /* path -> u32 handle */
    SMFS_OP_CLOSE,          /* u32 handle */
    SMFS_OP_READ,           /* u32 handle, u32 offset, u32 count -> bytes */
    SMFS_OP_WRITE,          /* u32 handle, u32 offset, bytes */
    SMFS_OP_ATTR,           /* path -> u32 size, u32 is-dir */
    SMFS_OP_OPEN_ATTR,      /* u32 handle -> u32 size, u32 is-dir */
    SMFS_OP_RENAME,         /* path, bare new name */
    SMFS_OP_CALC_FREE,      /* -> u32 free bytes */
    SMFS_OP_FIND_INIT,      /* path, pattern -> u32 search handle */
    SMFS_OP_FIND,           /* u32 search handle, u32 room -> bytes name */
    SMFS_OP_FIND_CLOSE,     /* u32 search handle */
};

/* What ended, for the FM's user data. */
enum fmh_ud_event {
    FMH_UD_SESSION_CLOSED = 1, /* an application's session */
    FMH_UD_SLOT_CLOSED,        /* all of an application's sessions on a slot */
    FMH_UD_APP_GONE,           /* an application finalised or ended */
    FMH_UD_TOKEN_RESET,        /* a token was initialised again */
    FMH_UD_ALL_GONE,           /* the last application of the HSM has gone */
};

/* Every reply of the fmhost (FMH_READY, FMH_REPLY, FMH_PKCS11_REPLY,
   FMH_DONE) ends with u8: the FM holds user data (the daemon then tells it
   of the events above). */

enum fmh_model { FMH_MODEL_NONE = 0, FMH_MODEL_RANDOM = 1, FMH_MODEL_STREAM = 2 };

/* The fmhost's command line: softfm-fmhost FD-LINK FD-IMAGE FD-TRACE NUMBER */
#define FMH_ARGC 5

#endif
