#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

void label32(CK_UTF8CHAR out[32], const char *s)
{
    memset(out, ' ', 32);
    memcpy(out, s, strlen(s));
}

int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/softfm-unit.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(hsm_open(f->dir, &f->h), 0);
    CK_UTF8CHAR lbl[32];
    label32(lbl, "unit-hsm");
    assert_int_equal(hsm_init_token(f->h, A, HSM_ADMIN_SLOT, L(SO_PIN), lbl), CKR_OK);
    assert_int_equal(hsm_admin_partition_create(f->h, L(SO_PIN), "p1", &f->slot), CKR_OK);
    label32(lbl, "part one");
    assert_int_equal(hsm_init_token(f->h, A, f->slot, L(P_SO), lbl), CKR_OK);
    CK_SESSION_HANDLE s;
    assert_int_equal(hsm_open_session(f->h, A, f->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, &s),
                     CKR_OK);
    assert_int_equal(hsm_login(f->h, A, s, CKU_SO, L(P_SO)), CKR_OK);
    assert_int_equal(hsm_init_pin(f->h, A, s, L(USER)), CKR_OK);
    assert_int_equal(hsm_close_session(f->h, A, s), CKR_OK);
    *state = f;
    return 0;
}

int teardown(void **state)
{
    fx_t *f = *state;
    hsm_close(f->h);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

CK_SESSION_HANDLE open_rw(fx_t *f, app_id_t app)
{
    CK_SESSION_HANDLE s = 0;
    assert_int_equal(hsm_open_session(f->h, app, f->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, &s),
                     CKR_OK);
    return s;
}

CK_SESSION_HANDLE open_user(fx_t *f, app_id_t app)
{
    CK_SESSION_HANDLE s = open_rw(f, app);
    assert_int_equal(hsm_login(f->h, app, s, CKU_USER, L(USER)), CKR_OK);
    return s;
}

size_t unhex(const char *hex, CK_BYTE *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return i;
        out[i] = (CK_BYTE)v;
    }
    return n;
}
