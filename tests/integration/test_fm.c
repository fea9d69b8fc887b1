/*
 * FMs in a real softfmd, called through libsoftfm-md.so as host programs
 * call them: loading under the development policy, the MD API's rules
 * (scatter-gather as the seed describes it, terminators, NULL results, bad
 * arrays, unknown FMs), who is calling, an FM that crashes, hangs or does
 * not reply, host processes ending, several processes at once, restarts of
 * the HSM, deletion.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "client.h"
#include "sfm_md.h"
#include "../../fmsdk/samples/hello/hello.h"

static daemon_proc_t d;
static CK_FUNCTION_LIST_PTR p;

static uint32_t htonl_(uint32_t v)
{
    return fm_htobe32(v);
}

static uint32_t ntohl_(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static CK_SLOT_ID slot;

static CK_RV load_hello(char *reason, size_t cap)
{
    return load_fm(d.sock, getenv("SOFTFM_HELLO_FM"), reason, cap);
}

/* A request: command and data, in one or two request buffers. */
static MD_RV call(uint32_t cmd, const void *data, uint32_t len, uint32_t timeout, void *out,
                  uint32_t cap, uint32_t *got, uint32_t *status)
{
    uint32_t be = htonl_(cmd);
    MD_Buffer_t req[] = { { (uint8_t *)&be, 4 }, { (uint8_t *)data, len }, { NULL, 0 } };
    if (!len)
        req[1] = (MD_Buffer_t){ NULL, 0 };
    MD_Buffer_t resp[] = { { out, cap }, { NULL, 0 } };
    return MD_SendReceive(0, 77, HELLO_FM_NUMBER, req, timeout, out ? resp : resp + 1, got,
                          status);
}

static int group_setup(void **state)
{
    (void)state;
    setenv("SOFTFM_FM_TRACE_MAX", "65536", 1); /* for the daemon: a small trace */
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
    MD_Finalize();
    if (p)
        p->C_Finalize(NULL);
    daemon_cleanup(&d);
    return 0;
}

static void test_before_initialize(void **state)
{
    (void)state;
    uint32_t n;
    MD_Buffer_t none[] = { { NULL, 0 } };
    assert_int_equal(MD_SendReceive(0, 0, 0x300, none, 0, none, NULL, NULL), MDR_NOT_INITIALIZED);
    assert_int_equal(MD_GetHsmCount(&n), MDR_NOT_INITIALIZED);
    assert_int_equal(MD_Initialize(), MDR_OK);
    assert_int_equal(MD_GetHsmCount(&n), MDR_OK);
    assert_int_equal(n, 1);
    HsmState_t st;
    assert_int_equal(MD_GetHsmState(0, &st, NULL), MDR_OK);
    assert_int_equal(st, S_NORMAL_OPERATION);
    assert_int_equal(MD_GetHsmState(1, &st, NULL), MDR_INVALID_HSM_INDEX);
    uint32_t max = 0;
    assert_int_equal(MD_GetParameter(MDP_MAX_BUFFER_LENGTH, &max, sizeof max), MDR_OK);
    assert_true(max >= 65536);
    assert_int_equal(MD_GetParameter(MDP_MAX_BUFFER_LENGTH, &max, 2), MDR_INVALID_PARAMETER);
    assert_string_equal(MD_RvAsString(MDR_FM_NOT_AVAILABLE), "MDR_FM_NOT_AVAILABLE");
}

static void test_load_rules(void **state)
{
    (void)state;
    char why[256] = "";
    /* Off by default: the development policy must be switched on. */
    assert_int_equal(load_hello(why, sizeof why), SFM_R_POLICY);
    assert_non_null(strstr(why, "allow-unsigned-fms"));
    assert_int_equal(set_policy(d.sock, "allow-unsigned-fms", 2), CKR_ARGUMENTS_BAD);
    assert_int_equal(set_policy(d.sock, "allow-unsigned-fms", 1), CKR_OK);
    /* Not FMs at all. */
    static const uint8_t junk[] = "definitely not an ELF image";
    assert_int_equal(admin(d.sock, OP_ADMIN_FM_LOAD, junk, sizeof junk, 1, T_SO_PIN, why, sizeof why),
                     SFM_R_BAD_IMAGE);
    assert_string_equal(why, "not an ELF file");
    size_t n;
    uint8_t *own = read_file("/bin/true", &n);
    assert_non_null(own);
    assert_int_equal(admin(d.sock, OP_ADMIN_FM_LOAD, own, n, 1, T_SO_PIN, why, sizeof why), SFM_R_BAD_IMAGE);
    free(own);
    /* The wrong SO PIN loads nothing. */
    uint8_t *img = read_file(getenv("SOFTFM_HELLO_FM"), &n);
    assert_non_null(img);
    assert_int_equal(admin(d.sock, OP_ADMIN_FM_LOAD, img, n, 1, "wrong-pin", NULL, 0), CKR_PIN_INCORRECT);
    /* A truncated image is refused, every way it is cut. */
    for (size_t cut = 0; cut < n; cut += n / 7 + 1)
        assert_int_not_equal(admin(d.sock, OP_ADMIN_FM_LOAD, img, cut, 1, T_SO_PIN, NULL, 0), CKR_OK);
    free(img);
    assert_int_equal(load_hello(why, sizeof why), CKR_OK);
    assert_int_equal(load_hello(why, sizeof why), SFM_R_EXISTS);
    /* Loaded, but no FM runs before the SMFS is active. */
    char out[8];
    assert_int_equal(call(HELLO_ECHO, "x", 1, 0, out, sizeof out, NULL, NULL),
                     MDR_FM_NOT_AVAILABLE);
    assert_int_equal(admin(d.sock, OP_ADMIN_SMFS_ACTIVATE, NULL, 0, 0, "wrong-pin", NULL, 0),
                     CKR_PIN_INCORRECT);
    assert_int_equal(admin(d.sock, OP_ADMIN_SMFS_ACTIVATE, NULL, 0, 0, T_SO_PIN, NULL, 0), CKR_OK);
    assert_int_equal(call(HELLO_ECHO, "x", 1, 0, out, sizeof out, NULL, NULL), MDR_OK);
    uint32_t id = 0;
    assert_int_equal(MD_GetFmIdFromName(0, "hello", 5, &id), MDR_OK);
    assert_int_equal(id, HELLO_FM_NUMBER);
    assert_int_equal(MD_GetFmIdFromName(0, "nosuchfm", 8, &id), MDR_FM_NOT_AVAILABLE);
}

static void test_echo_and_transform(void **state)
{
    (void)state;
    char out[64];
    uint32_t got = 0, st = 99;
    assert_int_equal(call(HELLO_ECHO, "hello, FM", 9, 0, out, sizeof out, &got, &st), MDR_OK);
    assert_int_equal(st, 0);
    assert_int_equal(got, 9);
    assert_memory_equal(out, "hello, FM", 9);
    assert_int_equal(call(HELLO_UPPER, "hello, FM", 9, 0, out, sizeof out, &got, &st), MDR_OK);
    assert_memory_equal(out, "HELLO, FM", 9);
    /* Three request buffers are joined into one request. */
    uint32_t be = htonl_(HELLO_ECHO);
    MD_Buffer_t req[] = { { (uint8_t *)&be, 4 }, { (uint8_t *)"abc", 3 }, { (uint8_t *)"de", 2 },
                          { NULL, 0 } };
    MD_Buffer_t resp[] = { { (uint8_t *)out, sizeof out }, { NULL, 0 } };
    assert_int_equal(MD_SendReceive(0, 0, HELLO_FM_NUMBER, req, 0, resp, &got, &st), MDR_OK);
    assert_int_equal(got, 5);
    assert_memory_equal(out, "abcde", 5);
    /* Results may be NULL. */
    assert_int_equal(call(HELLO_ECHO, "x", 1, 0, out, sizeof out, NULL, NULL), MDR_OK);
    /* An unknown command is the FM's answer, not a transport error. */
    assert_int_equal(call(99, NULL, 0, 0, out, sizeof out, &got, &st), MDR_OK);
    assert_int_equal(st, 0x0E); /* FM_ERR_INVALID_CMD */
}

/* The seed's example: two 40-byte reply buffers, two 32-byte replies. */
static void test_scatter_gather(void **state)
{
    (void)state;
    uint8_t a[40], b[40];
    memset(a, 0xEE, sizeof a);
    memset(b, 0xEE, sizeof b);
    uint32_t be = htonl_(HELLO_TWO_BLOCKS);
    MD_Buffer_t req[] = { { (uint8_t *)&be, 4 }, { NULL, 0 } };
    MD_Buffer_t resp[] = { { a, 40 }, { b, 40 }, { NULL, 0 } };
    uint32_t got = 0, st = 99;
    assert_int_equal(MD_SendReceive(0, 0, HELLO_FM_NUMBER, req, 0, resp, &got, &st), MDR_OK);
    assert_int_equal(got, 64);
    uint8_t want_a[40], want_b[40];
    memset(want_a, 0x11, 32);
    memset(want_a + 32, 0x22, 8);  /* 8 bytes of the second reply */
    memset(want_b, 0x22, 24);      /* the remaining 24 */
    memset(want_b + 24, 0xEE, 16); /* untouched */
    assert_memory_equal(a, want_a, 40);
    assert_memory_equal(b, want_b, 40);
    /* Reply buffers too small: the reply is cut, the FM's status kept. */
    uint8_t small[10];
    MD_Buffer_t one[] = { { small, sizeof small }, { NULL, 0 } };
    assert_int_equal(MD_SendReceive(0, 0, HELLO_FM_NUMBER, req, 0, one, &got, &st), MDR_OK);
    assert_int_equal(got, 10);
    assert_int_equal(st, 0);
}

static void test_bad_arrays(void **state)
{
    (void)state;
    uint8_t out[8];
    uint32_t be = htonl_(HELLO_ECHO);
    MD_Buffer_t ok[] = { { (uint8_t *)&be, 4 }, { NULL, 0 } };
    MD_Buffer_t resp[] = { { out, sizeof out }, { NULL, 0 } };
    MD_Buffer_t null_data[] = { { NULL, 5 }, { NULL, 0 } };
    assert_int_equal(MD_SendReceive(0, 0, HELLO_FM_NUMBER, NULL, 0, resp, NULL, NULL),
                     MDR_INVALID_PARAMETER);
    assert_int_equal(MD_SendReceive(0, 0, HELLO_FM_NUMBER, ok, 0, NULL, NULL, NULL),
                     MDR_INVALID_PARAMETER);
    assert_int_equal(MD_SendReceive(0, 0, HELLO_FM_NUMBER, null_data, 0, resp, NULL, NULL),
                     MDR_INVALID_PARAMETER);
    assert_int_equal(MD_SendReceive(0, 0, HELLO_FM_NUMBER, ok, 0, null_data, NULL, NULL),
                     MDR_INVALID_PARAMETER);
    assert_int_equal(MD_SendReceive(1, 0, HELLO_FM_NUMBER, ok, 0, resp, NULL, NULL),
                     MDR_INVALID_HSM_INDEX);
    assert_int_equal(MD_SendReceive(0, 0, 0x0777, ok, 0, resp, NULL, NULL), MDR_FM_NOT_AVAILABLE);
    /* Above the advertised maximum: refused before anything is sent. */
    uint32_t max;
    assert_int_equal(MD_GetParameter(MDP_MAX_BUFFER_LENGTH, &max, sizeof max), MDR_OK);
    uint8_t *big = calloc(1, (size_t)max + 1);
    assert_non_null(big);
    MD_Buffer_t huge[] = { { big, max + 1 }, { NULL, 0 } };
    assert_int_equal(MD_SendReceive(0, 0, HELLO_FM_NUMBER, huge, 0, resp, NULL, NULL),
                     MDR_INVALID_PARAMETER);
    /* The maximum itself goes through. */
    memcpy(big, &be, 4);
    MD_Buffer_t full[] = { { big, max }, { NULL, 0 } };
    MD_Buffer_t back[] = { { big, max }, { NULL, 0 } };
    uint32_t got = 0;
    assert_int_equal(MD_SendReceive(0, 0, HELLO_FM_NUMBER, full, 0, back, &got, NULL), MDR_OK);
    assert_int_equal(got, max - 4);
    free(big);
}

static void test_who_is_calling(void **state)
{
    (void)state;
    uint8_t out[12];
    uint32_t got = 0, st = 99;
    assert_int_equal(call(HELLO_WHO, NULL, 0, 0, out, sizeof out, &got, &st), MDR_OK);
    assert_int_equal(got, 12);
    assert_int_equal(ntohl_(out), (uint32_t)getpid());   /* SVC_GetPid */
    assert_int_equal(ntohl_(out + 4), 77);               /* SVC_GetOid: the originatorId */
    assert_int_equal(ntohl_(out + 8), (uint32_t)getpid()); /* FM_GetCurrentAppId */
}

static int trace_contains(const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/fm-trace/hello.log", d.data);
    size_t n;
    uint8_t *buf = read_file(path, &n);
    if (!buf)
        return 0;
    buf[n < (4u << 20) ? n : n - 1] = '\0';
    int found = strstr((char *)buf, text) != NULL;
    free(buf);
    return found;
}

static void test_misbehaving_fm(void **state)
{
    (void)state;
    uint8_t out[16];
    uint32_t got = 0, st = 0;
    /* No reply: the HSM answers for it. */
    assert_int_equal(call(HELLO_NO_REPLY, NULL, 0, 0, out, sizeof out, &got, &st), MDR_OK);
    assert_int_equal(st, 0x0C); /* FM_ERR_INVALID_REQUEST */
    assert_true(trace_contains("without SVC_SendReply"));
    /* A crash fails that request only; the FM comes back. */
    assert_int_equal(call(HELLO_CRASH, NULL, 0, 0, out, sizeof out, &got, &st), MDR_HSM_FAILED);
    assert_true(trace_contains("signal 11"));
    assert_int_equal(call(HELLO_ECHO, "ok", 2, 0, out, sizeof out, &got, &st), MDR_OK);
    assert_memory_equal(out, "ok", 2);
    /* A hang is cut off by the request's timeout. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(call(HELLO_SPIN, NULL, 0, 300, out, sizeof out, &got, &st), MDR_HSM_FAILED);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 5);
    assert_int_equal(call(HELLO_ECHO, "again", 5, 0, out, sizeof out, &got, &st), MDR_OK);
    assert_memory_equal(out, "again", 5);
    /* The sandbox: no files, and a bounded heap (not in sanitizer builds,
       whose runtimes the fmhost leaves unconfined). */
    if (!getenv("SOFTFM_PRELOAD")) {
        assert_int_equal(call(HELLO_ESCAPE, NULL, 0, 0, out, sizeof out, &got, &st),
                         MDR_HSM_FAILED);
        assert_true(trace_contains("system call FMs may not make (number 257)"));
        assert_int_equal(call(HELLO_HOG, NULL, 0, 0, out, sizeof out, &got, &st), MDR_OK);
        assert_int_equal(got, 4);
        assert_true(ntohl_(out) > 16 && ntohl_(out) <= 256); /* the 256 MiB limit */
        assert_int_equal(call(HELLO_ECHO, "alive", 5, 0, out, sizeof out, &got, &st), MDR_OK);
    }
    /* PKCS#11 went on working throughout. */
    CK_ULONG count = 0;
    assert_int_equal(p->C_GetSlotList(CK_FALSE, NULL, &count), CKR_OK);
    assert_true(count >= 2);
}

static void test_trace(void **state)
{
    (void)state;
    uint32_t st = 99;
    assert_int_equal(call(HELLO_TRACE, "a line for the trace", 20, 0, NULL, 0, NULL, &st),
                     MDR_OK);
    assert_int_equal(st, 0);
    assert_true(trace_contains("hello: a line for the trace"));
    assert_true(trace_contains("the data (20 bytes)"));
    /* The trace stays bounded: its older half goes, the newest stays. */
    char line[1001];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    for (int i = 0; i < 100; i++) {
        snprintf(line, 12, "line%06d:", i);
        line[11] = 'x';
        assert_int_equal(call(HELLO_TRACE, line, 1000, 0, NULL, 0, NULL, &st), MDR_OK);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/fm-trace/hello.log", d.data);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size <= 65536 + 8192);
    assert_true(trace_contains("[older trace lines dropped]"));
    assert_true(trace_contains("line000099:"));
    assert_false(trace_contains("line000001:"));
}

static int host_process(void *arg)
{
    int n = *(int *)arg;
    if (MD_Initialize() != MDR_OK)
        return 1;
    char msg[32], out[32];
    for (int i = 0; i < n; i++) {
        int len = snprintf(msg, sizeof msg, "%d:%d", (int)getpid(), i);
        uint32_t got = 0, st = 99;
        if (call(HELLO_ECHO, msg, (uint32_t)len, 0, out, sizeof out, &got, &st) != MDR_OK ||
            st != 0 || got != (uint32_t)len || memcmp(out, msg, (size_t)len))
            return 2;
    }
    MD_Finalize();
    return 0;
}

static uint32_t closed_count(void)
{
    uint8_t out[4];
    uint32_t got = 0, st = 99;
    if (call(HELLO_CLOSED, NULL, 0, 0, out, sizeof out, &got, &st) != MDR_OK || got != 4)
        return UINT32_MAX;
    return ntohl_(out);
}

/* Several host processes at once, each checking its own answers; each one's
   end reaches the FM as FMSW_EVENT_APP_CLOSE. */
static void test_many_hosts(void **state)
{
    (void)state;
    uint32_t before = closed_count();
    enum { PROCS = 4 };
    int n = 200;
    pid_t kids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0)
            _exit(host_process(&n));
    }
    for (int i = 0; i < PROCS; i++) {
        int status;
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    uint32_t after = before;
    for (int tries = 0; tries < 100 && after < before + PROCS; tries++) {
        usleep(20000);
        after = closed_count();
    }
    assert_int_equal(after, before + PROCS);
    assert_true(trace_contains("has ended"));
    /* The test process itself still uses the FM: never "all closed". */
    assert_false(trace_contains("no host process is left"));
}

static void test_hsm_restart_and_delete(void **state)
{
    (void)state;
    daemon_stop(&d, SIGTERM);
    assert_int_equal(daemon_start(&d), 0);
    uint8_t out[16];
    uint32_t got = 0, st = 99;
    /* After a restart the SMFS waits for its activation again, and the FM
       with it; with the auto-activation policy it would not. */
    MD_RV rv = call(HELLO_ECHO, "back", 4, 0, out, sizeof out, &got, &st);
    if (rv != MDR_FM_NOT_AVAILABLE) /* the first call may meet the old connection */
        rv = call(HELLO_ECHO, "back", 4, 0, out, sizeof out, &got, &st);
    assert_int_equal(rv, MDR_FM_NOT_AVAILABLE);
    assert_int_equal(set_policy(d.sock, "smfs-auto-activate", 1), CKR_OK);
    rv = call(HELLO_ECHO, "back", 4, 0, out, sizeof out, &got, &st);
    assert_int_equal(rv, MDR_OK);
    assert_memory_equal(out, "back", 4);
    assert_int_equal(admin(d.sock, OP_ADMIN_FM_DELETE, "hello", 5, 0, "wrong-pin", NULL, 0),
                     CKR_PIN_INCORRECT);
    assert_int_equal(admin(d.sock, OP_ADMIN_FM_DELETE, "nosuch", 6, 0, T_SO_PIN, NULL, 0), SFM_R_NOT_FOUND);
    assert_int_equal(admin(d.sock, OP_ADMIN_FM_DELETE, "0x0300", 6, 0, T_SO_PIN, NULL, 0), CKR_OK);
    assert_int_equal(call(HELLO_ECHO, "gone", 4, 0, out, sizeof out, &got, &st),
                     MDR_FM_NOT_AVAILABLE);
    /* And it stays deleted across a restart. */
    daemon_stop(&d, SIGKILL);
    assert_int_equal(daemon_start(&d), 0);
    rv = call(HELLO_ECHO, "gone", 4, 0, out, sizeof out, &got, &st);
    if (rv != MDR_FM_NOT_AVAILABLE)
        rv = call(HELLO_ECHO, "gone", 4, 0, out, sizeof out, &got, &st);
    assert_int_equal(rv, MDR_FM_NOT_AVAILABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_before_initialize),
        cmocka_unit_test(test_load_rules),
        cmocka_unit_test(test_echo_and_transform),
        cmocka_unit_test(test_scatter_gather),
        cmocka_unit_test(test_bad_arrays),
        cmocka_unit_test(test_who_is_calling),
        cmocka_unit_test(test_trace),
        cmocka_unit_test(test_misbehaving_fm),
        cmocka_unit_test(test_many_hosts),
        cmocka_unit_test(test_hsm_restart_and_delete),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
