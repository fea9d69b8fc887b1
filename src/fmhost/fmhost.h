/*
 * The fmhost: the process one FM runs in. It maps the FM image, installs
 * the call table, calls Startup, then serves the daemon's requests one at a
 * time over its link (src/common/fmlink.h).
 */
#ifndef SOFTFM_FMHOST_H
#define SOFTFM_FMHOST_H

#include <stdbool.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common.h"
#include "fm_calls.h"
#include "fmlink.h"

/* What FM_GetCurrentAppId answers outside a request (FM_DEFAULT_PID). */
#define FMH_NO_APP 0xFFFFFFFFul

/* The request being handled. */
typedef struct fmh_req {
    const uint8_t *req;
    uint32_t req_len;
    uint32_t read_off;        /* stream model: bytes read so far */
    uint32_t pid, oid;
    uint32_t reply_cap;       /* the host's reply buffers, in all */
    uint8_t *reply;
    uint32_t reply_len, reply_room;
    bool replied;
    uint32_t status;
} fmh_req_t;

typedef struct fmhost {
    uint16_t number;
    int link;                 /* to softfmd */
    wire_reader_t rd;         /* frames from softfmd */
    unsigned spin_us;         /* polling before a blocking read */
    int trace_fd;
    enum fmh_model model;
    void *dispatch;
    void (*notify)(int event);
    fmh_req_t *current;       /* NULL outside a request */
    bool in_notify;
    unsigned long app_id, oid;
    int privilege;
    bool forwarding;          /* running a patched function for an application */
} fmhost_t;

extern fmhost_t fmh;
extern fm_calls_t fmh_calls;

/* cryptoki.c: the FM's Cryptoki, and forgetting an AppId that has ended. */
const CK_FUNCTION_LIST *fmh_cryptoki(void);
void fmh_ck_app_closed(unsigned long app);
/* smfs.c: an SMFS request of the FM (see fm_calls.h). */
int fmh_smfs(uint32_t op, const uint8_t *args, uint32_t len, uint8_t *out, uint32_t *out_len);
/* cprov.c: the patchable Cryptoki table. Init fills it with the HSM's
   functions; after Startup, the bitmap of the entries the FM changed (0),
   or -1 with why when it damaged the table. */
#define FMH_CPROV_BYTES 16
void fmh_cprov_init(const CK_FUNCTION_LIST *ck);
void *fmh_cprov_table(void);
int fmh_cprov_patched(uint8_t bits[FMH_CPROV_BYTES], char *why, size_t cap);
/* cprov_serve.c: run an FMH_PKCS11 request (kind read) and put the
   FMH_PKCS11_REPLY frame into w. */
void fmh_cprov_serve(rbuf_t *in, wbuf_t *w);

/* objstate.c: the FM's user data, and the events that free it
   (FMH_UD_*, fmlink.h). */
unsigned long fmh_ud_set(int kind, uint16_t fm, unsigned long key, void *data,
                         void (*free_fn)(void *));
unsigned long fmh_ud_get(int kind, uint16_t fm, unsigned long key, void **out);
void fmh_ud_event(int event, unsigned long app, unsigned long slot, unsigned long session);
bool fmh_ud_any(void);

/* sandbox.c: confine this process (memory limit, seccomp); 0 or -1. */
int fmh_sandbox(void);

void fmh_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
