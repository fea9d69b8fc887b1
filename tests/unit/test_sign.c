/*
 * MACs in the core: RFC 2202/4231 HMAC and NIST SP 800-38B CMAC known
 * answers, the _GENERAL truncations, verification, and the operation rules.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

static CK_OBJECT_HANDLE key(fx_t *f, CK_SESSION_HANDLE s, CK_KEY_TYPE kt, const CK_BYTE *v,
                            CK_ULONG n, bool sign)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL sg = sign;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
                         { CKA_VALUE, (void *)v, n }, { CKA_SIGN, &sg, 1 } };
    CK_OBJECT_HANDLE o = 0;
    assert_int_equal(hsm_create_object(f->h, A, s, t, 4, &o), CKR_OK);
    return o;
}

/* Sign data with m and k; compare with hex; then verify it. */
static void mac_kat(fx_t *f, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE k,
                    const CK_BYTE *data, CK_ULONG n, const char *hex)
{
    CK_BYTE want[64], sig[64];
    size_t wn = unhex(hex, want);
    CK_ULONG len = sizeof sig;
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, m, k), CKR_OK);
    assert_int_equal(hsm_sign(f->h, A, s, data, n, sig, &len), CKR_OK);
    assert_int_equal(len, wn);
    assert_memory_equal(sig, want, wn);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, m, k), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, data, n, sig, len), CKR_OK);
}

static void test_known_answers(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_BYTE k20[20];
    memset(k20, 0x0b, sizeof k20);
    CK_OBJECT_HANDLE hk = key(f, s, CKK_GENERIC_SECRET, k20, 20, true);
    const CK_BYTE *hi = (const CK_BYTE *)"Hi There";
    CK_MECHANISM sha1 = { CKM_SHA_1_HMAC, NULL, 0 }, sha256 = { CKM_SHA256_HMAC, NULL, 0 };
    CK_MECHANISM sha512 = { CKM_SHA512_HMAC, NULL, 0 };
    mac_kat(f, s, &sha1, hk, hi, 8, "b617318655057264e28bc0b6fb378c8ef146be00");
    mac_kat(f, s, &sha256, hk, hi, 8,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    mac_kat(f, s, &sha512, hk, hi, 8,
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
            "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854");
    CK_ULONG sixteen = 16;
    CK_MECHANISM gen = { CKM_SHA256_HMAC_GENERAL, &sixteen, sizeof sixteen };
    mac_kat(f, s, &gen, hk, hi, 8, "b0344c61d8db38535ca8afceaf0bf12b");
    /* An HMAC key type of the mechanism's hash fits too. */
    CK_OBJECT_HANDLE typed = key(f, s, CKK_SHA256_HMAC, k20, 20, true);
    mac_kat(f, s, &sha256, typed, hi, 8,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* CMAC, SP 800-38B examples 1 and 2. */
    CK_BYTE aes[16], msg[16];
    unhex("2b7e151628aed2a6abf7158809cf4f3c", aes);
    unhex("6bc1bee22e409f96e93d7e117393172a", msg);
    CK_OBJECT_HANDLE ak = key(f, s, CKK_AES, aes, 16, true);
    CK_MECHANISM cmac = { CKM_AES_CMAC, NULL, 0 };
    mac_kat(f, s, &cmac, ak, NULL, 0, "bb1d6929e95937287fa37d129b756746");
    mac_kat(f, s, &cmac, ak, msg, 16, "070a16b46b4d4144f79bdd9dd04a287c");
    CK_ULONG eight = 8;
    CK_MECHANISM cgen = { CKM_AES_CMAC_GENERAL, &eight, sizeof eight };
    mac_kat(f, s, &cgen, ak, msg, 16, "070a16b46b4d4144");
}

static void test_rules(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_BYTE kv[32] = { 7 }, sig[64], data[100];
    memset(data, 0x61, sizeof data);
    CK_OBJECT_HANDLE k = key(f, s, CKK_GENERIC_SECRET, kv, 32, true);
    CK_OBJECT_HANDLE nosign = key(f, s, CKK_GENERIC_SECRET, kv, 32, false);
    CK_OBJECT_HANDLE aes = key(f, s, CKK_AES, kv, 16, true);
    CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
    CK_ULONG len;
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, nosign),
                     CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, aes), CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, 4242), CKR_KEY_HANDLE_INVALID);
    CK_ULONG too_long = 33;
    CK_MECHANISM g = { CKM_SHA256_HMAC_GENERAL, &too_long, sizeof too_long };
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &g, k), CKR_MECHANISM_PARAM_INVALID);
    CK_MECHANISM with = { CKM_SHA256_HMAC, kv, 4 };
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &with, k), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(hsm_sign(f->h, A, s, data, 10, sig, &len), CKR_OPERATION_NOT_INITIALIZED);
    /* Single-part: length query, short buffer, then the MAC. */
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, k), CKR_OK);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, k), CKR_OPERATION_ACTIVE);
    assert_int_equal(hsm_sign(f->h, A, s, data, 100, NULL, &len), CKR_OK);
    assert_int_equal(len, 32);
    len = 10;
    assert_int_equal(hsm_sign(f->h, A, s, data, 100, sig, &len), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 32);
    CK_BYTE single[32];
    len = sizeof single;
    assert_int_equal(hsm_sign(f->h, A, s, data, 100, single, &len), CKR_OK);
    /* Multi-part gives the same; single-part cannot follow an update. */
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, k), CKR_OK);
    assert_int_equal(hsm_sign_update(f->h, A, s, HSM_SIGN, data, 30), CKR_OK);
    len = sizeof sig;
    assert_int_equal(hsm_sign(f->h, A, s, data, 70, sig, &len), CKR_OPERATION_ACTIVE);
    assert_int_equal(hsm_sign_update(f->h, A, s, HSM_SIGN, data + 30, 70), CKR_OK);
    assert_int_equal(hsm_sign_final(f->h, A, s, sig, &len), CKR_OK);
    assert_memory_equal(sig, single, 32);
    assert_int_equal(hsm_sign_final(f->h, A, s, sig, &len), CKR_OPERATION_NOT_INITIALIZED);
    /* Verification: a changed MAC, a wrong length, multi-part. */
    CK_MECHANISM v = { CKM_SHA256_HMAC, NULL, 0 };
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE gkt = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE vt[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &gkt, sizeof gkt },
                          { CKA_VALUE, kv, 32 }, { CKA_VERIFY, &yes, 1 } };
    CK_OBJECT_HANDLE vk;
    assert_int_equal(hsm_create_object(f->h, A, s, vt, 4, &vk), CKR_OK);
    single[0] ^= 1;
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &v, vk), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, data, 100, single, 32), CKR_SIGNATURE_INVALID);
    single[0] ^= 1;
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &v, vk), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, data, 100, single, 31), CKR_SIGNATURE_LEN_RANGE);
    assert_int_equal(hsm_verify(f->h, A, s, data, 100, single, 32),
                     CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &v, vk), CKR_OK);
    assert_int_equal(hsm_sign_update(f->h, A, s, HSM_VERIFY, data, 99), CKR_OK);
    assert_int_equal(hsm_sign_update(f->h, A, s, HSM_VERIFY, data + 99, 1), CKR_OK);
    assert_int_equal(hsm_verify_final(f->h, A, s, single, 32), CKR_OK);
    /* A generated generic secret signs; the sign and verify of one session
       run side by side. */
    CK_MECHANISM kg = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
    CK_ULONG klen = 32;
    CK_ATTRIBUTE gt[] = { { CKA_VALUE_LEN, &klen, sizeof klen } };
    CK_OBJECT_HANDLE gk;
    assert_int_equal(hsm_generate_key(f->h, A, s, &kg, gt, 1, &gk), CKR_OK);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_SIGN, &m, gk), CKR_OK);
    assert_int_equal(hsm_sign_init(f->h, A, s, HSM_VERIFY, &m, gk), CKR_OK);
    len = sizeof sig;
    assert_int_equal(hsm_sign(f->h, A, s, data, 5, sig, &len), CKR_OK);
    assert_int_equal(hsm_verify(f->h, A, s, data, 5, sig, len), CKR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
