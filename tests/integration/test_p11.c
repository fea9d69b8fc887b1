/*
 * libsoftfm-pkcs11 against a real softfmd: the PKCS#11 entries, their bad
 * inputs, AppIds across processes, fork, a daemon that goes away and
 * comes back, and garbage on the wire.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "harness.h"

#define PIN(s) (CK_UTF8CHAR_PTR)(s), (CK_ULONG)strlen(s)

static daemon_proc_t d;
static CK_FUNCTION_LIST_PTR p;
static CK_SLOT_ID slot;

static int group_setup(void **state)
{
    (void)state;
    if (daemon_start(&d))
        return -1;
    setenv("SOFTFM_SOCKET", d.sock, 1);
    p = module_load();
    if (!p || p->C_Initialize(NULL) != CKR_OK)
        return -1;
    return hsm_setup(p, d.sock, &slot);
}

static int group_teardown(void **state)
{
    (void)state;
    if (p)
        p->C_Finalize(NULL);
    daemon_cleanup(&d);
    return 0;
}

static CK_SESSION_HANDLE open_user(void)
{
    CK_SESSION_HANDLE s;
    assert_int_equal(p->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
                     CKR_OK);
    CK_RV rv = p->C_Login(s, CKU_USER, PIN(T_USER_PIN));
    assert_true(rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN);
    return s;
}

static void test_initialize_rules(void **state)
{
    (void)state;
    assert_int_equal(p->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    assert_int_equal(p->C_Finalize((void *)1), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_Finalize(NULL), CKR_OK);
    assert_int_equal(p->C_GetSlotList(CK_TRUE, NULL, &(CK_ULONG){0}),
                     CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_int_equal(p->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    CK_C_INITIALIZE_ARGS bad = { .pReserved = (void *)1 };
    assert_int_equal(p->C_Initialize(&bad), CKR_ARGUMENTS_BAD);
    CK_C_INITIALIZE_ARGS partial = { .CreateMutex = (CK_CREATEMUTEX)1 };
    assert_int_equal(p->C_Initialize(&partial), CKR_ARGUMENTS_BAD);
    CK_C_INITIALIZE_ARGS os = { .flags = CKF_OS_LOCKING_OK };
    assert_int_equal(p->C_Initialize(&os), CKR_OK);
    CK_INFO info;
    assert_int_equal(p->C_GetInfo(&info), CKR_OK);
    assert_int_equal(info.cryptokiVersion.major, 2);
    assert_int_equal(info.cryptokiVersion.minor, 40);
    assert_int_equal(p->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_Finalize(NULL), CKR_OK);
    assert_int_equal(p->C_Initialize(NULL), CKR_OK);
}

static void test_slots_and_tokens(void **state)
{
    (void)state;
    CK_ULONG n = 0;
    assert_int_equal(p->C_GetSlotList(CK_TRUE, NULL, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    assert_int_equal(n, 2);
    CK_SLOT_ID list[2];
    n = 1;
    assert_int_equal(p->C_GetSlotList(CK_FALSE, list, &n), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 2);
    assert_int_equal(p->C_GetSlotList(CK_FALSE, list, &n), CKR_OK);
    assert_int_equal(list[0], 0);
    assert_int_equal(list[1], slot);
    CK_SLOT_INFO si;
    assert_int_equal(p->C_GetSlotInfo(slot, &si), CKR_OK);
    assert_true(si.flags & CKF_TOKEN_PRESENT);
    assert_int_equal(p->C_GetSlotInfo(4242, &si), CKR_SLOT_ID_INVALID);
    assert_int_equal(p->C_GetSlotInfo(slot, NULL), CKR_ARGUMENTS_BAD);
    CK_TOKEN_INFO ti;
    assert_int_equal(p->C_GetTokenInfo(slot, &ti), CKR_OK);
    assert_memory_equal(ti.label, "it-token ", 9);
    assert_true(ti.flags & CKF_TOKEN_INITIALIZED && ti.flags & CKF_USER_PIN_INITIALIZED);
    assert_true(ti.ulTotalPublicMemory == CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(ti.ulMinPinLen, 4);
    assert_true(ti.utcTime[0] == '2' && ti.utcTime[14] == '0');
    CK_MECHANISM_TYPE mechs[64];
    CK_ULONG all = 64;
    assert_int_equal(p->C_GetMechanismList(slot, mechs, &all), CKR_OK);
    bool has_sha256 = false, has_aes_gen = false;
    for (CK_ULONG i = 0; i < all; i++) {
        has_sha256 |= mechs[i] == CKM_SHA256;
        has_aes_gen |= mechs[i] == CKM_AES_KEY_GEN;
    }
    assert_true(has_sha256 && has_aes_gen);
    n = 2;
    assert_int_equal(p->C_GetMechanismList(slot, mechs, &n), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(n, all);
    CK_MECHANISM_INFO mi;
    assert_int_equal(p->C_GetMechanismInfo(slot, CKM_SHA512, &mi), CKR_OK);
    assert_true(mi.flags & CKF_DIGEST);
    assert_int_equal(p->C_GetMechanismInfo(slot, CKM_AES_GCM, &mi), CKR_OK);
    assert_true((mi.flags & (CKF_ENCRYPT | CKF_DECRYPT | CKF_HW)) ==
                (CKF_ENCRYPT | CKF_DECRYPT | CKF_HW));
    assert_int_equal(mi.ulMinKeySize, 16);
    assert_int_equal(mi.ulMaxKeySize, 32);
    assert_int_equal(p->C_GetMechanismInfo(slot, CKM_MD5, &mi), CKR_MECHANISM_INVALID);
}

static void test_session_bad_input(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s;
    assert_int_equal(p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, NULL),
                     CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_OpenSession(9999, CKF_SERIAL_SESSION, NULL, NULL, &s),
                     CKR_SLOT_ID_INVALID);
    assert_int_equal(p->C_OpenSession(slot, 0, NULL, NULL, &s),
                     CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    assert_int_equal(p->C_CloseSession(123456), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(p->C_GetSessionInfo(123456, &(CK_SESSION_INFO){0}),
                     CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    assert_int_equal(p->C_GetSessionInfo(s, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_Login(s, CKU_USER, NULL, 5), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_Login(s, CKU_USER, PIN("wrong")), CKR_PIN_INCORRECT);
    assert_int_equal(p->C_Logout(s), CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(p->C_InitPIN(s, PIN("abcdef")), CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(p->C_SetPIN(s, PIN(T_USER_PIN), PIN("other-pin")), CKR_SESSION_READ_ONLY);
    assert_int_equal(p->C_InitToken(slot, PIN(T_PSO_PIN), NULL), CKR_ARGUMENTS_BAD);
    CK_UTF8CHAR label[32];
    memset(label, ' ', sizeof label);
    assert_int_equal(p->C_InitToken(slot, PIN(T_PSO_PIN), label), CKR_SESSION_EXISTS);
    assert_int_equal(p->C_DigestEncryptUpdate(s, NULL, 0, NULL, &(CK_ULONG){ 0 }),
                     CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(p->C_EncryptInit(777777, &(CK_MECHANISM){ CKM_AES_ECB, NULL, 0 }, 1),
                     CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(p->C_GetFunctionStatus(s), CKR_FUNCTION_NOT_PARALLEL);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
    assert_int_equal(p->C_CloseSession(s), CKR_SESSION_HANDLE_INVALID);
}

static void test_objects_over_the_wire(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = open_user();
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_BYTE key[32];
    memset(key, 0x5a, sizeof key);
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
                         { CKA_VALUE, key, sizeof key }, { CKA_LABEL, "wire-key", 8 },
                         { CKA_SENSITIVE, &no, 1 }, { CKA_EXTRACTABLE, &yes, 1 } };
    CK_OBJECT_HANDLE o;
    assert_int_equal(p->C_CreateObject(s, t, 6, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_CreateObject(s, NULL, 3, &o), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_CreateObject(s, t, 6, &o), CKR_OK);
    /* CK_ULONG attributes and byte values come back as the application
       expects them; an extractable, non-sensitive value is readable. */
    CK_OBJECT_CLASS got_cls = 0;
    CK_ULONG vlen = 0;
    CK_BYTE val[32], small[4];
    CK_ATTRIBUTE get[] = { { CKA_CLASS, &got_cls, sizeof got_cls },
                           { CKA_VALUE_LEN, &vlen, sizeof vlen }, { CKA_VALUE, val, sizeof val },
                           { CKA_LABEL, NULL, 0 } };
    assert_int_equal(p->C_GetAttributeValue(s, o, get, 4), CKR_OK);
    assert_int_equal(got_cls, CKO_SECRET_KEY);
    assert_int_equal(vlen, 32);
    assert_memory_equal(val, key, 32);
    assert_int_equal(get[3].ulValueLen, 8);
    CK_ATTRIBUTE tiny[] = { { CKA_LABEL, small, sizeof small }, { CKA_ID, NULL, 0 },
                            { CKA_MODULUS, NULL, 0 } };
    CK_RV rv = p->C_GetAttributeValue(s, o, tiny, 3);
    assert_true(rv == CKR_BUFFER_TOO_SMALL || rv == CKR_ATTRIBUTE_TYPE_INVALID);
    assert_true(tiny[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(tiny[1].ulValueLen, 0);
    assert_true(tiny[2].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(p->C_GetAttributeValue(s, o, NULL, 1), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_GetAttributeValue(s, 999999, get, 1), CKR_OBJECT_HANDLE_INVALID);
    /* Once sensitive, never readable again. */
    CK_ATTRIBUTE mk_sens = { CKA_SENSITIVE, &yes, 1 };
    assert_int_equal(p->C_SetAttributeValue(s, o, &mk_sens, 1), CKR_OK);
    get[2].ulValueLen = sizeof val;
    assert_int_equal(p->C_GetAttributeValue(s, o, &get[2], 1), CKR_ATTRIBUTE_SENSITIVE);
    assert_true(get[2].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    CK_ULONG size = 0;
    assert_int_equal(p->C_GetObjectSize(s, o, &size), CKR_OK);
    assert_true(size > 32);
    assert_int_equal(p->C_GetObjectSize(s, o, NULL), CKR_ARGUMENTS_BAD);
    /* Search, in small and large steps. */
    CK_ATTRIBUTE q = { CKA_LABEL, "wire-key", 8 };
    CK_OBJECT_HANDLE found[4];
    CK_ULONG n = 0;
    assert_int_equal(p->C_FindObjects(s, found, 4, &n), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(p->C_FindObjectsInit(s, &q, 1), CKR_OK);
    assert_int_equal(p->C_FindObjects(s, NULL, 4, &n), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_FindObjects(s, found, 4, &n), CKR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(found[0], o);
    assert_int_equal(p->C_FindObjects(s, found, 4, &n), CKR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(p->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(p->C_FindObjectsFinal(s), CKR_OPERATION_NOT_INITIALIZED);
    CK_OBJECT_HANDLE c;
    CK_ATTRIBUTE ct = { CKA_LABEL, "copy", 4 };
    assert_int_equal(p->C_CopyObject(s, o, &ct, 1, &c), CKR_OK);
    assert_int_equal(p->C_DestroyObject(s, c), CKR_OK);
    assert_int_equal(p->C_DestroyObject(s, o), CKR_OK);
    assert_int_equal(p->C_DestroyObject(s, o), CKR_OBJECT_HANDLE_INVALID);
    /* An oversized template is refused whole. */
    CK_ATTRIBUTE *big = calloc(300, sizeof *big);
    for (int i = 0; i < 300; i++)
        big[i] = (CK_ATTRIBUTE){ CKA_LABEL, "x", 1 };
    assert_int_equal(p->C_CreateObject(s, big, 300, &o), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_FindObjectsInit(s, big, 300), CKR_ARGUMENTS_BAD);
    free(big);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

static void test_digest_and_random(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s;
    assert_int_equal(p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    /* 3 MiB: more than one frame, sent in pieces by the module. */
    size_t big = 3u << 20;
    CK_BYTE *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (CK_BYTE)(i * 31 + 7);
    CK_BYTE want[32], got[32];
    SHA256(data, big, want);
    CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
    CK_ULONG len = sizeof got;
    assert_int_equal(p->C_DigestInit(s, &m), CKR_OK);
    len = 16;
    assert_int_equal(p->C_Digest(s, data, (CK_ULONG)big, got, &len), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 32);
    assert_int_equal(p->C_Digest(s, data, (CK_ULONG)big, got, &len), CKR_OK);
    assert_memory_equal(got, want, 32);
    assert_int_equal(p->C_DigestInit(s, &m), CKR_OK);
    assert_int_equal(p->C_DigestUpdate(s, data, (CK_ULONG)big), CKR_OK);
    assert_int_equal(p->C_DigestFinal(s, NULL, &len), CKR_OK);
    assert_int_equal(p->C_DigestFinal(s, got, &len), CKR_OK);
    assert_memory_equal(got, want, 32);
    CK_MECHANISM withparam = { CKM_SHA256, "x", 1 };
    assert_int_equal(p->C_DigestInit(s, &withparam), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(p->C_DigestInit(s, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_GenerateRandom(s, data, (CK_ULONG)big), CKR_OK);
    assert_int_equal(p->C_GenerateRandom(s, NULL, 5), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_SeedRandom(s, (CK_BYTE *)"seed", 4), CKR_OK);
    assert_int_equal(p->C_GenerateRandom(424242, data, 8), CKR_SESSION_HANDLE_INVALID);
    free(data);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

/* AES through the wire: GCM's parameter structure, and data larger than a
   frame, checked against OpenSSL outside the HSM. */
static void test_encryption_over_the_wire(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = open_user();
    CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 };
    CK_ULONG len32 = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = { { CKA_VALUE_LEN, &len32, sizeof len32 }, { CKA_SENSITIVE, &no, 1 },
                         { CKA_EXTRACTABLE, &yes, 1 } };
    CK_OBJECT_HANDLE k;
    assert_int_equal(p->C_GenerateKey(s, &gen, t, 3, &k), CKR_OK);
    CK_BYTE key[32];
    CK_ATTRIBUTE kv = { CKA_VALUE, key, sizeof key };
    assert_int_equal(p->C_GetAttributeValue(s, k, &kv, 1), CKR_OK);

    size_t big = (3u << 20) + 5;
    CK_BYTE *in = malloc(big), *out = malloc(big + 32), *ref = malloc(big + 32);
    for (size_t i = 0; i < big; i++)
        in[i] = (CK_BYTE)(i * 7);
    CK_BYTE iv[16] = { 9 };
    CK_MECHANISM pad = { CKM_AES_CBC_PAD, iv, 16 };
    CK_ULONG len = 0;
    assert_int_equal(p->C_EncryptInit(s, &pad, k), CKR_OK);
    assert_int_equal(p->C_Encrypt(s, in, (CK_ULONG)big, NULL, &len), CKR_OK);
    assert_int_equal(len, (big / 16 + 1) * 16);
    CK_ULONG small = 100;
    assert_int_equal(p->C_Encrypt(s, in, (CK_ULONG)big, out, &small), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(small, len);
    assert_int_equal(p->C_Encrypt(s, in, (CK_ULONG)big, out, &len), CKR_OK);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int a = 0, b = 0;
    assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv), 1);
    assert_int_equal(EVP_EncryptUpdate(ctx, ref, &a, in, (int)big), 1);
    assert_int_equal(EVP_EncryptFinal_ex(ctx, ref + a, &b), 1);
    assert_int_equal(len, (CK_ULONG)(a + b));
    assert_memory_equal(out, ref, len);
    /* and back, as one call */
    CK_ULONG back = (CK_ULONG)big + 32;
    assert_int_equal(p->C_DecryptInit(s, &pad, k), CKR_OK);
    assert_int_equal(p->C_Decrypt(s, out, len, ref, &back), CKR_OK);
    assert_int_equal(back, big);
    assert_memory_equal(ref, in, big);

    /* GCM with AAD: what the HSM seals, OpenSSL opens. */
    CK_BYTE giv[12] = { 1, 2, 3, 4 }, aad[7] = "header";
    CK_GCM_PARAMS gcm = { giv, 12, 96, aad, 7, 128 };
    CK_MECHANISM gm = { CKM_AES_GCM, &gcm, sizeof gcm };
    len = 1000 + 16;
    assert_int_equal(p->C_EncryptInit(s, &gm, k), CKR_OK);
    assert_int_equal(p->C_Encrypt(s, in, 1000, out, &len), CKR_OK);
    assert_int_equal(len, 1016);
    EVP_CIPHER_CTX_reset(ctx);
    assert_int_equal(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, giv), 1);
    assert_int_equal(EVP_DecryptUpdate(ctx, NULL, &a, aad, 7), 1);
    assert_int_equal(EVP_DecryptUpdate(ctx, ref, &a, out, 1000), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, out + 1000), 1);
    assert_int_equal(EVP_DecryptFinal_ex(ctx, ref + a, &b), 1);
    assert_memory_equal(ref, in, 1000);
    EVP_CIPHER_CTX_free(ctx);
    out[3] ^= 1;
    back = 2000;
    assert_int_equal(p->C_DecryptInit(s, &gm, k), CKR_OK);
    assert_int_equal(p->C_Decrypt(s, out, 1016, ref, &back), CKR_ENCRYPTED_DATA_INVALID);
    free(in);
    free(out);
    free(ref);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

/* RSA through the wire: a key pair, OAEP with a label (its parameter's own
   wire form), an encryption whose output is longer than its input. */
static void test_rsa_over_the_wire(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = open_user();
    CK_MECHANISM gm = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
    CK_ULONG bits = 2048;
    CK_ATTRIBUTE pt[] = { { CKA_MODULUS_BITS, &bits, sizeof bits } };
    CK_OBJECT_HANDLE pub, priv;
    assert_int_equal(p->C_GenerateKeyPair(s, &gm, pt, 1, NULL, 0, &pub, &priv), CKR_OK);
    CK_BYTE label[] = "wire label", msg[] = "short", ct[256], pt2[256];
    CK_RSA_PKCS_OAEP_PARAMS op = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, label,
                                   sizeof label };
    CK_MECHANISM m = { CKM_RSA_PKCS_OAEP, &op, sizeof op };
    CK_ULONG len = sizeof ct, plen = sizeof pt2;
    assert_int_equal(p->C_EncryptInit(s, &m, pub), CKR_OK);
    assert_int_equal(p->C_Encrypt(s, msg, sizeof msg, ct, &len), CKR_OK);
    assert_int_equal(len, 256);
    assert_int_equal(p->C_DecryptInit(s, &m, priv), CKR_OK);
    assert_int_equal(p->C_Decrypt(s, ct, len, pt2, &plen), CKR_OK);
    assert_int_equal(plen, sizeof msg);
    assert_memory_equal(pt2, msg, sizeof msg);
    /* PSS parameters over the wire too. */
    CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
    CK_MECHANISM sm = { CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof pss };
    len = sizeof ct;
    assert_int_equal(p->C_SignInit(s, &sm, priv), CKR_OK);
    assert_int_equal(p->C_Sign(s, msg, sizeof msg, ct, &len), CKR_OK);
    assert_int_equal(p->C_VerifyInit(s, &sm, pub), CKR_OK);
    assert_int_equal(p->C_Verify(s, msg, sizeof msg, ct, len), CKR_OK);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

/* ECDH and key wrapping through the wire. */
static void test_derive_and_wrap_over_the_wire(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = open_user();
    static const CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
    CK_MECHANISM gm = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    CK_ATTRIBUTE pt[] = { { CKA_EC_PARAMS, (void *)p256, sizeof p256 } };
    CK_BBOOL derive = CK_TRUE;
    CK_ATTRIBUTE kt[] = { { CKA_DERIVE, &derive, 1 } };
    CK_OBJECT_HANDLE apub, apriv, bpub, bpriv;
    assert_int_equal(p->C_GenerateKeyPair(s, &gm, pt, 1, kt, 1, &apub, &apriv), CKR_OK);
    assert_int_equal(p->C_GenerateKeyPair(s, &gm, pt, 1, kt, 1, &bpub, &bpriv), CKR_OK);
    CK_BYTE ap[128], bp[128];
    CK_ATTRIBUTE ga = { CKA_EC_POINT, ap, sizeof ap }, gb = { CKA_EC_POINT, bp, sizeof bp };
    assert_int_equal(p->C_GetAttributeValue(s, apub, &ga, 1), CKR_OK);
    assert_int_equal(p->C_GetAttributeValue(s, bpub, &gb, 1), CKR_OK);
    CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ULONG len16 = 16;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &aes, sizeof aes },
                         { CKA_VALUE_LEN, &len16, sizeof len16 }, { CKA_SENSITIVE, &no, 1 },
                         { CKA_EXTRACTABLE, &yes, 1 } };
    CK_ECDH1_DERIVE_PARAMS pa = { CKD_SHA256_KDF, 3, (CK_BYTE *)"ctx", gb.ulValueLen, bp };
    CK_ECDH1_DERIVE_PARAMS pb = { CKD_SHA256_KDF, 3, (CK_BYTE *)"ctx", ga.ulValueLen, ap };
    CK_MECHANISM da = { CKM_ECDH1_DERIVE, &pa, sizeof pa }, db = { CKM_ECDH1_DERIVE, &pb, sizeof pb };
    CK_OBJECT_HANDLE ka, kb;
    assert_int_equal(p->C_DeriveKey(s, &da, apriv, t, 5, &ka), CKR_OK);
    assert_int_equal(p->C_DeriveKey(s, &db, bpriv, t, 5, &kb), CKR_OK);
    CK_BYTE va[16], vb[16];
    CK_ATTRIBUTE xa = { CKA_VALUE, va, sizeof va }, xb = { CKA_VALUE, vb, sizeof vb };
    assert_int_equal(p->C_GetAttributeValue(s, ka, &xa, 1), CKR_OK);
    assert_int_equal(p->C_GetAttributeValue(s, kb, &xb, 1), CKR_OK);
    assert_memory_equal(va, vb, 16);
    /* Wrap kb under ka with RFC 5649 and back. */
    CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
    CK_BYTE wrapped[64];
    CK_ULONG wl = 0;
    assert_int_equal(p->C_WrapKey(s, &kwp, ka, kb, NULL, &wl), CKR_OK);
    assert_int_equal(wl, 24);
    assert_int_equal(p->C_WrapKey(s, &kwp, ka, kb, wrapped, &wl), CKR_OK);
    CK_ATTRIBUTE ut[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &aes, sizeof aes },
                          { CKA_EXTRACTABLE, &yes, 1 }, { CKA_SENSITIVE, &no, 1 } };
    CK_OBJECT_HANDLE kc;
    assert_int_equal(p->C_UnwrapKey(s, &kwp, ka, wrapped, wl, ut, 4, &kc), CKR_OK);
    CK_BYTE vc[16];
    CK_ATTRIBUTE xc = { CKA_VALUE, vc, sizeof vc };
    assert_int_equal(p->C_GetAttributeValue(s, kc, &xc, 1), CKR_OK);
    assert_memory_equal(vc, vb, 16);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

/* CKA_WRAP_TEMPLATE and CKA_UNWRAP_TEMPLATE: attribute arrays over the wire,
   read back in the three steps PKCS#11 describes, and enforced. */
static void test_wrap_templates(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = open_user();
    CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ULONG len16 = 16;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 };
    CK_BYTE id_ok[] = "wrap-me";
    /* The wrapping key wraps only keys with CKA_ID "wrap-me"; what it
       unwraps is sensitive and not extractable. */
    CK_ATTRIBUTE wt[] = { { CKA_ID, id_ok, sizeof id_ok }, { CKA_KEY_TYPE, &aes, sizeof aes } };
    CK_ATTRIBUTE ut[] = { { CKA_SENSITIVE, &yes, 1 }, { CKA_EXTRACTABLE, &no, 1 } };
    CK_ATTRIBUTE kt[] = { { CKA_VALUE_LEN, &len16, sizeof len16 },
                          { CKA_WRAP_TEMPLATE, wt, sizeof wt },
                          { CKA_UNWRAP_TEMPLATE, ut, sizeof ut } };
    CK_OBJECT_HANDLE w, good, bad;
    assert_int_equal(p->C_GenerateKey(s, &gen, kt, 3, &w), CKR_OK);
    CK_ATTRIBUTE gt[] = { { CKA_VALUE_LEN, &len16, sizeof len16 }, { CKA_EXTRACTABLE, &yes, 1 },
                          { CKA_ID, id_ok, sizeof id_ok } };
    assert_int_equal(p->C_GenerateKey(s, &gen, gt, 3, &good), CKR_OK);
    gt[2].pValue = (CK_BYTE *)"other";
    gt[2].ulValueLen = 5;
    assert_int_equal(p->C_GenerateKey(s, &gen, gt, 3, &bad), CKR_OK);

    /* Reading the template: array length, then types and lengths, then values. */
    CK_ATTRIBUTE q = { CKA_WRAP_TEMPLATE, NULL, 0 };
    assert_int_equal(p->C_GetAttributeValue(s, w, &q, 1), CKR_OK);
    assert_int_equal(q.ulValueLen, 2 * sizeof(CK_ATTRIBUTE));
    CK_ATTRIBUTE arr[2];
    memset(arr, 0, sizeof arr);
    q.pValue = arr;
    q.ulValueLen = sizeof(CK_ATTRIBUTE); /* room for one: too small */
    assert_int_equal(p->C_GetAttributeValue(s, w, &q, 1), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(q.ulValueLen, CK_UNAVAILABLE_INFORMATION);
    q.ulValueLen = sizeof arr;
    assert_int_equal(p->C_GetAttributeValue(s, w, &q, 1), CKR_OK);
    assert_int_equal(arr[0].type, CKA_ID);
    assert_int_equal(arr[0].ulValueLen, sizeof id_ok);
    assert_int_equal(arr[1].type, CKA_KEY_TYPE);
    assert_int_equal(arr[1].ulValueLen, sizeof(CK_KEY_TYPE));
    CK_BYTE idbuf[sizeof id_ok];
    CK_KEY_TYPE ktv = 0;
    arr[0].pValue = idbuf;
    arr[1].pValue = &ktv;
    assert_int_equal(p->C_GetAttributeValue(s, w, &q, 1), CKR_OK);
    assert_memory_equal(idbuf, id_ok, sizeof id_ok);
    assert_int_equal(ktv, CKK_AES);
    arr[0].ulValueLen = 2; /* an element's buffer too small */
    assert_int_equal(p->C_GetAttributeValue(s, w, &q, 1), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(arr[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);

    /* Only the key that matches the wrap template is wrapped. */
    CK_MECHANISM kw = { CKM_AES_KEY_WRAP, NULL, 0 };
    CK_BYTE wrapped[64];
    CK_ULONG wl = sizeof wrapped;
    assert_int_equal(p->C_WrapKey(s, &kw, w, bad, wrapped, &wl), CKR_KEY_NOT_WRAPPABLE);
    wl = sizeof wrapped;
    assert_int_equal(p->C_WrapKey(s, &kw, w, good, wrapped, &wl), CKR_OK);
    assert_int_equal(wl, 24);

    /* Unwrapped keys take the unwrap template; a contradiction is refused
       and makes no object. */
    CK_ATTRIBUTE at[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &aes, sizeof aes },
                          { CKA_EXTRACTABLE, &yes, 1 } };
    CK_OBJECT_HANDLE k;
    assert_int_equal(p->C_UnwrapKey(s, &kw, w, wrapped, wl, at, 3, &k), CKR_TEMPLATE_INCONSISTENT);
    /* CKA_VALUE_LEN may say how long the key is, not longer than it is. */
    CK_ULONG vl = 32;
    CK_ATTRIBUTE lt[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &aes, sizeof aes },
                          { CKA_VALUE_LEN, &vl, sizeof vl } };
    assert_int_equal(p->C_UnwrapKey(s, &kw, w, wrapped, wl, lt, 3, &k), CKR_TEMPLATE_INCONSISTENT);
    vl = 16;
    assert_int_equal(p->C_UnwrapKey(s, &kw, w, wrapped, wl, lt, 3, &k), CKR_OK);
    assert_int_equal(p->C_UnwrapKey(s, &kw, w, wrapped, wl, at, 2, &k), CKR_OK);
    CK_BBOOL sens = CK_FALSE, ext = CK_TRUE, nev = CK_TRUE;
    CK_ATTRIBUTE back[] = { { CKA_SENSITIVE, &sens, 1 }, { CKA_EXTRACTABLE, &ext, 1 },
                            { CKA_NEVER_EXTRACTABLE, &nev, 1 } };
    assert_int_equal(p->C_GetAttributeValue(s, k, back, 3), CKR_OK);
    assert_true(sens);
    assert_false(ext);
    assert_false(nev); /* it has been outside the token */
    CK_BYTE v[16];
    CK_ATTRIBUTE val = { CKA_VALUE, v, sizeof v };
    assert_int_equal(p->C_GetAttributeValue(s, k, &val, 1), CKR_ATTRIBUTE_SENSITIVE);

    /* Bad arrays: nested, a length not a whole number of CK_ATTRIBUTEs, NULL. */
    CK_ATTRIBUTE nested[] = { { CKA_WRAP_TEMPLATE, wt, sizeof wt } };
    CK_ATTRIBUTE bt[] = { { CKA_VALUE_LEN, &len16, sizeof len16 },
                          { CKA_WRAP_TEMPLATE, nested, sizeof nested } };
    CK_OBJECT_HANDLE x;
    assert_int_equal(p->C_GenerateKey(s, &gen, bt, 2, &x), CKR_ATTRIBUTE_VALUE_INVALID);
    bt[1].pValue = wt;
    bt[1].ulValueLen = sizeof wt - 1;
    assert_int_equal(p->C_GenerateKey(s, &gen, bt, 2, &x), CKR_ATTRIBUTE_VALUE_INVALID);
    bt[1].pValue = NULL;
    bt[1].ulValueLen = sizeof wt;
    assert_int_equal(p->C_GenerateKey(s, &gen, bt, 2, &x), CKR_ATTRIBUTE_VALUE_INVALID);
    /* A public key may carry a wrap template; a data object may not. */
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_ATTRIBUTE dt[] = { { CKA_CLASS, &data, sizeof data }, { CKA_WRAP_TEMPLATE, wt, sizeof wt } };
    assert_int_equal(p->C_CreateObject(s, dt, 2, &x), CKR_ATTRIBUTE_TYPE_INVALID);

    /* The template can be replaced: now the other key fits. */
    CK_ATTRIBUTE nt[] = { { CKA_ID, "other", 5 } };
    CK_ATTRIBUTE set = { CKA_WRAP_TEMPLATE, nt, sizeof nt };
    assert_int_equal(p->C_SetAttributeValue(s, w, &set, 1), CKR_OK);
    wl = sizeof wrapped;
    assert_int_equal(p->C_WrapKey(s, &kw, w, bad, wrapped, &wl), CKR_OK);
    wl = sizeof wrapped;
    assert_int_equal(p->C_WrapKey(s, &kw, w, good, wrapped, &wl), CKR_KEY_NOT_WRAPPABLE);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

static void in_child(int (*fn)(void *), void *arg);

/* A process other than the test destroys a token key by label. */
static int destroy_by_label(void *arg)
{
    const char *label = arg;
    if (p->C_Initialize(NULL) != CKR_OK)
        return 1;
    CK_SESSION_HANDLE s;
    if (p->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) ||
        p->C_Login(s, CKU_USER, PIN(T_USER_PIN)))
        return 2;
    CK_ATTRIBUTE q = { CKA_LABEL, (void *)label, (CK_ULONG)strlen(label) };
    CK_OBJECT_HANDLE o;
    CK_ULONG n = 0;
    if (p->C_FindObjectsInit(s, &q, 1) || p->C_FindObjects(s, &o, 1, &n) ||
        p->C_FindObjectsFinal(s) || n != 1 || p->C_DestroyObject(s, o))
        return 3;
    return p->C_Finalize(NULL) == CKR_OK ? 0 : 4;
}

/* Starts the module answers itself (the same key and mechanism again) must
   keep every rule a start sent at once has: one operation at a time, the
   key's current attributes, login state, and errors in the right call. */
static void test_repeated_starts(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = open_user();
    CK_MECHANISM gen = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
    CK_ULONG len32 = 32;
    CK_BBOOL yes = CK_TRUE;
    static const char label[] = "repeat-start-key";
    CK_ATTRIBUTE kt[] = { { CKA_VALUE_LEN, &len32, sizeof len32 }, { CKA_SIGN, &yes, 1 },
                          { CKA_VERIFY, &yes, 1 }, { CKA_TOKEN, &yes, 1 },
                          { CKA_LABEL, (void *)label, sizeof label - 1 } };
    CK_OBJECT_HANDLE k;
    assert_int_equal(p->C_GenerateKey(s, &gen, kt, 5, &k), CKR_OK);
    CK_MECHANISM hm = { CKM_SHA256_HMAC, NULL, 0 };
    CK_BYTE data[64] = { 7 }, mac[32], mac2[32];
    CK_ULONG ml;
    for (int i = 0; i < 3; i++) { /* the second and third starts are repeats */
        ml = sizeof mac;
        assert_int_equal(p->C_SignInit(s, &hm, k), CKR_OK);
        assert_int_equal(p->C_SignInit(s, &hm, k), CKR_OPERATION_ACTIVE);
        assert_int_equal(p->C_Sign(s, data, sizeof data, i ? mac2 : mac, &ml), CKR_OK);
        assert_int_equal(ml, 32);
    }
    assert_memory_equal(mac, mac2, 32);
    /* A repeated start, then a buffer too small: the operation goes on. */
    assert_int_equal(p->C_SignInit(s, &hm, k), CKR_OK);
    ml = 4;
    assert_int_equal(p->C_Sign(s, data, sizeof data, mac2, &ml), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(ml, 32);
    assert_int_equal(p->C_SignUpdate(s, data, 10), CKR_OK);
    assert_int_equal(p->C_SignUpdate(s, data + 10, sizeof data - 10), CKR_OK);
    ml = sizeof mac2;
    assert_int_equal(p->C_SignFinal(s, mac2, &ml), CKR_OK);
    assert_memory_equal(mac, mac2, 32);
    /* Verification repeats too; a bad MAC ends the operation. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(p->C_VerifyInit(s, &hm, k), CKR_OK);
        assert_int_equal(p->C_Verify(s, data, sizeof data, mac, 32), CKR_OK);
    }
    assert_int_equal(p->C_VerifyInit(s, &hm, k), CKR_OK);
    mac2[0] ^= 1;
    assert_int_equal(p->C_Verify(s, data, sizeof data, mac2, 32), CKR_SIGNATURE_INVALID);
    assert_int_equal(p->C_Verify(s, data, sizeof data, mac, 32), CKR_OPERATION_NOT_INITIALIZED);

    /* Digests: repeated starts with multi-part use in between. */
    CK_MECHANISM dm = { CKM_SHA256, NULL, 0 };
    CK_BYTE md[32], want[32];
    SHA256(data, sizeof data, want);
    for (int i = 0; i < 3; i++) {
        CK_ULONG dl = sizeof md;
        assert_int_equal(p->C_DigestInit(s, &dm), CKR_OK);
        if (i == 2) {
            assert_int_equal(p->C_DigestUpdate(s, data, 5), CKR_OK);
            assert_int_equal(p->C_DigestUpdate(s, data + 5, sizeof data - 5), CKR_OK);
            assert_int_equal(p->C_DigestFinal(s, md, &dl), CKR_OK);
        } else {
            assert_int_equal(p->C_Digest(s, data, sizeof data, md, &dl), CKR_OK);
        }
        assert_memory_equal(md, want, 32);
    }

    /* The key's attributes change: the next start asks the daemon. */
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE off = { CKA_SIGN, &no, 1 };
    assert_int_equal(p->C_SetAttributeValue(s, k, &off, 1), CKR_OK);
    assert_int_equal(p->C_SignInit(s, &hm, k), CKR_KEY_FUNCTION_NOT_PERMITTED);
    CK_ATTRIBUTE on = { CKA_SIGN, &yes, 1 };
    assert_int_equal(p->C_SetAttributeValue(s, k, &on, 1), CKR_OK);
    for (int i = 0; i < 2; i++) {
        ml = sizeof mac2;
        assert_int_equal(p->C_SignInit(s, &hm, k), CKR_OK);
        assert_int_equal(p->C_Sign(s, data, sizeof data, mac2, &ml), CKR_OK);
    }
    /* Logged out, the private key is out of reach at once. */
    assert_int_equal(p->C_Logout(s), CKR_OK);
    assert_int_equal(p->C_SignInit(s, &hm, k), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(p->C_Login(s, CKU_USER, PIN(T_USER_PIN)), CKR_OK);
    ml = sizeof mac2;
    assert_int_equal(p->C_SignInit(s, &hm, k), CKR_OK);
    assert_int_equal(p->C_Sign(s, data, sizeof data, mac2, &ml), CKR_OK);

    /* Another process destroys the key between a repeated start and the
       operation: the operation answers what the start would have, and the
       next start is refused at once. */
    assert_int_equal(p->C_SignInit(s, &hm, k), CKR_OK);
    in_child(destroy_by_label, (void *)label);
    ml = sizeof mac2;
    assert_int_equal(p->C_Sign(s, data, sizeof data, mac2, &ml), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(p->C_SignInit(s, &hm, k), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(p->C_Sign(s, data, sizeof data, mac2, &ml), CKR_OPERATION_NOT_INITIALIZED);

    /* Destroyed in this process: refused at the start. */
    assert_int_equal(p->C_GenerateKey(s, &gen, kt, 3, &k), CKR_OK);
    for (int i = 0; i < 2; i++) {
        ml = sizeof mac2;
        assert_int_equal(p->C_SignInit(s, &hm, k), CKR_OK);
        assert_int_equal(p->C_Sign(s, data, sizeof data, mac2, &ml), CKR_OK);
    }
    assert_int_equal(p->C_DestroyObject(s, k), CKR_OK);
    assert_int_equal(p->C_SignInit(s, &hm, k), CKR_KEY_HANDLE_INVALID);

    /* A closed session's held-back start is gone with it. */
    assert_int_equal(p->C_GenerateKey(s, &gen, kt, 3, &k), CKR_OK);
    CK_SESSION_HANDLE s2 = open_user();
    for (int i = 0; i < 2; i++) {
        CK_ULONG dl = sizeof md;
        assert_int_equal(p->C_DigestInit(s2, &dm), CKR_OK);
        assert_int_equal(p->C_Digest(s2, data, sizeof data, md, &dl), CKR_OK);
    }
    assert_int_equal(p->C_DigestInit(s2, &dm), CKR_OK);
    assert_int_equal(p->C_CloseSession(s2), CKR_OK);
    assert_int_equal(p->C_DigestInit(s2, &dm), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

/* MACs through the wire: the _GENERAL parameter, large data in pieces,
   checked against OpenSSL's HMAC. */
static void test_mac_over_the_wire(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = open_user();
    CK_BYTE kv[32];
    memset(kv, 0x33, sizeof kv);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
                         { CKA_VALUE, kv, sizeof kv } };
    CK_OBJECT_HANDLE k;
    assert_int_equal(p->C_CreateObject(s, t, 3, &k), CKR_OK);
    size_t big = (2u << 20) + 3;
    CK_BYTE *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (CK_BYTE)(i >> 3);
    CK_BYTE want[64], sig[64];
    unsigned int wl = 0;
    HMAC(EVP_sha384(), kv, sizeof kv, data, big, want, &wl);
    CK_MECHANISM m = { CKM_SHA384_HMAC, NULL, 0 };
    CK_ULONG len = sizeof sig;
    assert_int_equal(p->C_SignInit(s, &m, k), CKR_OK);
    assert_int_equal(p->C_Sign(s, data, (CK_ULONG)big, sig, &len), CKR_OK);
    assert_int_equal(len, wl);
    assert_memory_equal(sig, want, wl);
    assert_int_equal(p->C_VerifyInit(s, &m, k), CKR_OK);
    assert_int_equal(p->C_Verify(s, data, (CK_ULONG)big, sig, len), CKR_OK);
    CK_ULONG twelve = 12;
    CK_MECHANISM g = { CKM_SHA384_HMAC_GENERAL, &twelve, sizeof twelve };
    len = sizeof sig;
    assert_int_equal(p->C_SignInit(s, &g, k), CKR_OK);
    assert_int_equal(p->C_SignUpdate(s, data, 1000), CKR_OK);
    assert_int_equal(p->C_SignUpdate(s, data + 1000, (CK_ULONG)big - 1000), CKR_OK);
    assert_int_equal(p->C_SignFinal(s, sig, &len), CKR_OK);
    assert_int_equal(len, 12);
    assert_memory_equal(sig, want, 12);
    sig[11] ^= 0x80;
    assert_int_equal(p->C_VerifyInit(s, &g, k), CKR_OK);
    assert_int_equal(p->C_Verify(s, data, 64, sig, 12), CKR_SIGNATURE_INVALID);
    free(data);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

/* Run fn in a child process; assert it exited 0. */
static void in_child(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn(arg));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int child_after_fork(void *arg)
{
    CK_SESSION_HANDLE parent = *(CK_SESSION_HANDLE *)arg;
    /* Inherited state is not usable until C_Initialize. */
    if (p->C_GetSessionInfo(parent, &(CK_SESSION_INFO){0}) != CKR_CRYPTOKI_NOT_INITIALIZED)
        return 1;
    if (p->C_Initialize(NULL) != CKR_OK)
        return 2;
    /* Another process: another AppId; the parent's session is not ours. */
    if (p->C_GetSessionInfo(parent, &(CK_SESSION_INFO){0}) != CKR_SESSION_HANDLE_INVALID)
        return 3;
    if (p->C_CloseSession(parent) != CKR_SESSION_HANDLE_INVALID)
        return 4;
    CK_SESSION_HANDLE s;
    if (p->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) ||
        p->C_Login(s, CKU_USER, PIN(T_USER_PIN)) != CKR_OK)
        return 5;
    /* Closing all of ours leaves the parent's alone; logging out too. */
    if (p->C_Logout(s) || p->C_CloseAllSessions(slot))
        return 6;
    p->C_Finalize(NULL);
    return 0;
}

static void test_fork_and_appid(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = open_user();
    in_child(child_after_fork, &s);
    CK_SESSION_INFO si;
    assert_int_equal(p->C_GetSessionInfo(s, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RW_USER_FUNCTIONS);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

static CK_ULONG session_count(void)
{
    CK_TOKEN_INFO ti;
    assert_int_equal(p->C_GetTokenInfo(slot, &ti), CKR_OK);
    return ti.ulSessionCount;
}

/* An application that exits ends its sessions, even if a child it forked
   (which inherited its connections) lives on. */
static int app_that_forks(void *arg)
{
    const int *go = arg;
    if (p->C_Initialize(NULL) != CKR_OK)
        return 1;
    CK_SESSION_HANDLE s;
    if (p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
        return 2;
    pid_t g = fork();
    if (g == 0) {
        char b;
        close(go[1]);
        _exit(read(go[0], &b, 1) < 0); /* lives on, holding what it inherited */
    }
    return g > 0 ? 0 : 3; /* exits without C_Finalize */
}

static void test_fork_child_does_not_hold_sessions(void **state)
{
    (void)state;
    CK_ULONG before = session_count();
    int go[2];
    assert_int_equal(pipe(go), 0);
    in_child(app_that_forks, go);
    CK_ULONG after = before + 1;
    for (int i = 0; i < 200 && after != before; i++) {
        usleep(10000);
        after = session_count();
    }
    close(go[1]); /* the grandchild may go now */
    close(go[0]);
    assert_int_equal(after, before);
}

/* C_Finalize ends the process's sessions at once. */
static void test_finalize_closes_sessions(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = open_user();
    assert_int_equal(p->C_Finalize(NULL), CKR_OK);
    assert_int_equal(p->C_Initialize(NULL), CKR_OK);
    assert_int_equal(p->C_GetSessionInfo(s, &(CK_SESSION_INFO){0}), CKR_SESSION_HANDLE_INVALID);
}

static void test_garbage_frames(void **state)
{
    (void)state;
    static const uint8_t frames[][12] = {
        { 0, 0, 0, 4, 0, 0, 0x99, 0x99 },           /* unknown opcode */
        { 0, 0, 0, 6, 0, 0, 0, 30, 0, 0 },           /* truncated arguments */
        { 0xff, 0xff, 0xff, 0xff, 1, 2, 3 },         /* oversized length */
        { 0, 0, 0, 12, 0, 0, 0, 31, 0, 0, 0, 0 },    /* claims more than it sends */
    };
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, d.sock);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        size_t n = i == 2 ? 7 : i == 3 ? 12 : 4 + frames[i][3];
        assert_int_equal(write(fd, frames[i], n), (ssize_t)n);
        if (i == 3)
            shutdown(fd, SHUT_WR);
        /* The daemon drops this connection: no reply, just the end. */
        uint8_t buf[64];
        assert_true(read(fd, buf, sizeof buf) <= 0);
        close(fd);
    }
    /* and keeps serving everyone else */
    CK_ULONG n = 0;
    assert_int_equal(p->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    assert_int_equal(n, 2);
}

static void test_daemon_down_and_back(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = open_user();
    daemon_stop(&d, SIGKILL);
    CK_ULONG n = 0;
    CK_RV rv = p->C_GetSlotList(CK_TRUE, NULL, &n);
    assert_true(rv == CKR_DEVICE_ERROR || rv == CKR_DEVICE_REMOVED);
    assert_int_equal(p->C_GetSlotList(CK_TRUE, NULL, &n), CKR_DEVICE_REMOVED);
    assert_int_equal(daemon_start(&d), 0);
    assert_int_equal(p->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    assert_int_equal(n, 2);
    /* Sessions did not survive the daemon; the token and its PIN did. */
    assert_int_equal(p->C_GetSessionInfo(s, &(CK_SESSION_INFO){0}), CKR_SESSION_HANDLE_INVALID);
    s = open_user();
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

/* Every entry that takes a session: a stale handle is refused as such. */
static void test_every_entry_stale_session(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s;
    assert_int_equal(p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
    CK_BYTE buf[64] = { 0 };
    CK_ULONG len = sizeof buf, n = 0;
    CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
    CK_ATTRIBUTE a = { CKA_LABEL, buf, sizeof buf };
    CK_OBJECT_HANDLE o = 0, o2 = 0;
    CK_SESSION_INFO si;
    const CK_RV bad = CKR_SESSION_HANDLE_INVALID;
    assert_int_equal(p->C_CloseSession(s), bad);
    assert_int_equal(p->C_GetSessionInfo(s, &si), bad);
    assert_int_equal(p->C_Login(s, CKU_USER, PIN(T_USER_PIN)), bad);
    assert_int_equal(p->C_Logout(s), bad);
    assert_int_equal(p->C_InitPIN(s, PIN("abcdef")), bad);
    assert_int_equal(p->C_SetPIN(s, PIN("abcdef"), PIN("ghijkl")), bad);
    assert_int_equal(p->C_CreateObject(s, &a, 1, &o), bad);
    assert_int_equal(p->C_CopyObject(s, 1, &a, 1, &o2), bad);
    assert_int_equal(p->C_DestroyObject(s, 1), bad);
    assert_int_equal(p->C_GetObjectSize(s, 1, &n), bad);
    assert_int_equal(p->C_GetAttributeValue(s, 1, &a, 1), bad);
    assert_int_equal(p->C_SetAttributeValue(s, 1, &a, 1), bad);
    assert_int_equal(p->C_FindObjectsInit(s, &a, 1), bad);
    assert_int_equal(p->C_FindObjects(s, &o, 1, &n), bad);
    assert_int_equal(p->C_FindObjectsFinal(s), bad);
    assert_int_equal(p->C_DigestInit(s, &m), bad);
    assert_int_equal(p->C_Digest(s, buf, 4, buf, &len), bad);
    assert_int_equal(p->C_DigestUpdate(s, buf, 4), bad);
    assert_int_equal(p->C_DigestFinal(s, buf, &len), bad);
    assert_int_equal(p->C_SeedRandom(s, buf, 4), bad);
    assert_int_equal(p->C_GenerateRandom(s, buf, 4), bad);
    assert_int_equal(p->C_GetOperationState(s, buf, &len), bad);
    assert_int_equal(p->C_SignRecoverInit(s, &m, 1), bad);
    assert_int_equal(p->C_SignInit(s, &m, 1), bad);
    assert_int_equal(p->C_GenerateKey(s, &m, &a, 1, &o), bad);
}

/* NULL output pointers and wrong states on a live session. */
static void test_every_entry_null_and_state(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s;
    assert_int_equal(p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    CK_BYTE buf[64] = { 0 };
    CK_ULONG len = sizeof buf;
    CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
    assert_int_equal(p->C_GetTokenInfo(slot, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_GetMechanismList(slot, NULL, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_GetMechanismInfo(slot, CKM_SHA256, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_GetFunctionList(NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_FindObjectsInit(s, NULL, 2), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_SetAttributeValue(s, 1, NULL, 1), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_CopyObject(s, 1, NULL, 0, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_Digest(s, buf, 4, buf, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_DigestFinal(s, buf, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_DigestUpdate(s, NULL, 4), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_SeedRandom(s, NULL, 4), CKR_ARGUMENTS_BAD);
    /* Operation state cannot be saved; there are no slot events. */
    assert_int_equal(p->C_GetOperationState(s, NULL, &len), CKR_STATE_UNSAVEABLE);
    assert_int_equal(p->C_SetOperationState(s, buf, 4, 0, 0), CKR_SAVED_STATE_INVALID);
    CK_SLOT_ID ev;
    assert_int_equal(p->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, NULL), CKR_NO_EVENT);
    assert_int_equal(p->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL), CKR_ARGUMENTS_BAD);
    /* Operations that were never started. */
    assert_int_equal(p->C_DigestUpdate(s, buf, 4), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(p->C_DigestFinal(s, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(p->C_Digest(s, buf, 4, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(p->C_FindObjectsFinal(s), CKR_OPERATION_NOT_INITIALIZED);
    /* A second start while one runs; a length query keeps it running. */
    assert_int_equal(p->C_DigestInit(s, &m), CKR_OK);
    assert_int_equal(p->C_DigestInit(s, &m), CKR_OPERATION_ACTIVE);
    assert_int_equal(p->C_Digest(s, buf, 4, NULL, &len), CKR_OK);
    assert_int_equal(len, 32);
    len = sizeof buf;
    assert_int_equal(p->C_Digest(s, buf, 4, buf, &len), CKR_OK);
    /* Private objects are out of reach of a public session. */
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE priv[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_PRIVATE, &yes, 1 } };
    CK_OBJECT_HANDLE o;
    assert_int_equal(p->C_CreateObject(s, priv, 2, &o), CKR_USER_NOT_LOGGED_IN);
    CK_ATTRIBUTE tok[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_TOKEN, &yes, 1 } };
    assert_int_equal(p->C_CreateObject(s, tok, 2, &o), CKR_SESSION_READ_ONLY);
    /* A wrong-length CK_ULONG value is refused, not misread. */
    CK_ATTRIBUTE shortcls = { CKA_CLASS, &cls, 4 };
    assert_int_equal(p->C_CreateObject(s, &shortcls, 1, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initialize_rules),
        cmocka_unit_test(test_slots_and_tokens),
        cmocka_unit_test(test_session_bad_input),
        cmocka_unit_test(test_objects_over_the_wire),
        cmocka_unit_test(test_digest_and_random),
        cmocka_unit_test(test_encryption_over_the_wire),
        cmocka_unit_test(test_mac_over_the_wire),
        cmocka_unit_test(test_rsa_over_the_wire),
        cmocka_unit_test(test_derive_and_wrap_over_the_wire),
        cmocka_unit_test(test_wrap_templates),
        cmocka_unit_test(test_repeated_starts),
        cmocka_unit_test(test_every_entry_stale_session),
        cmocka_unit_test(test_every_entry_null_and_state),
        cmocka_unit_test(test_fork_and_appid),
        cmocka_unit_test(test_fork_child_does_not_hold_sessions),
        cmocka_unit_test(test_finalize_closes_sessions),
        cmocka_unit_test(test_garbage_frames),
        cmocka_unit_test(test_daemon_down_and_back),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
