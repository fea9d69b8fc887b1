/*
 * The unit tests' fixture: a fresh HSM in a temporary directory, initialised,
 * with partition "p1" whose Crypto Officer PIN is USER.
 */
#ifndef SOFTFM_TEST_FIXTURE_H
#define SOFTFM_TEST_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hsm.h"

#define SO_PIN "hsm-so-pin"
#define P_SO "part-so-pin"
#define USER "user-pin"
#define L(s) (CK_UTF8CHAR_PTR)(s), (CK_ULONG)strlen(s)

static const app_id_t A = 1001, B = 1002;

typedef struct fx {
    char dir[64];
    hsm_t *h;
    CK_SLOT_ID slot;
} fx_t;

void label32(CK_UTF8CHAR out[32], const char *s);
int setup(void **state);
int teardown(void **state);
CK_SESSION_HANDLE open_rw(fx_t *f, app_id_t app);
/* open_rw, logged in as the Crypto Officer */
CK_SESSION_HANDLE open_user(fx_t *f, app_id_t app);
/* Hex to bytes; returns the byte count. */
size_t unhex(const char *hex, CK_BYTE *out);

#endif
