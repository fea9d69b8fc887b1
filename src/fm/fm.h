/*
 * FMs inside the HSM: checking images, the registry of loaded FMs (kept in
 * the store, started again at every HSM start), one fmhost process per FM,
 * and routing host messages to them.
 *
 * Concurrency (ours): an FM handles one request at a time; requests for it
 * from many host processes queue in the order they arrive. Different FMs
 * run in parallel.
 */
#ifndef SOFTFM_FM_H
#define SOFTFM_FM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "common.h"
#include "store.h"

#define FM_HEADER_SIZE 72u
#define FM_NAME_MAX 16
/* Numbers the HSM hands out to images whose header asks for one. */
#define FM_NUMBER_ALLOC_FIRST 0xA000u
#define FM_NUMBER_ALLOCATE 0xFFFEu
/* Largest request or reply an FM exchanges with a host. */
#define FM_MAX_MESSAGE (1024u * 1024u)

typedef struct fm_image_info {
    uint32_t format;
    uint16_t number;               /* as the header says */
    uint8_t version_major, version_minor;
    uint64_t serial;
    uint64_t build_time;
    char manufacturer[33];
    char name[FM_NAME_MAX + 1];    /* the header's product id */
    uint8_t fingerprint[32];       /* SHA-256 of the image */
} fm_image_info_t;

/* 0, or -1 with a one-line reason in why. */
int fm_image_check(const uint8_t *img, size_t n, fm_image_info_t *info, char *why, size_t cap);
/* The same for an FM built for another machine (ELF e_machine), as mkfm
   signs images for HSMs of other architectures. */
int fm_image_check_for(const uint8_t *img, size_t n, uint16_t machine, fm_image_info_t *info,
                       char *why, size_t cap);
/* Architecture names of signed images: this machine's, and the ELF machine
   of one ("x86_64", "aarch64"); -1 for a name softfm does not know. */
const char *fm_host_arch(void);
int fm_arch_machine(const char *arch, uint16_t *machine);

/* Signed images (signed.c, docs/fm-image.md). */
#define FM_SIGNED_MAGIC "SFMFMIMG"
#define FM_SIGNED_FORMAT 1u
#define FM_SIGNED_MAX SFM_FM_IMAGE_MAX
enum { FM_BUILD_DEBUG = 0, FM_BUILD_RELEASE = 1, FM_BUILD_UNSIGNED = 2 /* not a signed image */ };
enum { FM_SIG_RSA_PSS_SHA256 = 1, FM_SIG_ECDSA_SHA256 = 2, FM_SIG_ECDSA_SHA384 = 3 };

typedef struct fm_signed {
    char name[FM_NAME_MAX + 1];
    uint8_t version_major, version_minor;
    char manufacturer[33];
    uint16_t number;
    uint8_t build_type;            /* FM_BUILD_* */
    char arch[16];
    uint64_t build_time;
    uint8_t cert_sha256[32];       /* of the signer's certificate (DER) */
    uint8_t sig_alg;               /* FM_SIG_* */
    const uint8_t *elf;            /* the FM's ELF object */
    size_t elf_len;
    const uint8_t *signed_part;    /* what the signature covers */
    size_t signed_len;
    const uint8_t *sig;            /* DER (ECDSA) or PSS bytes */
    size_t sig_len;
} fm_signed_t;

/* The part a signature covers: header fields and the ELF object. */
int fm_signed_header(wbuf_t *w, const fm_signed_t *s);
/* Parse a signed image (pointers into p): 0, or -1 with a reason. */
int fm_signed_parse(const uint8_t *p, size_t n, fm_signed_t *s, char *why, size_t cap);
/* The key fits the algorithm (RSA 2048-4096 for PSS, P-256/P-384 for ECDSA). */
int fm_signed_check_key(uint8_t alg, EVP_PKEY *pk, char *why, size_t cap);
int fm_signed_verify(const fm_signed_t *s, EVP_PKEY *pk, char *why, size_t cap);
/* The certificate is valid at now (seconds since 1970). */
int fm_signed_cert_ok(X509 *cert, uint64_t now, char *why, size_t cap);
/* All an HSM checks of a signed image but its policies and where the
   certificate comes from: the format, the FM inside and its agreement with
   the signed header, the architecture, that cert_der is the certificate the
   image names and is valid at now, and the signature. 0, or -1 with why. */
int fm_signed_check(const uint8_t *img, size_t n, const uint8_t *cert_der, size_t cert_len,
                    uint64_t now, fm_signed_t *s, char *why, size_t cap);

/* Where a loaded FM came from: its build type, its signer's certificate
   (SHA-256 of the DER; zero for an unsigned image) and the image's size. */
typedef struct fm_origin {
    uint8_t build;                 /* FM_BUILD_* */
    uint8_t signer[32];
    uint32_t image_len;
    uint64_t build_time;           /* the signed header's (0 unsigned) */
} fm_origin_t;
/* The origin of an image fm_accept took (or, failing that, that it would
   describe): 0, or -1 when it is not an image at all. */
int fm_origin(const uint8_t *img, size_t n, bool dev, fm_origin_t *o, const uint8_t **elf,
              size_t *elf_len);

typedef struct fm_registry fm_registry_t;

enum fm_state { FM_STOPPED, FM_RUNNING, FM_FAILED, FM_WAITING /* for SMFS activation */ };

typedef struct fm_status {
    fm_image_info_t info;
    uint16_t number;               /* the number it serves */
    enum fm_state state;
    uint32_t startup_status;       /* Startup's FM_RV */
    unsigned restarts;
    bool unsigned_image;
    fm_origin_t origin;
    uint32_t elf_len;              /* size of the ELF object it runs */
    char why[160];                 /* why it is not running */
} fm_status_t;

/* Results of fm_call and the administration functions. */
enum fm_result {
    FMR_OK = 0,
    FMR_NOT_AVAILABLE,   /* no such FM, or it is not running */
    FMR_FAILED,          /* it crashed or overran its time on this request */
    FMR_EXISTS,          /* an FM of that name or number is loaded */
    FMR_BAD_IMAGE,       /* the image was refused (see why) */
    FMR_POLICY,          /* a policy refuses it (see why) */
    FMR_NOT_FOUND,
    FMR_RESOURCES,
};

/* What the HSM trusts (trust.c): its FM policies, and the Admin Token's
   certificates, found by the SHA-256 of their DER (0 with *der malloc'ed, 1
   when there is none, -1 on failure). */
typedef int (*fm_signer_fn)(void *ctx, const uint8_t sha256[32], uint8_t **der, size_t *len);
typedef struct fm_trust {
    bool allow_fms;       /* policy allow-fms */
    bool allow_unsigned;  /* policy allow-unsigned-fms */
    bool release_only;    /* policy fm-release-only */
    fm_signer_fn signer;
    void *ctx;
} fm_trust_t;
/* Whether the HSM runs an image (dev: an unsigned ELF object, else a signed
   image): 0 with the ELF object to run in *elf (inside img); -1 (the image)
   or -2 (a policy) with a one-line reason. */
int fm_accept(const uint8_t *img, size_t n, bool dev, const fm_trust_t *t, const uint8_t **elf,
              size_t *elf_len, char *why, size_t cap);

/* Open the registry with every FM the store holds, each accepted again under
   trust (one no longer accepted stays, failed, with the reason); data_dir
   holds the trace files. FMs start once the SMFS is active (as the seed says,
   an FM may assume it is): now when smfs_active, else at
   fm_registry_activate_smfs. */
int fm_registry_open(const char *data_dir, store_t *store, bool smfs_active,
                     const fm_trust_t *trust, fm_registry_t **out);
/* Start the stored FMs (after fm_registry_set_cryptoki: Startup may call
   Cryptoki). */
void fm_registry_start(fm_registry_t *r);
/* Activate the SMFS and start the FMs waiting for it. */
void fm_registry_activate_smfs(fm_registry_t *r);
bool fm_registry_smfs_active(fm_registry_t *r);
/* Start every running FM again (after the SMFS was restored: FMs read their
   state from it in Startup). */
void fm_registry_restart_all(fm_registry_t *r);
/* The SMFS's capacity and the file bytes it holds. */
int fm_registry_smfs_usage(fm_registry_t *r, uint64_t *capacity, uint64_t *used);
void fm_registry_close(fm_registry_t *r);

/* Load an image (accepted under trust first: FMR_BAD_IMAGE with the reason
   when not), keep it in the store and start it. */
enum fm_result fm_load(fm_registry_t *r, const uint8_t *img, size_t n, bool dev,
                       const fm_trust_t *trust, fm_status_t *out, char *why, size_t cap);
/* Stop and remove an FM, by name or by number (a name of digits or 0x...). */
enum fm_result fm_delete(fm_registry_t *r, const char *name_or_number);
/* After the HSM is zeroized: stop and forget every FM, and erase their
   traces (the store's copies went with the rest of the store). */
void fm_registry_zeroize(fm_registry_t *r);
/* A snapshot of every FM; free with free(). */
int fm_list(fm_registry_t *r, fm_status_t **out, size_t *n);
int fm_number_of(fm_registry_t *r, const char *name, size_t len, uint16_t *number);

/* A host's message to FM number; the reply (at most reply_cap bytes) is
   written to *reply (malloc'ed, free it) and the FM's status to *status. */
enum fm_result fm_call(fm_registry_t *r, uint16_t number, uint32_t pid, uint32_t oid,
                       const uint8_t *req, size_t len, uint32_t reply_cap,
                       uint32_t timeout_ms, uint32_t *status, uint8_t **reply,
                       size_t *reply_len);

/* A host process ended: the FMs it used hear of it (FMSW_EVENT_APP_CLOSE). */
void fm_app_closed(fm_registry_t *r, uint32_t pid);

/* Runs an FM's Cryptoki request (a request of the PKCS#11 wire) on behalf
   of app, with the FM's privilege level (0 normal, 1 override), writing the
   reply into *reply; -1 when the request is malformed. */
typedef int (*fm_ck_handler_t)(void *ctx, uint16_t fm, uint32_t app, int privilege,
                               const uint8_t *req, size_t len, wbuf_t *reply);
void fm_registry_set_cryptoki(fm_registry_t *r, fm_ck_handler_t fn, void *ctx);

/* Patched Cryptoki functions (patch.c): entries of CprovFnTable_t. */
#define FM_PATCH_ENTRIES 68
#define FM_PATCH_BYTES 16
/* The entry a PKCS#11 request of the wire is (-1: none patchable). */
int fm_patch_entry(const uint8_t *req, size_t len);
/* The FM a request goes to (0: the HSM's own function); the FM that makes
   the request (caller, 0 for hosts) never gets its own calls back. */
uint16_t fm_patch_route(const uint8_t *req, size_t len, uint16_t caller);
/* Publish who patches what (0: nobody). */
void fm_patch_set(const uint16_t owners[FM_PATCH_ENTRIES]);
/* A patched function's request, run by the patching FM's replacement for
   app: the reply (u32 CK_RV and results, as the wire's) into reply. When
   the FM is down the reply is CKR_DEVICE_ERROR. */
void fm_patch_call(fm_registry_t *r, uint16_t fm, uint32_t app, const uint8_t *req, size_t len,
                   wbuf_t *reply);
/* Something that frees FMs' user data happened (FMH_UD_*, fmlink.h): FMs
   that hold user data hear of it before their next request. */
typedef struct fm_ud_event {
    uint8_t event;
    uint32_t app;
    uint64_t slot, session;
} fm_ud_event_t;
void fm_ud_note(fm_registry_t *r, uint8_t event, uint32_t app, uint64_t slot, uint64_t session);

/* The name of entry i ("C_Sign"). */
const char *fm_patch_name(int i);

/* The path of an FM's trace file, for `softfm fm trace`. */
int fm_trace_path(fm_registry_t *r, const char *name, char *buf, size_t cap);

#endif
