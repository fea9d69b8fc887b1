/*
 * Integration-test harness: a real softfmd on a temporary directory and
 * socket, and libsoftfm-pkcs11 loaded with dlopen as applications load it.
 */
#ifndef SOFTFM_HARNESS_H
#define SOFTFM_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <p11-kit/pkcs11.h>

typedef struct daemon_proc {
    char dir[128];
    char data[160];
    char sock[160];
    char listen[64];   /* HOST:PORT for --listen, or empty */
    pid_t pid;
} daemon_proc_t;

/* Paths come from SOFTFMD and SOFTFM_MODULE (set by CTest). */
int daemon_start(daemon_proc_t *d);          /* new temp dir on first start */
void daemon_stop(daemon_proc_t *d, int sig); /* SIGTERM or SIGKILL; waits */
void daemon_cleanup(daemon_proc_t *d);

CK_FUNCTION_LIST_PTR module_load(void);

/* Initialise the HSM, create a partition, init its token and CO PIN. */
#define T_SO_PIN "hsm-so-pin"
#define T_PSO_PIN "part-so-pin"
#define T_USER_PIN "user-pin-1"
int hsm_setup(CK_FUNCTION_LIST_PTR p, const char *sock, CK_SLOT_ID *slot);

/* An administration request with the HSM SO PIN pin: u8 flags when
   with_flags, then arg as bytes when given. Returns the daemon's status;
   *reason gets the text that comes with a refusal. */
CK_RV admin(const char *sock, uint32_t op, const void *arg, size_t len, int with_flags,
            const char *pin, char *reason, size_t cap);
CK_RV set_policy(const char *sock, const char *name, uint64_t v);
/* A whole file (at most 4 MiB), malloc'ed. */
uint8_t *read_file(const char *path, size_t *n);
/* An FM's state, Startup status and number from the status list
   (0xFFFFFFFF each when it is not listed). */
void fm_status_of(const char *sock, const char *name, uint32_t *state, uint32_t *startup,
                  uint32_t *number);
/* Load the FM image at path, unsigned (the development policy must allow it). */
CK_RV load_fm(const char *sock, const char *path, char *reason, size_t cap);

#endif
