/*
 * The stream and login sample FMs in a real softfmd: the stream dispatch
 * model (reads, writes, the pointer forms, a reply that would outgrow the
 * host's buffers), and an FM that tracks which host processes logged in to
 * it and forgets those that end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common.h"
#include "harness.h"
#include "sfm_md.h"
#include "../../fmsdk/samples/login/login.h"
#include "../../fmsdk/samples/stream/stream.h"

static daemon_proc_t d;

static int load(const char *env)
{
    return load_fm(d.sock, getenv(env), NULL, 0) == CKR_OK ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
    if (daemon_start(&d))
        return -1;
    setenv("SOFTFM_SOCKET", d.sock, 1);
    CK_FUNCTION_LIST_PTR p = module_load();
    CK_SLOT_ID slot;
    if (!p || p->C_Initialize(NULL) || hsm_setup(p, d.sock, &slot) || p->C_Finalize(NULL))
        return -1;
    if (set_policy(d.sock, "allow-unsigned-fms", 1) || set_policy(d.sock, "smfs-auto-activate", 1) ||
        load("SOFTFM_STREAM_FM") ||
        load("SOFTFM_LOGIN_FM"))
        return -1;
    return MD_Initialize() == MDR_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    MD_Finalize();
    daemon_cleanup(&d);
    return 0;
}

static uint32_t be_at(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static MD_RV send_to(uint16_t fm, const void *req, uint32_t len, void *out, uint32_t cap,
                     uint32_t *got, uint32_t *status)
{
    MD_Buffer_t rq[] = { { (uint8_t *)req, len }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { out, cap }, { NULL, 0 } };
    return MD_SendReceive(0, 0, fm, len ? rq : rq + 1, 0, out ? rs : rs + 1, got, status);
}

static void test_stream(void **state)
{
    (void)state;
    uint32_t req[6] = { fm_htobe32(5) };
    uint32_t nums[5] = { 1, 2, 3, 0xFFFFFFFFu, 7 };
    for (int i = 0; i < 5; i++)
        req[1 + i] = fm_htobe32(nums[i]);
    uint8_t out[64];
    uint32_t got = 0, st = 99;
    assert_int_equal(send_to(STREAM_FM_NUMBER, req, sizeof req, out, sizeof out, &got, &st),
                     MDR_OK);
    assert_int_equal(st, 0);
    assert_int_equal(got, 8 + 20);
    uint64_t sum = (uint64_t)be_at(out) << 32 | be_at(out + 4);
    assert_true(sum == 1ull + 2 + 3 + 0xFFFFFFFFull + 7);
    for (int i = 0; i < 5; i++)
        assert_int_equal(be_at(out + 8 + 4 * i), nums[4 - i]);
    /* Shorter than it says. */
    assert_int_equal(send_to(STREAM_FM_NUMBER, req, 12, out, sizeof out, &got, &st), MDR_OK);
    assert_int_equal(st, 0x0D); /* FM_ERR_INVALID_LENGTH */
    /* The reply would outgrow the host's buffers: the write pointer says
       no, and the FM's status says so. */
    assert_int_equal(send_to(STREAM_FM_NUMBER, req, sizeof req, out, 12, &got, &st), MDR_OK);
    assert_int_equal(st, 0x09); /* FM_ERR_OUT_OF_MEMORY */
    assert_true(got <= 12);
}

static uint32_t login_call(uint32_t cmd, const char *data, char *out, uint32_t *got)
{
    uint8_t req[64];
    uint32_t be = fm_htobe32(cmd), n = data ? (uint32_t)strlen(data) : 0;
    memcpy(req, &be, 4);
    if (n)
        memcpy(req + 4, data, n);
    uint8_t buf[64];
    uint32_t g = 0, st = 99;
    if (send_to(LOGIN_FM_NUMBER, req, 4 + n, buf, sizeof buf, &g, &st) != MDR_OK)
        return 0xFFFFFFFFu;
    if (out && got) {
        memcpy(out, buf, g);
        *got = g;
    }
    return st;
}

static uint32_t logins(void)
{
    char out[4];
    uint32_t got = 0;
    if (login_call(LOGIN_COUNT, NULL, out, &got) || got != 4)
        return 0xFFFFFFFFu;
    return be_at((uint8_t *)out);
}

static int other_process(void *arg)
{
    (void)arg;
    if (MD_Initialize() != MDR_OK)
        return 1;
    /* Not logged in here, though the test process is. */
    if (login_call(LOGIN_SECRET, NULL, NULL, NULL) != 0x0C)
        return 2;
    if (login_call(LOGIN_LOGIN, LOGIN_PASSWORD, NULL, NULL) != 0)
        return 3;
    char out[64];
    uint32_t got = 0;
    if (login_call(LOGIN_SECRET, NULL, out, &got) != 0 || got != strlen(LOGIN_THE_SECRET))
        return 4;
    return 0; /* ends logged in: the FM must forget it */
}

static void test_login_tracking(void **state)
{
    (void)state;
    char out[64];
    uint32_t got = 0;
    assert_int_equal(login_call(LOGIN_SECRET, NULL, out, &got), 0x0C); /* FM_ERR_INVALID_REQUEST */
    assert_int_equal(login_call(LOGIN_LOGIN, "wrong", NULL, NULL), 0x02); /* FM_ARGUMENTS_BAD */
    assert_int_equal(login_call(LOGIN_LOGIN, LOGIN_PASSWORD, NULL, NULL), 0);
    assert_int_equal(login_call(LOGIN_SECRET, NULL, out, &got), 0);
    assert_int_equal(got, strlen(LOGIN_THE_SECRET));
    assert_memory_equal(out, LOGIN_THE_SECRET, got);
    assert_int_equal(logins(), 1);
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0)
        _exit(other_process(NULL));
    int status;
    assert_int_equal(waitpid(kid, &status, 0), kid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    uint32_t n = logins();
    for (int i = 0; i < 100 && n != 1; i++) {
        usleep(20000);
        n = logins();
    }
    assert_int_equal(n, 1); /* the ended process is forgotten; we are not */
    assert_int_equal(login_call(LOGIN_LOGOUT, NULL, NULL, NULL), 0);
    assert_int_equal(login_call(LOGIN_SECRET, NULL, out, &got), 0x0C);
    assert_int_equal(logins(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_login_tracking),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
