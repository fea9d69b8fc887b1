/*
 * The link between softfmd and an fmhost: frames of the wire codec on a
 * socketpair, each starting with a u32 kind.
 *
 *   fmhost -> daemon, once at start:
 *     FMH_READY    u32 Startup's FM_RV, u32 dispatch model (FMH_MODEL_*),
 *                  u32 number the FM registered, u8 has host-notify
 *     FMH_FAILED   string: why the image could not be started
 *   daemon -> fmhost:
 *     FMH_REQUEST  u32 pid, u32 oid, u32 reply capacity, bytes request
 *                  -> FMH_REPLY u32 FM status, u8 replied (0: the FM did not
 *                     reply and the status is the fmhost's), bytes reply
 *     FMH_APP_CLOSE u32 pid, u8 last (no host process it served is left)
 *                  -> FMH_DONE
 *   fmhost -> daemon, while it handles any of those (or runs Startup):
 *     FMH_CK       u32 AppId, u8 privilege, bytes request (a request of the
 *                  PKCS#11 wire, proto.h) -> FMH_CK_REPLY bytes reply
 *                  (a reply of the PKCS#11 wire: u32 CK_RV, results)
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
    FMH_CK = 20,
    FMH_CK_REPLY,
};

enum fmh_model { FMH_MODEL_NONE = 0, FMH_MODEL_RANDOM = 1, FMH_MODEL_STREAM = 2 };

/* The fmhost's command line: softfm-fmhost FD-LINK FD-IMAGE FD-TRACE NUMBER */
#define FMH_ARGC 5

#endif
