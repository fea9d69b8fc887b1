/*
 * libFuzzer target: the daemon's request decoder in front of a real HSM core
 * (initialised once, with a partition, a logged-in session and objects), so
 * that every request decoder and the core behind it see arbitrary input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"

static hsm_t *h;
static const app_id_t app = 4242;

static void setup(void)
{
    char dir[] = "/tmp/softfm-fuzz.XXXXXX";
    if (!mkdtemp(dir) || hsm_open(dir, &h))
        abort();
    CK_UTF8CHAR label[32];
    memset(label, ' ', sizeof label);
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE s;
    if (hsm_init_token(h, app, 0, (CK_UTF8CHAR_PTR)"sopin123", 8, label) ||
        hsm_admin_partition_create(h, (CK_UTF8CHAR_PTR)"sopin123", 8, "f", &slot) ||
        hsm_init_token(h, app, slot, (CK_UTF8CHAR_PTR)"psopin12", 8, label) ||
        hsm_open_session(h, app, slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, &s) ||
        hsm_login(h, app, s, CKU_SO, (CK_UTF8CHAR_PTR)"psopin12", 8) ||
        hsm_init_pin(h, app, s, (CK_UTF8CHAR_PTR)"userpin1", 8) || hsm_logout(h, app, s) ||
        hsm_login(h, app, s, CKU_USER, (CK_UTF8CHAR_PTR)"userpin1", 8))
        abort();
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_LABEL, "x", 1 } };
    CK_OBJECT_HANDLE o;
    if (hsm_create_object(h, app, s, t, 2, &o))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!h)
        setup();
    /* Requests that change the HSM's administration would make runs
       depend on each other (and zeroize would undo the set-up). */
    if (size >= 4) {
        uint32_t op = be32_get(data);
        if (op >= OP_ADMIN_ZEROIZE || op == OP_INIT_TOKEN || op == OP_INIT_PIN ||
            op == OP_SET_PIN || op == OP_LOGIN || op == OP_CLOSE_ALL_SESSIONS)
            return 0;
    }
    wbuf_t reply;
    wb_init(&reply);
    /* Half the runs as a network client that sees slot 1 only (the length's
       lowest bit decides, so the request bytes stay the fuzzer's). */
    static const CK_SLOT_ID seen[] = { 1 };
    static const dispatch_scope_t scope = { seen, 1 };
    if (size & 1)
        (void)dispatch_scoped(h, app, &scope, data, size, &reply);
    else
        (void)dispatch(h, app, data, size, &reply);
    wb_free(&reply);
    return 0;
}
