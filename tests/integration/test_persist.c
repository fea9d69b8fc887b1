/*
 * Durability: 1,000 token objects are created and acknowledged; then a
 * second process keeps creating while softfmd is killed with SIGKILL at a
 * random moment. After a restart every acknowledged object must be there,
 * intact. Three rounds, each killed at a different moment.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

#define PIN(s) (CK_UTF8CHAR_PTR)(s), (CK_ULONG)strlen(s)
#define FIRST 1000
#define MAX_OBJECTS 20000

static daemon_proc_t d;
static CK_FUNCTION_LIST_PTR p;
static CK_SLOT_ID slot;

/* The value object i must hold. */
static void value_of(int i, CK_BYTE out[48])
{
    for (int k = 0; k < 48; k++)
        out[k] = (CK_BYTE)((i * 131 + k * 7) ^ (i >> 3));
}

static CK_RV create(CK_SESSION_HANDLE s, int i)
{
    char label[32];
    CK_BYTE value[48];
    snprintf(label, sizeof label, "persist-%d", i);
    value_of(i, value);
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_TOKEN, &yes, 1 },
                         { CKA_PRIVATE, &yes, 1 }, { CKA_LABEL, label, (CK_ULONG)strlen(label) },
                         { CKA_VALUE, value, sizeof value } };
    CK_OBJECT_HANDLE o;
    return p->C_CreateObject(s, t, 5, &o);
}

static CK_SESSION_HANDLE login(void)
{
    CK_SESSION_HANDLE s = 0;
    assert_int_equal(p->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
                     CKR_OK);
    assert_int_equal(p->C_Login(s, CKU_USER, PIN(T_USER_PIN)), CKR_OK);
    return s;
}

/* The second process: create from `from` on, writing each acknowledged
   index to fd, until the daemon dies. */
static int writer(int from, int fd)
{
    if (p->C_Initialize(NULL) != CKR_OK)
        return 1;
    CK_SESSION_HANDLE s;
    if (p->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) ||
        p->C_Login(s, CKU_USER, PIN(T_USER_PIN)))
        return 2;
    for (int i = from; i < MAX_OBJECTS; i++) {
        if (create(s, i) != CKR_OK)
            break;
        if (write(fd, &i, sizeof i) != sizeof i)
            return 3;
    }
    return 0;
}

static void test_kill9(void **state)
{
    (void)state;
    assert_int_equal(daemon_start(&d), 0);
    setenv("SOFTFM_SOCKET", d.sock, 1);
    p = module_load();
    assert_non_null(p);
    assert_int_equal(p->C_Initialize(NULL), CKR_OK);
    assert_int_equal(hsm_setup(p, d.sock, &slot), 0);
    static unsigned char acked[MAX_OBJECTS];
    CK_SESSION_HANDLE s = login();
    for (int i = 0; i < FIRST; i++) {
        assert_int_equal(create(s, i), CKR_OK);
        acked[i] = 1;
    }
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int next = FIRST;
    for (int round = 0; round < 3; round++) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            _exit(writer(next, pfd[1]));
        }
        close(pfd[1]);
        /* Kill after a random number of acknowledgements (and a random
           sliver of time), so the kill lands in the middle of a write. */
        int target = 20 + rand() % 300, seen = 0, i;
        while (seen < target && read(pfd[0], &i, sizeof i) == sizeof i) {
            acked[i] = 1;
            if (i >= next)
                next = i + 1;
            seen++;
        }
        usleep((useconds_t)(rand() % 3000));
        daemon_stop(&d, SIGKILL);
        while (read(pfd[0], &i, sizeof i) == sizeof i) {
            acked[i] = 1;
            if (i >= next)
                next = i + 1;
        }
        close(pfd[0]);
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        next += 1; /* an unacknowledged create may have landed: skip its index */

        assert_int_equal(daemon_start(&d), 0);
        s = login();
        /* Every acknowledged object is there and intact. */
        CK_OBJECT_CLASS cls = CKO_DATA;
        CK_ATTRIBUTE q = { CKA_CLASS, &cls, sizeof cls };
        assert_int_equal(p->C_FindObjectsInit(s, &q, 1), CKR_OK);
        static CK_OBJECT_HANDLE found[MAX_OBJECTS];
        CK_ULONG n = 0;
        assert_int_equal(p->C_FindObjects(s, found, MAX_OBJECTS, &n), CKR_OK);
        assert_int_equal(p->C_FindObjectsFinal(s), CKR_OK);
        static unsigned char present[MAX_OBJECTS];
        memset(present, 0, sizeof present);
        for (CK_ULONG k = 0; k < n; k++) {
            char label[32] = { 0 };
            CK_BYTE value[64], want[48];
            CK_ATTRIBUTE get[] = { { CKA_LABEL, label, sizeof label - 1 },
                                   { CKA_VALUE, value, sizeof value } };
            assert_int_equal(p->C_GetAttributeValue(s, found[k], get, 2), CKR_OK);
            int idx = -1;
            assert_int_equal(sscanf(label, "persist-%d", &idx), 1);
            assert_true(idx >= 0 && idx < MAX_OBJECTS);
            value_of(idx, want);
            assert_int_equal(get[1].ulValueLen, 48);
            assert_memory_equal(value, want, 48);
            present[idx] = 1;
        }
        int count = 0;
        for (int k = 0; k < MAX_OBJECTS; k++) {
            if (acked[k]) {
                if (!present[k])
                    fail_msg("acknowledged object %d is missing after kill -9", k);
                count++;
            }
        }
        printf("round %d: %d acknowledged objects, %lu found\n", round, count, n);
        assert_true(count >= FIRST + round + 20);
        assert_int_equal(p->C_CloseSession(s), CKR_OK);
    }
    p->C_Finalize(NULL);
    daemon_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_kill9) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
