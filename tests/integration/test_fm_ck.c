/*
 * Cryptoki inside an FM (the crypto sample) against a real softfmd: the
 * seed's two AppId scenarios exactly, keys of a partition used by label from
 * the FM and checked by the host, and the privilege level: a sensitive key's
 * value and a key not marked for unwrapping only under override, which a
 * request does not keep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common.h"
#include "harness.h"
#include "sfm_md.h"
#include "../../fmsdk/samples/crypto/crypto.h"

static daemon_proc_t d;
static CK_FUNCTION_LIST_PTR p;
static CK_SLOT_ID slot;

static void *mmap_shared(size_t n)
{
    void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

static void munmap_shared(void *m, size_t n)
{
    munmap(m, n);
}

static void pause_until_killed(void)
{
    for (;;)
        pause();
}

typedef struct msg {
    uint8_t b[1024];
    uint32_t n;
} msg_t;

static void put32(msg_t *m, uint32_t v)
{
    v = fm_htobe32(v);
    memcpy(m->b + m->n, &v, 4);
    m->n += 4;
}

static void put8(msg_t *m, uint8_t v)
{
    m->b[m->n++] = v;
}

static void put_bytes(msg_t *m, const void *s, uint32_t len)
{
    memcpy(m->b + m->n, s, len);
    m->n += len;
}

static void put_str(msg_t *m, const char *s)
{
    put32(m, (uint32_t)strlen(s));
    put_bytes(m, s, (uint32_t)strlen(s));
}

static msg_t start(uint32_t cmd, int shared)
{
    msg_t m = { .n = 0 };
    put32(&m, cmd);
    put8(&m, (uint8_t)shared);
    return m;
}

/* Send; returns the Cryptoki CK_RV the FM reports, the rest into out. */
static CK_RV fm(const msg_t *m, uint8_t *out, uint32_t *out_len)
{
    MD_Buffer_t req[] = { { (uint8_t *)m->b, m->n }, { NULL, 0 } };
    uint8_t buf[1024];
    MD_Buffer_t resp[] = { { buf, sizeof buf }, { NULL, 0 } };
    uint32_t got = 0, st = 99;
    MD_RV rv = MD_SendReceive(0, 0, CRYPTO_FM_NUMBER, req, 0, resp, &got, &st);
    if (rv != MDR_OK || st != 0 || got < 4)
        return CKR_GENERAL_ERROR;
    uint32_t ck;
    memcpy(&ck, buf, 4);
    if (out && out_len) {
        *out_len = got - 4;
        memcpy(out, buf + 4, got - 4);
    }
    return fm_betoh32(ck);
}

static CK_RV fm_open(int shared, uint32_t *session)
{
    msg_t m = start(CRYPTO_OPEN, shared);
    put32(&m, (uint32_t)slot);
    put_str(&m, T_USER_PIN);
    uint8_t out[8];
    uint32_t n = 0;
    CK_RV rv = fm(&m, out, &n);
    if (rv == CKR_OK && n == 4) {
        memcpy(session, out, 4);
        *session = fm_betoh32(*session);
    }
    return rv;
}

static CK_RV fm_session(int shared, uint32_t session)
{
    msg_t m = start(CRYPTO_SESSION, shared);
    put32(&m, session);
    return fm(&m, NULL, NULL);
}

static int group_setup(void **state)
{
    (void)state;
    if (daemon_start(&d))
        return -1;
    setenv("SOFTFM_SOCKET", d.sock, 1);
    p = module_load();
    if (!p || p->C_Initialize(NULL) != CKR_OK || hsm_setup(p, d.sock, &slot))
        return -1;
    if (set_policy(d.sock, "allow-unsigned-fms", 1) || set_policy(d.sock, "smfs-auto-activate", 1) ||
        load_fm(d.sock, getenv("SOFTFM_CRYPTO_FM"), NULL, 0))
        return -1;
    return MD_Initialize() == MDR_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    MD_Finalize();
    if (p)
        p->C_Finalize(NULL);
    daemon_cleanup(&d);
    return 0;
}

/* Process A's request initialises Cryptoki and opens a session; process
   B's request uses it. */
static int process_a(void *arg)
{
    uint32_t *sessions = arg; /* in shared memory */
    if (MD_Initialize() != MDR_OK)
        return 1;
    msg_t m = start(CRYPTO_INIT, 0);
    if (fm(&m, NULL, NULL) != CKR_OK || fm_open(0, &sessions[0]) != CKR_OK)
        return 2;
    m = start(CRYPTO_INIT, 1);
    CK_RV rv = fm(&m, NULL, NULL);
    if ((rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) || fm_open(1, &sessions[1]))
        return 3;
    /* Process A's own requests see its own session. */
    if (fm_session(0, sessions[0]) != CKR_OK)
        return 4;
    MD_Finalize();
    return 0;
}

static void test_appid_scenario_a(void **state)
{
    (void)state;
    uint32_t *sessions = mmap_shared(2 * sizeof(uint32_t));
    assert_non_null(sessions);
    pid_t a = fork();
    assert_true(a >= 0);
    if (a == 0) {
        /* Keep process A alive while B tries: its sessions end with it. */
        int rc = process_a(sessions);
        if (rc == 0)
            pause_until_killed();
        _exit(rc);
    }
    for (int i = 0; i < 500 && !sessions[1]; i++)
        usleep(2000);
    assert_true(sessions[0] && sessions[1]);
    /* Process B (this test): the FM has not initialised Cryptoki for it. */
    assert_int_equal(fm_session(0, sessions[0]), CKR_CRYPTOKI_NOT_INITIALIZED);
    /* Under the shared AppId, A's session serves B's request. */
    assert_int_equal(fm_session(1, sessions[1]), CKR_OK);
    /* Initialised for B now, A's session is still not B's. */
    msg_t m = start(CRYPTO_INIT, 0);
    assert_int_equal(fm(&m, NULL, NULL), CKR_OK);
    assert_int_equal(fm(&m, NULL, NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    assert_int_equal(fm_session(0, sessions[0]), CKR_SESSION_HANDLE_INVALID);
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    munmap_shared(sessions, 2 * sizeof(uint32_t));
}

/* The application opens session 1, the FM opens session 2 on its behalf;
   C_CloseAllSessions from either side closes both. */
static void test_appid_scenario_b(void **state)
{
    (void)state;
    for (int fm_closes = 0; fm_closes < 2; fm_closes++) {
        CK_SESSION_HANDLE s1;
        assert_int_equal(p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s1), CKR_OK);
        uint32_t s2 = 0;
        assert_int_equal(fm_open(0, &s2), CKR_OK);
        assert_int_not_equal(s2, s1);
        CK_SESSION_INFO info;
        assert_int_equal(p->C_GetSessionInfo(s2, &info), CKR_OK); /* one AppId: ours too */
        if (fm_closes) {
            msg_t m = start(CRYPTO_CLOSE_ALL, 0);
            put32(&m, (uint32_t)slot);
            assert_int_equal(fm(&m, NULL, NULL), CKR_OK);
        } else {
            assert_int_equal(p->C_CloseAllSessions(slot), CKR_OK);
        }
        assert_int_equal(p->C_GetSessionInfo(s1, &info), CKR_SESSION_HANDLE_INVALID);
        assert_int_equal(fm_session(0, s2), CKR_SESSION_HANDLE_INVALID);
    }
}

static CK_OBJECT_HANDLE make_key(CK_SESSION_HANDLE s, CK_KEY_TYPE kt, const char *label,
                                 const uint8_t *value, CK_ULONG len, CK_BBOOL unwrap)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
                         { CKA_TOKEN, &yes, 1 }, { CKA_LABEL, (void *)label, strlen(label) },
                         { CKA_VALUE, (void *)value, len }, { CKA_SIGN, &yes, 1 },
                         { CKA_ENCRYPT, &yes, 1 }, { CKA_UNWRAP, &unwrap, 1 } };
    CK_OBJECT_HANDLE k;
    assert_int_equal(p->C_CreateObject(s, t, 8, &k), CKR_OK);
    return k;
}

static void test_keys_and_privilege(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s;
    assert_int_equal(p->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
                     CKR_OK);
    CK_RV lr = p->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)T_USER_PIN, strlen(T_USER_PIN));
    assert_true(lr == CKR_OK || lr == CKR_USER_ALREADY_LOGGED_IN);
    uint8_t mac_key[32], aes_key[16], kek[16];
    for (int i = 0; i < 32; i++)
        mac_key[i] = (uint8_t)(i * 7 + 1);
    memset(aes_key, 0x5A, sizeof aes_key);
    memset(kek, 0xC3, sizeof kek);
    make_key(s, CKK_GENERIC_SECRET, "fm-mac", mac_key, sizeof mac_key, CK_FALSE);
    make_key(s, CKK_AES, "fm-aes", aes_key, sizeof aes_key, CK_FALSE);
    make_key(s, CKK_AES, "fm-kek", kek, sizeof kek, CK_FALSE); /* not for unwrapping */

    uint32_t fs;
    assert_int_equal(fm_open(0, &fs), CKR_OK);
    /* An HMAC by the FM, checked against OpenSSL. */
    msg_t m = start(CRYPTO_HMAC, 0);
    put32(&m, fs);
    put_str(&m, "fm-mac");
    put_bytes(&m, "message from the host", 21);
    uint8_t out[512];
    uint32_t n = 0;
    assert_int_equal(fm(&m, out, &n), CKR_OK);
    uint8_t want[32];
    unsigned wl = 0;
    HMAC(EVP_sha256(), mac_key, sizeof mac_key, (const uint8_t *)"message from the host", 21,
         want, &wl);
    assert_int_equal(n, 32);
    assert_memory_equal(out, want, 32);
    /* AES-CBC-PAD by the FM, decrypted by OpenSSL. */
    m = start(CRYPTO_ENCRYPT, 0);
    put32(&m, fs);
    put_str(&m, "fm-aes");
    put_bytes(&m, "sixteen bytes and more", 22);
    assert_int_equal(fm(&m, out, &n), CKR_OK);
    assert_int_equal(n, 32);
    uint8_t iv[16] = { 0 }, plain[48];
    int pl = 0, fl = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_128_cbc(), NULL, aes_key, iv), 1);
    assert_int_equal(EVP_DecryptUpdate(c, plain, &pl, out, (int)n), 1);
    assert_int_equal(EVP_DecryptFinal_ex(c, plain + pl, &fl), 1);
    EVP_CIPHER_CTX_free(c);
    assert_int_equal(pl + fl, 22);
    assert_memory_equal(plain, "sixteen bytes and more", 22);
    /* A missing label is the FM's Cryptoki answer. */
    m = start(CRYPTO_HMAC, 0);
    put32(&m, fs);
    put_str(&m, "no-such-key");
    assert_int_equal(fm(&m, out, &n), CKR_KEY_HANDLE_INVALID);

    /* The sensitive key's value: refused, then read under override. */
    for (int override = 0; override < 2; override++) {
        m = start(CRYPTO_READ_VALUE, 0);
        put8(&m, (uint8_t)override);
        put32(&m, fs);
        put_str(&m, "fm-aes");
        CK_RV rv = fm(&m, out, &n);
        if (!override) {
            assert_int_equal(rv, CKR_ATTRIBUTE_SENSITIVE);
        } else {
            assert_int_equal(rv, CKR_OK);
            assert_int_equal(n, 16);
            assert_memory_equal(out, aes_key, 16);
        }
    }
    /* The level does not outlive its request. */
    m = start(CRYPTO_READ_VALUE, 0);
    put8(&m, 0);
    put32(&m, fs);
    put_str(&m, "fm-aes");
    assert_int_equal(fm(&m, out, &n), CKR_ATTRIBUTE_SENSITIVE);
    /* And the host never has it. */
    CK_OBJECT_HANDLE hk;
    CK_ULONG found = 0;
    CK_ATTRIBUTE q = { CKA_LABEL, "fm-aes", 6 };
    assert_int_equal(p->C_FindObjectsInit(s, &q, 1), CKR_OK);
    assert_int_equal(p->C_FindObjects(s, &hk, 1, &found), CKR_OK);
    assert_int_equal(p->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(found, 1);
    CK_ATTRIBUTE v = { CKA_VALUE, out, sizeof out };
    assert_int_equal(p->C_GetAttributeValue(s, hk, &v, 1), CKR_ATTRIBUTE_SENSITIVE);

    /* Unwrapping with a key not marked for it: only under override. */
    uint8_t secret[16], wrapped[24];
    memset(secret, 0x42, sizeof secret);
    int wlen = 0;
    EVP_CIPHER_CTX *w = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX_set_flags(w, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    assert_int_equal(EVP_EncryptInit_ex(w, EVP_aes_128_wrap(), NULL, kek, NULL), 1);
    assert_int_equal(EVP_EncryptUpdate(w, wrapped, &wlen, secret, sizeof secret), 1);
    EVP_CIPHER_CTX_free(w);
    assert_int_equal(wlen, 24);
    for (int override = 0; override < 2; override++) {
        m = start(CRYPTO_UNWRAP, 0);
        put8(&m, (uint8_t)override);
        put32(&m, fs);
        put_str(&m, "fm-kek");
        put_bytes(&m, wrapped, 24);
        CK_RV rv = fm(&m, out, &n);
        if (!override) {
            assert_int_equal(rv, CKR_KEY_FUNCTION_NOT_PERMITTED);
        } else {
            assert_int_equal(rv, CKR_OK);
            assert_int_equal(n, 16);
            assert_memory_equal(out, secret, 16);
        }
    }
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appid_scenario_a),
        cmocka_unit_test(test_appid_scenario_b),
        cmocka_unit_test(test_keys_and_privilege),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
