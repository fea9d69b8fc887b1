/*
 * FMs that patch the HSM's Cryptoki, against a real softfmd: a patched
 * function runs in the FM for every application and reaches the HSM's own
 * through C_xxx; one FM a function; damaged tables refused; a replacement
 * that crashes, hangs or returns a code outside PKCS#11 costs the caller
 * CKR_DEVICE_ERROR, never the unpatched function; deleting the FM brings
 * the HSM's functions back.
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "client.h"
#include "common.h"
#include "harness.h"
#include "sfm_md.h"

static daemon_proc_t d;
static char dir[512];
static CK_FUNCTION_LIST_PTR p;
static CK_SLOT_ID part;

enum { CMD_REFUSE_SLOT = 1, CMD_CRASH, CMD_HANG, CMD_BAD_RV, CMD_CALLS };

static CK_RV load(const char *name, char *why, size_t cap)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    return load_fm(d.sock, path, why, cap);
}

static CK_RV unload(const char *name)
{
    return admin(d.sock, OP_ADMIN_FM_DELETE, name, strlen(name), 0, T_SO_PIN, NULL, 0);
}

/* A message to patcha: the count of its replacement calls (~0u on failure). */
static uint32_t tell(uint32_t cmd, uint32_t arg)
{
    uint32_t be[2] = { fm_htobe32(cmd), fm_htobe32(arg) };
    uint8_t out[4];
    MD_Buffer_t rq[] = { { (uint8_t *)be, 8 }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { out, sizeof out }, { NULL, 0 } };
    uint32_t got = 0, st = 0;
    if (MD_SendReceive(0, 0, 0x0340, rq, 0, rs, &got, &st) != MDR_OK || got != 4)
        return ~0u;
    return (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
}

/* An FM's state from the status list (0xFFFFFFFF when not listed). */
static uint32_t state_of(const char *name)
{
    uint32_t state, startup, number;
    fm_status_of(d.sock, name, &state, &startup, &number);
    return state;
}

/* Whether an FM's trace holds text. */
static int trace_has(const char *name, const char *text)
{
    client_t *c = client_new(d.sock);
    client_conn_t *k;
    wbuf_t *w;
    rbuf_t r;
    CK_RV st = CKR_GENERAL_ERROR;
    int found = 0;
    if (client_begin(c, OP_ADMIN_FM_TRACE, &k, &w) == CKR_OK) {
        wb_bytes(w, name, strlen(name));
        wb_u64(w, 0);
        if (client_call(c, k, &st, &r) == CKR_OK && st == CKR_OK) {
            rb_u64(&r);
            size_t n;
            const uint8_t *t = rb_bytes(&r, &n);
            found = t && memmem(t, n, text, strlen(text)) != NULL;
        }
        client_end(c, k);
    }
    client_free(c);
    return found;
}

static CK_RV random16(CK_BYTE out[16])
{
    CK_SESSION_HANDLE s;
    CK_RV rv = p->C_OpenSession(part, CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv)
        return rv;
    rv = p->C_GenerateRandom(s, out, 16);
    p->C_CloseSession(s);
    return rv;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", getenv("SOFTFM_TEST_FMS"));
    if (daemon_start(&d))
        return -1;
    setenv("SOFTFM_SOCKET", d.sock, 1);
    p = module_load();
    if (!p || p->C_Initialize(NULL) || hsm_setup(p, d.sock, &part))
        return -1;
    if (set_policy(d.sock, "allow-unsigned-fms", 1) || set_policy(d.sock, "smfs-auto-activate", 1))
        return -1;
    return MD_Initialize() == MDR_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    MD_Finalize();
    p->C_Finalize(NULL);
    daemon_cleanup(&d);
    return 0;
}

/* The replacement runs for a host application and reaches the HSM's own
   C_GenerateRandom (no loop): random bytes, the first one set by the FM. */
static void test_patched_function(void **state)
{
    (void)state;
    CK_BYTE out[16];
    assert_int_equal(random16(out), CKR_OK);
    assert_int_not_equal(out[0], 0xA5); /* unpatched: 1 in 256 would be flaky; see below */
    assert_int_equal(load("patcha", NULL, 0), CKR_OK);
    assert_int_equal(state_of("patcha"), 1);
    assert_true(trace_has("patcha", "Startup patched the HSM's Cryptoki: C_OpenSession "
                                    "C_GenerateRandom"));
    uint32_t before = tell(CMD_CALLS, 0);
    CK_BYTE prev[16] = { 0 };
    for (int i = 0; i < 8; i++) {
        assert_int_equal(random16(out), CKR_OK);
        assert_int_equal(out[0], 0xA5);
        assert_memory_not_equal(out + 1, prev + 1, 15); /* the HSM's random, not a constant */
        memcpy(prev, out, sizeof out);
    }
    /* 8 × (C_OpenSession + C_GenerateRandom) */
    assert_int_equal(tell(CMD_CALLS, 0), before + 16);
}

/* The restrict pattern: C_OpenSession refused on a chosen slot only. */
static void test_refused_slot(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s;
    assert_int_not_equal(tell(CMD_REFUSE_SLOT, (uint32_t)part), ~0u);
    assert_int_equal(p->C_OpenSession(part, CKF_SERIAL_SESSION, NULL, NULL, &s),
                     CKR_SLOT_ID_INVALID);
    assert_int_equal(p->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
    assert_int_not_equal(tell(CMD_REFUSE_SLOT, 0xFFFFFFFFu), ~0u);
    assert_int_equal(p->C_OpenSession(part, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

/* One FM a function: a second FM that patches C_GenerateRandom is refused
   and not kept; tables damaged in Startup keep their FM from running. */
static void test_refusals(void **state)
{
    (void)state;
    char why[256] = "";
    assert_int_equal(load("patchb", why, sizeof why), SFM_R_EXISTS);
    assert_non_null(strstr(why, "patches C_GenerateRandom, which FM patcha patches already"));
    assert_int_equal(state_of("patchb"), 0xFFFFFFFFu);
    assert_int_equal(load("patchnull", NULL, 0), CKR_OK);
    assert_int_equal(state_of("patchnull"), 2);
    assert_true(trace_has("patchnull", "Startup left C_Sign NULL in the Cryptoki table"));
    assert_int_equal(load("patchover", NULL, 0), CKR_OK);
    assert_int_equal(state_of("patchover"), 2);
    assert_true(trace_has("patchover", "wrote past the 68 entries"));
    assert_int_equal(unload("patchnull"), CKR_OK);
    assert_int_equal(unload("patchover"), CKR_OK);
    /* the HSM's C_Sign is unharmed */
    CK_BYTE out[16];
    assert_int_equal(random16(out), CKR_OK);
    assert_int_equal(out[0], 0xA5);
}

/* A replacement that returns a code outside PKCS#11, crashes or hangs:
   CKR_DEVICE_ERROR for that call, the trace says why, the HSM stays up. */
static void test_misbehaving_replacement(void **state)
{
    (void)state;
    CK_BYTE out[16];
    assert_int_not_equal(tell(CMD_BAD_RV, 0), ~0u);
    assert_int_equal(random16(out), CKR_DEVICE_ERROR);
    assert_true(trace_has("patcha", "returned 0xdeadbee, not a PKCS#11 code"));
    assert_int_not_equal(tell(CMD_CRASH, 0), ~0u);
    assert_int_equal(random16(out), CKR_DEVICE_ERROR);
    assert_true(trace_has("patcha", "FM crashed"));
    /* restarted on the next call, patched again */
    assert_int_equal(random16(out), CKR_OK);
    assert_int_equal(out[0], 0xA5);
    assert_int_not_equal(tell(CMD_HANG, 0), ~0u);
    assert_int_equal(random16(out), CKR_DEVICE_ERROR);
    assert_true(trace_has("patcha", "overrunning its time in a patched Cryptoki function"));
    assert_int_equal(random16(out), CKR_OK);
    assert_int_equal(out[0], 0xA5);
}

/* FMSC_SendReceive: the host extension of the PKCS#11 module reaches the FM
   behind a session of the caller's. */
static void test_fmsc_send_receive(void **state)
{
    (void)state;
    void *lib = dlopen(getenv("SOFTFM_MODULE"), RTLD_NOW);
    assert_non_null(lib);
    CK_RV (*send)(CK_SESSION_HANDLE, unsigned short, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                  CK_ULONG_PTR, uint32_t *) =
        (CK_RV(*)(CK_SESSION_HANDLE, unsigned short, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
                  CK_ULONG, CK_ULONG_PTR, uint32_t *))dlsym(lib, "FMSC_SendReceive");
    assert_non_null(send);
    CK_SESSION_HANDLE s;
    assert_int_equal(p->C_OpenSession(part, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    uint32_t be[2] = { fm_htobe32(CMD_CALLS), 0 }, st = 99;
    CK_BYTE out[8];
    CK_ULONG got = 0;
    uint32_t calls = tell(CMD_CALLS, 0);
    assert_int_equal(send(s, 0x0340, (CK_BYTE_PTR)be, 8, out, sizeof out, &got, &st), CKR_OK);
    assert_int_equal(got, 4);
    assert_int_equal(st, 0);
    assert_int_equal((uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3],
                     calls);
    assert_int_equal(send(s, 0x0399, (CK_BYTE_PTR)be, 8, out, sizeof out, &got, &st),
                     CKR_FUNCTION_FAILED);
    assert_int_equal(send(s + 1000, 0x0340, (CK_BYTE_PTR)be, 8, out, sizeof out, &got, &st),
                     CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(send(s, 0x0340, NULL, 8, out, sizeof out, &got, &st), CKR_ARGUMENTS_BAD);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
    dlclose(lib);
}

/* After an HSM restart the patching FM waits for the SMFS: its functions
   fail meanwhile instead of running unpatched (the HSM remembers what it
   patches), and work again once it runs. */
static void test_waiting_fm_not_bypassed(void **state)
{
    (void)state;
    assert_int_equal(set_policy(d.sock, "smfs-auto-activate", 0), CKR_OK);
    daemon_stop(&d, SIGTERM);
    assert_int_equal(daemon_start(&d), 0);
    CK_ULONG n = 0;
    for (int i = 0; i < 3 && p->C_GetSlotList(CK_FALSE, NULL, &n) != CKR_OK; i++)
        ; /* the module reconnects */
    assert_int_equal(state_of("patcha"), 3); /* waiting */
    CK_BYTE out[16];
    CK_SESSION_HANDLE s;
    assert_int_equal(p->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_DEVICE_ERROR);
    assert_int_equal(random16(out), CKR_DEVICE_ERROR);
    assert_int_equal(admin(d.sock, OP_ADMIN_SMFS_ACTIVATE, NULL, 0, 0, T_SO_PIN, NULL, 0), CKR_OK);
    assert_int_equal(state_of("patcha"), 1);
    assert_int_equal(random16(out), CKR_OK);
    assert_int_equal(out[0], 0xA5);
    assert_int_equal(set_policy(d.sock, "smfs-auto-activate", 1), CKR_OK);
}

/* A request to udfm: up to 6 u32 values back, the count in *n. */
static MD_RV ud(uint32_t cmd, uint32_t kind, uint32_t key, uint32_t *v, uint32_t *n)
{
    uint32_t be[3] = { fm_htobe32(cmd), fm_htobe32(kind), fm_htobe32(key) };
    uint8_t out[24];
    MD_Buffer_t rq[] = { { (uint8_t *)be, sizeof be }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { out, sizeof out }, { NULL, 0 } };
    uint32_t got = 0, st = 0;
    MD_RV rv = MD_SendReceive(0, 0, 0x0350, rq, 0, rs, &got, &st);
    *n = got / 4;
    for (uint32_t i = 0; i < *n; i++)
        v[i] = (uint32_t)out[4 * i] << 24 | (uint32_t)out[4 * i + 1] << 16 |
               (uint32_t)out[4 * i + 2] << 8 | out[4 * i + 3];
    return rv == MDR_OK && st == 0 ? MDR_OK : MDR_UNSUCCESSFUL;
}

enum { UD_APP, UD_SLOT, UD_TOKEN, UD_TOKEN_APP, UD_SESSION };

static uint32_t ud_set(uint32_t kind, uint32_t key)
{
    uint32_t v[6], n;
    return ud(1, kind, key, v, &n) == MDR_OK && n == 1 ? v[0] : 0xFFFFFFFFu;
}

static uint32_t ud_tag(uint32_t kind, uint32_t key)
{
    uint32_t v[6], n;
    return ud(2, kind, key, v, &n) == MDR_OK && n == 2 && v[0] == 0 ? v[1] : 0xFFFFFFFFu;
}

static void ud_frees(uint32_t f[6])
{
    uint32_t n;
    assert_int_equal(ud(3, 0, 0, f, &n), MDR_OK);
    assert_int_equal(n, 6);
}

/* User data: each kind set, read back, and freed exactly once when its
   session, application or token goes away. */
static void test_user_data(void **state)
{
    (void)state;
    uint32_t f[6], v[6], n;
    assert_int_equal(load("udfm", NULL, 0), CKR_OK);
    CK_SESSION_HANDLE s1, s2, s3;
    assert_int_equal(p->C_OpenSession(part, CKF_SERIAL_SESSION, NULL, NULL, &s1), CKR_OK);
    assert_int_equal(p->C_OpenSession(part, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);
    assert_int_equal(ud_set(UD_SESSION, (uint32_t)s1), CKR_OK);
    assert_int_equal(ud_set(UD_SESSION, (uint32_t)s2), CKR_OK);
    assert_int_equal(ud_set(UD_APP, 0), CKR_OK);
    assert_int_equal(ud_set(UD_SLOT, (uint32_t)part), CKR_OK);
    assert_int_equal(ud_set(UD_TOKEN, (uint32_t)part), CKR_OK);
    assert_int_equal(ud_set(UD_TOKEN_APP, (uint32_t)part), CKR_OK);
    assert_int_not_equal(ud_tag(UD_SESSION, (uint32_t)s1), 0);
    assert_int_not_equal(ud_tag(UD_TOKEN, (uint32_t)part), 0);
    /* replacing frees the old datum */
    uint32_t old = ud_tag(UD_APP, 0);
    assert_int_equal(ud_set(UD_APP, 0), CKR_OK);
    assert_int_not_equal(ud_tag(UD_APP, 0), old);
    ud_frees(f);
    assert_int_equal(f[UD_APP], 1);
    /* C_CloseSession frees that session's datum only */
    assert_int_equal(p->C_CloseSession(s1), CKR_OK);
    ud_frees(f);
    assert_int_equal(f[UD_SESSION], 1);
    assert_int_equal(ud_tag(UD_SESSION, (uint32_t)s1), 0);
    assert_int_not_equal(ud_tag(UD_SESSION, (uint32_t)s2), 0);
    /* C_CloseAllSessions on the slot */
    assert_int_equal(p->C_CloseAllSessions(part), CKR_OK);
    ud_frees(f);
    assert_int_equal(f[UD_SESSION], 2);
    /* C_Finalize: the application's data and its token-application data */
    assert_int_equal(p->C_Finalize(NULL), CKR_OK);
    assert_int_equal(p->C_Initialize(NULL), CKR_OK);
    ud_frees(f);
    assert_int_equal(f[UD_APP], 2);
    assert_int_equal(f[UD_TOKEN_APP], 1);
    assert_int_equal(f[UD_TOKEN], 0);
    /* the token initialised again: its data, and sessions on it */
    assert_int_equal(ud_set(UD_TOKEN_APP, (uint32_t)part), CKR_OK);
    assert_int_equal(p->C_OpenSession(part, CKF_SERIAL_SESSION, NULL, NULL, &s3), CKR_OK);
    assert_int_equal(ud_set(UD_SESSION, (uint32_t)s3), CKR_OK);
    assert_int_equal(p->C_CloseSession(s3), CKR_OK);
    CK_UTF8CHAR label[32];
    memset(label, ' ', sizeof label);
    memcpy(label, "again", 5);
    assert_int_equal(p->C_InitToken(part, (CK_UTF8CHAR_PTR)T_PSO_PIN, strlen(T_PSO_PIN), label),
                     CKR_OK);
    ud_frees(f);
    assert_int_equal(f[UD_SESSION], 3);
    assert_int_equal(f[UD_TOKEN], 1);
    assert_int_equal(f[UD_TOKEN_APP], 2);
    assert_int_equal(ud_tag(UD_TOKEN, (uint32_t)part), 0);
    assert_int_not_equal(ud_tag(UD_SLOT, (uint32_t)part), 0); /* the slot is still there */
    /* bad input */
    assert_int_equal(ud(4, 0, 0, v, &n), MDR_OK);
    assert_int_equal(n, 4);
    assert_int_equal(v[0], CKR_ARGUMENTS_BAD);          /* data without a free function */
    assert_int_equal(v[1], CKR_ARGUMENTS_BAD);          /* another FM's number */
    assert_int_equal(v[2], CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(v[3], CKR_SLOT_ID_INVALID);
    /* a process that ends: its application and token-application data */
    uint32_t before[6];
    ud_frees(before);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "/proc/%d/exe ud-child %lu", (int)getpid(), (unsigned long)part);
    assert_int_equal(system(cmd), 0);
    for (int i = 0; i < 100; i++) {
        ud_frees(f);
        if (f[UD_APP] > before[UD_APP])
            break;
        usleep(20000);
    }
    assert_int_equal(f[UD_APP], before[UD_APP] + 1);
    assert_int_equal(f[UD_TOKEN_APP], before[UD_TOKEN_APP] + 1);
    assert_int_equal(f[UD_SLOT], before[UD_SLOT]); /* others still use the HSM */
    ud_frees(f);
    assert_int_equal(f[5], 0); /* no datum freed twice */
    /* another FM's Cryptoki goes through patcha's C_OpenSession and
       C_GenerateRandom too */
    uint32_t calls = tell(CMD_CALLS, 0);
    assert_int_equal(ud(5, (uint32_t)part, 0, v, &n), MDR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(v[0], CKR_OK);
    assert_int_equal(v[1], 0xA5);
    assert_int_equal(tell(CMD_CALLS, 0), calls + 2);
    assert_int_equal(unload("udfm"), CKR_OK);
}

/* Deleting the patching FM brings the HSM's functions back. */
static void test_delete_restores(void **state)
{
    (void)state;
    assert_int_equal(unload("patcha"), CKR_OK);
    int marked = 0;
    CK_BYTE out[16];
    for (int i = 0; i < 8; i++) {
        assert_int_equal(random16(out), CKR_OK);
        marked += out[0] == 0xA5;
    }
    assert_true(marked < 8);
    /* and another FM may patch C_GenerateRandom now */
    assert_int_equal(load("patchb", NULL, 0), CKR_OK);
    assert_int_equal(state_of("patchb"), 1);
    assert_int_equal(random16(out), CKR_OK);
    assert_int_equal(out[0], 0xA5);
    assert_int_equal(unload("patchb"), CKR_OK);
}

/* The process of test_user_data's ending application. */
static int ud_child(unsigned long slot)
{
    if (MD_Initialize() != MDR_OK)
        return 1;
    int rc = ud_set(UD_APP, 0) == CKR_OK && ud_set(UD_TOKEN_APP, (uint32_t)slot) == CKR_OK ? 0 : 1;
    MD_Finalize();
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "ud-child"))
        return ud_child(strtoul(argv[2], NULL, 0));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patched_function),
        cmocka_unit_test(test_refused_slot),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_misbehaving_replacement),
        cmocka_unit_test(test_fmsc_send_receive),
        cmocka_unit_test(test_user_data),
        cmocka_unit_test(test_waiting_fm_not_bypassed),
        cmocka_unit_test(test_delete_restores),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
