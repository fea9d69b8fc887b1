/*
 * Symmetric encryption in the core: known answers (NIST SP 800-38A, the GCM
 * specification's test cases), multi-part equals single-part, the output
 * length rules, and every error the operations name.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

static CK_OBJECT_HANDLE secret(fx_t *f, CK_SESSION_HANDLE s, CK_KEY_TYPE kt, const char *hex,
                               bool enc, bool dec)
{
    CK_BYTE key[32];
    size_t n = unhex(hex, key);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL e = enc, d = dec;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
                         { CKA_VALUE, key, (CK_ULONG)n }, { CKA_ENCRYPT, &e, 1 },
                         { CKA_DECRYPT, &d, 1 } };
    CK_OBJECT_HANDLE o = 0;
    assert_int_equal(hsm_create_object(f->h, A, s, t, 5, &o), CKR_OK);
    return o;
}

#define K128 "2b7e151628aed2a6abf7158809cf4f3c"
#define PT "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"

/* Encrypt with one mechanism; compare with the expected hex. */
static void kat(fx_t *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, CK_MECHANISM *m, const char *pt,
                const char *ct)
{
    CK_BYTE in[64], want[80], out[80], back[80];
    size_t n = unhex(pt, in), wn = unhex(ct, want);
    CK_ULONG len = sizeof out;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, m, k), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, (CK_ULONG)n, out, &len), CKR_OK);
    assert_int_equal(len, wn);
    assert_memory_equal(out, want, wn);
    /* and back, in two uneven parts */
    CK_ULONG a = sizeof back, b;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, m, k), CKR_OK);
    assert_int_equal(hsm_crypt_update(f->h, A, s, HSM_DECRYPT, out, 5, back, &a), CKR_OK);
    b = sizeof back - a;
    assert_int_equal(hsm_crypt_update(f->h, A, s, HSM_DECRYPT, out + 5, len - 5, back + a, &b),
                     CKR_OK);
    a += b;
    b = sizeof back - a;
    assert_int_equal(hsm_crypt_final(f->h, A, s, HSM_DECRYPT, back + a, &b), CKR_OK);
    a += b;
    assert_int_equal(a, n);
    assert_memory_equal(back, in, n);
}

static void test_known_answers(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_OBJECT_HANDLE k = secret(f, s, CKK_AES, K128, true, true);
    CK_BYTE iv[16];
    unhex("000102030405060708090a0b0c0d0e0f", iv);
    CK_MECHANISM ecb = { CKM_AES_ECB, NULL, 0 }, cbc = { CKM_AES_CBC, iv, 16 };
    kat(f, s, k, &ecb, PT, "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf");
    kat(f, s, k, &cbc, PT, "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2");
    CK_AES_CTR_PARAMS ctr = { .ulCounterBits = 128 };
    unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", ctr.cb);
    CK_MECHANISM ctrm = { CKM_AES_CTR, &ctr, sizeof ctr };
    kat(f, s, k, &ctrm, PT, "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff");
    /* GCM test case 2: zero key, zero IV, one zero block. */
    CK_OBJECT_HANDLE z = secret(f, s, CKK_AES, "00000000000000000000000000000000", true, true);
    CK_BYTE giv[12] = { 0 };
    CK_GCM_PARAMS gcm = { giv, 12, 96, NULL, 0, 128 };
    CK_MECHANISM gcmm = { CKM_AES_GCM, &gcm, sizeof gcm };
    kat(f, s, z, &gcmm, "00000000000000000000000000000000",
        "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf");
    /* CBC_PAD round trip of every length around a block. */
    CK_MECHANISM pad = { CKM_AES_CBC_PAD, iv, 16 };
    for (CK_ULONG n = 0; n <= 33; n++) {
        CK_BYTE in[40], out[64], back[64];
        CK_ULONG len = 0, blen = sizeof back;
        memset(in, (int)n, sizeof in);
        assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &pad, k), CKR_OK);
        assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, n, NULL, &len), CKR_OK);
        assert_int_equal(len, (n / 16 + 1) * 16);
        assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, n, out, &len), CKR_OK);
        assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, &pad, k), CKR_OK);
        assert_int_equal(hsm_crypt(f->h, A, s, HSM_DECRYPT, out, len, back, &blen), CKR_OK);
        assert_int_equal(blen, n);
        assert_memory_equal(back, in, n);
    }
    /* DES3: a round trip through CBC. */
    CK_OBJECT_HANDLE d = secret(f, s, CKK_DES3, "0123456789abcdeffedcba987654321089abcdef01234567",
                                true, true);
    CK_MECHANISM des = { CKM_DES3_CBC, iv, 8 };
    CK_BYTE eight[16] = "sixteen bytes!!", dout[16], dback[16];
    CK_ULONG dl = sizeof dout, bl = sizeof dback;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &des, d), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, eight, 16, dout, &dl), CKR_OK);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, &des, d), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_DECRYPT, dout, dl, dback, &bl), CKR_OK);
    assert_memory_equal(dback, eight, 16);
    /* TDEA, NIST SP 800-67 Rev. 1 appendix B: three keys, ECB. */
    CK_OBJECT_HANDLE tk = secret(f, s, CKK_DES3, "0123456789abcdef23456789abcdef01456789abcdef0123",
                                 true, false);
    CK_MECHANISM tecb = { CKM_DES3_ECB, NULL, 0 };
    CK_BYTE fox[] = "The qufck brown fox jump", want[24], got[24];
    CK_ULONG gl = sizeof got;
    unhex("a826fd8ce53b855fcce21c8112256fe668d5c05dd9b6b900", want);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &tecb, tk), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, fox, 24, got, &gl), CKR_OK);
    assert_int_equal(gl, 24);
    assert_memory_equal(got, want, 24);
}

/* Single-part encryption and decryption against expected hex. */
static void kat_single(fx_t *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, CK_MECHANISM *m,
                       const char *pt, const char *ct)
{
    CK_BYTE in[64], want[80], out[80], back[80];
    size_t n = unhex(pt, in), wn = unhex(ct, want);
    CK_ULONG len = sizeof out, blen = 4;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, m, k), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, (CK_ULONG)n, out, &len), CKR_OK);
    assert_int_equal(len, wn);
    assert_memory_equal(out, want, wn);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, m, k), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_DECRYPT, out, len, back, &blen),
                     CKR_BUFFER_TOO_SMALL);
    assert_int_equal(blen, n);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_DECRYPT, out, len, back, &blen), CKR_OK);
    assert_memory_equal(back, in, n);
}

static void test_key_wrap(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_MECHANISM kw = { CKM_AES_KEY_WRAP, NULL, 0 }, kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
    /* RFC 3394 section 4.1 */
    CK_OBJECT_HANDLE k1 = secret(f, s, CKK_AES, "000102030405060708090a0b0c0d0e0f", true, true);
    kat_single(f, s, k1, &kw, "00112233445566778899aabbccddeeff",
               "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5");
    /* RFC 5649 section 6, both examples */
    CK_OBJECT_HANDLE k2 = secret(f, s, CKK_AES, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
                                 true, true);
    kat_single(f, s, k2, &kwp, "c37b7e6492584340bed12207808941155068f738",
               "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a");
    kat_single(f, s, k2, &kwp, "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f");
    /* Lengths the plain wrap does not take; a changed wrapping. */
    CK_BYTE in[24] = { 0 }, out[40];
    CK_ULONG len = sizeof out;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &kw, k1), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, 12, out, &len), CKR_DATA_LEN_RANGE);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &kw, k1), CKR_OK);
    assert_int_equal(hsm_crypt_update(f->h, A, s, HSM_ENCRYPT, in, 16, out, &len),
                     CKR_FUNCTION_NOT_SUPPORTED);
    CK_BYTE wrapped[24];
    unhex("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5", wrapped);
    wrapped[5] ^= 1;
    len = sizeof out;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, &kw, k1), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_DECRYPT, wrapped, 24, out, &len),
                     CKR_ENCRYPTED_DATA_INVALID);
}

static void test_gcm_rules(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_OBJECT_HANDLE k = secret(f, s, CKK_AES, K128, true, true);
    CK_BYTE iv[12] = { 1, 2, 3 }, aad[5] = "head", in[100], ct[116], back[116];
    memset(in, 0x42, sizeof in);
    CK_GCM_PARAMS gcm = { iv, 12, 96, aad, 5, 128 };
    CK_MECHANISM m = { CKM_AES_GCM, &gcm, sizeof gcm };
    CK_ULONG len = sizeof ct, blen = sizeof back;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &m, k), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, 100, ct, &len), CKR_OK);
    assert_int_equal(len, 116);
    /* A changed byte anywhere, or other AAD: CKR_ENCRYPTED_DATA_INVALID. */
    ct[7] ^= 1;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, &m, k), CKR_OK);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_DECRYPT, ct, len, back, &blen),
                     CKR_ENCRYPTED_DATA_INVALID);
    ct[7] ^= 1;
    /* Multi-part decryption releases nothing before the tag is checked. */
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, &m, k), CKR_OK);
    blen = sizeof back;
    assert_int_equal(hsm_crypt_update(f->h, A, s, HSM_DECRYPT, ct, 60, back, &blen), CKR_OK);
    assert_int_equal(blen, 0);
    blen = sizeof back;
    assert_int_equal(hsm_crypt_update(f->h, A, s, HSM_DECRYPT, ct + 60, len - 60, back, &blen),
                     CKR_OK);
    assert_int_equal(blen, 0);
    CK_ULONG small = 10;
    assert_int_equal(hsm_crypt_final(f->h, A, s, HSM_DECRYPT, back, &small), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(small, 100);
    blen = sizeof back;
    assert_int_equal(hsm_crypt_final(f->h, A, s, HSM_DECRYPT, back, &blen), CKR_OK);
    assert_int_equal(blen, 100);
    assert_memory_equal(back, in, 100);
    /* Bad parameters. */
    CK_GCM_PARAMS bad = gcm;
    bad.ulTagBits = 20;
    CK_MECHANISM bm = { CKM_AES_GCM, &bad, sizeof bad };
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &bm, k), CKR_MECHANISM_PARAM_INVALID);
    bad = gcm;
    bad.ulIvLen = 0;
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &bm, k), CKR_MECHANISM_PARAM_INVALID);
    CK_MECHANISM short_param = { CKM_AES_GCM, &gcm, 4 };
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &short_param, k),
                     CKR_MECHANISM_PARAM_INVALID);
}

static void test_operation_rules(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_OBJECT_HANDLE k = secret(f, s, CKK_AES, K128, true, false);
    CK_OBJECT_HANDLE des = secret(f, s, CKK_DES3, "0123456789abcdeffedcba987654321089abcdef01234567",
                                  true, true);
    CK_BYTE iv[16] = { 0 }, in[48] = { 0 }, out[64];
    CK_ULONG len;
    CK_MECHANISM cbc = { CKM_AES_CBC, iv, 16 }, badiv = { CKM_AES_CBC, iv, 8 };
    CK_MECHANISM sha = { CKM_SHA256, NULL, 0 }, ecb = { CKM_AES_ECB, NULL, 0 };
    /* Init checks: mechanism, key handle, key type, usage, parameter. */
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &sha, k), CKR_MECHANISM_INVALID);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &cbc, 999999), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &cbc, des), CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, &cbc, k),
                     CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &badiv, k),
                     CKR_MECHANISM_PARAM_INVALID);
    CK_MECHANISM ecb_param = { CKM_AES_ECB, iv, 16 };
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &ecb_param, k),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, 16, out, &len),
                     CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &cbc, k), CKR_OK);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &ecb, k), CKR_OPERATION_ACTIVE);
    /* Length query and a short buffer keep the operation. */
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, 32, NULL, &len), CKR_OK);
    assert_int_equal(len, 32);
    len = 16;
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, 32, out, &len), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 32);
    /* Not a block multiple: CKR_DATA_LEN_RANGE, and the operation is over. */
    len = sizeof out;
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, 20, out, &len), CKR_DATA_LEN_RANGE);
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, 16, out, &len),
                     CKR_OPERATION_NOT_INITIALIZED);
    /* Multi-part holds partial blocks; single-part may not follow it. */
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &cbc, k), CKR_OK);
    len = sizeof out;
    assert_int_equal(hsm_crypt_update(f->h, A, s, HSM_ENCRYPT, in, 10, out, &len), CKR_OK);
    assert_int_equal(len, 0);
    assert_int_equal(hsm_crypt_update(f->h, A, s, HSM_ENCRYPT, in, 10, NULL, &len), CKR_OK);
    assert_int_equal(len, 16);
    len = sizeof out;
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, 16, out, &len), CKR_OPERATION_ACTIVE);
    assert_int_equal(hsm_crypt_final(f->h, A, s, HSM_ENCRYPT, out, &len), CKR_DATA_LEN_RANGE);
    /* Decryption of a bad padding, and of a ragged length. */
    CK_MECHANISM pad = { CKM_DES3_CBC_PAD, iv, 8 };
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, &pad, des), CKR_OK);
    len = sizeof out;
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_DECRYPT, in, 12, out, &len),
                     CKR_ENCRYPTED_DATA_LEN_RANGE);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_DECRYPT, &pad, des), CKR_OK);
    /* 16 zero bytes decrypt to random-looking padding: almost surely bad. */
    CK_BYTE junk[16];
    memset(junk, 0x5c, sizeof junk);
    len = sizeof out;
    CK_RV rv = hsm_crypt(f->h, A, s, HSM_DECRYPT, junk, 16, out, &len);
    assert_true(rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_OK);
    /* The key was destroyed after init: the operation goes on regardless. */
    CK_OBJECT_HANDLE tmp = secret(f, s, CKK_AES, K128, true, true);
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &ecb, tmp), CKR_OK);
    assert_int_equal(hsm_destroy_object(f->h, A, s, tmp), CKR_OK);
    len = sizeof out;
    assert_int_equal(hsm_crypt(f->h, A, s, HSM_ENCRYPT, in, 16, out, &len), CKR_OK);
    /* Another AppId cannot use this session's operation. */
    assert_int_equal(hsm_crypt(f->h, B, s, HSM_ENCRYPT, in, 16, out, &len),
                     CKR_SESSION_HANDLE_INVALID);
}

static void test_allowed_mechanisms(void **state)
{
    fx_t *f = *state;
    CK_SESSION_HANDLE s = open_user(f, A);
    CK_BYTE key[16] = { 1 };
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_MECHANISM_TYPE only[] = { CKM_AES_GCM };
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
                         { CKA_VALUE, key, 16 }, { CKA_ALLOWED_MECHANISMS, only, sizeof only } };
    CK_OBJECT_HANDLE k;
    assert_int_equal(hsm_create_object(f->h, A, s, t, 4, &k), CKR_OK);
    CK_MECHANISM ecb = { CKM_AES_ECB, NULL, 0 };
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &ecb, k), CKR_MECHANISM_INVALID);
    CK_BYTE iv[12] = { 0 };
    CK_GCM_PARAMS gcm = { iv, 12, 96, NULL, 0, 128 };
    CK_MECHANISM g = { CKM_AES_GCM, &gcm, sizeof gcm };
    assert_int_equal(hsm_crypt_init(f->h, A, s, HSM_ENCRYPT, &g, k), CKR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_wrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gcm_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operation_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allowed_mechanisms, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
