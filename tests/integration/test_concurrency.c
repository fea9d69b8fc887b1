/*
 * Concurrency: 8 processes x 4 threads hammering one softfmd with sessions,
 * logins, session and token objects, searches, attributes, digests and
 * random numbers, each checking every answer.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/sha.h>

#include "harness.h"

#define PIN(s) (CK_UTF8CHAR_PTR)(s), (CK_ULONG)strlen(s)
#define PROCS 8
#define THREADS 4
#define ROUNDS 40

static daemon_proc_t d;
static CK_FUNCTION_LIST_PTR p;
static CK_SLOT_ID slot;

#define CHECK(expr, code)                                                                          \
    do {                                                                                           \
        CK_RV rv_ = (expr);                                                                        \
        if (rv_ != CKR_OK) {                                                                       \
            fprintf(stderr, "pid %d: %s = 0x%lx\n", (int)getpid(), #expr, rv_);                  \
            return (void *)(intptr_t)(code);                                                       \
        }                                                                                          \
    } while (0)

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        CK_SESSION_HANDLE s;
        CHECK(p->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), 1);
        CK_RV rv = p->C_Login(s, CKU_USER, PIN(T_USER_PIN));
        if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
            return (void *)2;
        char label[64];
        snprintf(label, sizeof label, "c-%d-%d-%d", (int)getpid(), id, r);
        CK_OBJECT_CLASS cls = CKO_DATA;
        CK_BBOOL tok = (r % 8 == 0) ? CK_TRUE : CK_FALSE, yes = CK_TRUE;
        CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_TOKEN, &tok, 1 },
                             { CKA_PRIVATE, &yes, 1 },
                             { CKA_LABEL, label, (CK_ULONG)strlen(label) },
                             { CKA_VALUE, label, (CK_ULONG)strlen(label) } };
        CK_OBJECT_HANDLE o, found[4];
        CK_ULONG n = 0;
        CHECK(p->C_CreateObject(s, t, 5, &o), 3);
        CK_ATTRIBUTE q = { CKA_LABEL, label, (CK_ULONG)strlen(label) };
        CHECK(p->C_FindObjectsInit(s, &q, 1), 4);
        CHECK(p->C_FindObjects(s, found, 4, &n), 5);
        CHECK(p->C_FindObjectsFinal(s), 6);
        if (n != 1 || found[0] != o)
            return (void *)7;
        char value[64] = { 0 };
        CK_ATTRIBUTE get = { CKA_VALUE, value, sizeof value };
        CHECK(p->C_GetAttributeValue(s, o, &get, 1), 8);
        if (get.ulValueLen != strlen(label) || memcmp(value, label, get.ulValueLen))
            return (void *)9;
        CK_BYTE data[4096], md[32], want[32];
        CHECK(p->C_GenerateRandom(s, data, sizeof data), 10);
        SHA256(data, sizeof data, want);
        CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
        CK_ULONG len = sizeof md;
        CHECK(p->C_DigestInit(s, &m), 11);
        CHECK(p->C_Digest(s, data, sizeof data, md, &len), 12);
        if (len != 32 || memcmp(md, want, 32))
            return (void *)13;
        CHECK(p->C_DestroyObject(s, o), 14);
        CHECK(p->C_CloseSession(s), 15);
    }
    return NULL;
}

static int process_main(void)
{
    if (p->C_Initialize(&(CK_C_INITIALIZE_ARGS){ .flags = CKF_OS_LOCKING_OK }) != CKR_OK)
        return 1;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *res;
        pthread_join(t[i], &res);
        if (res) {
            fprintf(stderr, "pid %d thread %d failed at step %d\n", (int)getpid(), i,
                    (int)(intptr_t)res);
            bad = 1;
        }
    }
    p->C_Finalize(NULL);
    return bad;
}

static void test_hammer(void **state)
{
    (void)state;
    assert_int_equal(daemon_start(&d), 0);
    setenv("SOFTFM_SOCKET", d.sock, 1);
    p = module_load();
    assert_non_null(p);
    assert_int_equal(p->C_Initialize(NULL), CKR_OK);
    assert_int_equal(hsm_setup(p, d.sock, &slot), 0);
    assert_int_equal(p->C_Finalize(NULL), CKR_OK);
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(process_main());
    }
    for (int i = 0; i < PROCS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    /* Every object was destroyed and every session closed. */
    assert_int_equal(p->C_Initialize(NULL), CKR_OK);
    CK_SESSION_HANDLE s;
    assert_int_equal(p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    assert_int_equal(p->C_Login(s, CKU_USER, PIN(T_USER_PIN)), CKR_OK);
    CK_OBJECT_HANDLE found[8];
    CK_ULONG n = 99;
    assert_int_equal(p->C_FindObjectsInit(s, NULL, 0), CKR_OK);
    assert_int_equal(p->C_FindObjects(s, found, 8, &n), CKR_OK);
    assert_int_equal(n, 0);
    CK_TOKEN_INFO ti;
    assert_int_equal(p->C_GetTokenInfo(slot, &ti), CKR_OK);
    assert_int_equal(ti.ulSessionCount, 1);
    p->C_Finalize(NULL);
    daemon_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_hammer) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
