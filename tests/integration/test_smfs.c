/*
 * The SMFS through FMs in a real softfmd: the functions and their codes,
 * paths, fixed sizes, handle and search limits, a full SMFS; each FM's own
 * tree; nothing in the clear on disk; writes that survive kill -9 of the
 * daemon and of the FM's process and are never half done; backups that only
 * this HSM can restore; and nothing of it through PKCS#11.
 */
#include <dirent.h>
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

#include "client.h"
#include "common.h"
#include "harness.h"
#include "sfm_md.h"

enum { T_MKDIR = 1, T_MKFILE, T_DELETE, T_OPEN, T_CLOSE, T_READ, T_WRITE, T_ATTR, T_OATTR,
       T_RENAME, T_FREE, T_LIST, T_PUT, T_GET };
enum { OK = 0, E_NOT_INITED = 2, E_MEMORY = 3, E_NAME_TOO_LONG = 4, E_RESOURCES = 5,
       E_PARAMETER = 6, E_ACCESS = 7, E_NOT_FOUND = 8, E_BUSY = 9, E_EXIST = 10,
       E_FILE_TYPE = 11 };

#define FM_A 0x0340
#define FM_B 0x0341
#define CAPACITY 65536

static daemon_proc_t d;
static CK_FUNCTION_LIST_PTR p11;

typedef struct msg {
    uint8_t b[70000];
    uint32_t n;
} msg_t;

static msg_t m;
static uint8_t out[70000];
static uint32_t out_n;

static void begin(uint32_t cmd)
{
    m.n = 0;
    uint32_t be = fm_htobe32(cmd);
    memcpy(m.b, &be, 4);
    m.n = 4;
}

static void u32(uint32_t v)
{
    v = fm_htobe32(v);
    memcpy(m.b + m.n, &v, 4);
    m.n += 4;
}

static void str(const char *s)
{
    u32((uint32_t)strlen(s));
    memcpy(m.b + m.n, s, strlen(s));
    m.n += (uint32_t)strlen(s);
}

static void raw(const void *p, uint32_t n)
{
    memcpy(m.b + m.n, p, n);
    m.n += n;
}

static uint32_t be_at(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Send m to an FM: the SMFS code, results in out/out_n; MD failures as
   0x1000 + MD_RV. */
static uint32_t send_to(uint16_t fm)
{
    MD_Buffer_t rq[] = { { m.b, m.n }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { out, sizeof out }, { NULL, 0 } };
    uint32_t got = 0, st = 0;
    MD_RV rv = MD_SendReceive(0, 0, fm, rq, 0, rs, &got, &st);
    if (rv != MDR_OK)
        return 0x1000 + rv;
    if (st || got < 4)
        return 0x2000;
    out_n = got - 4;
    return be_at(out);
}

static uint32_t mkdir_(uint16_t fm, const char *path, uint32_t entries)
{
    begin(T_MKDIR);
    str(path);
    u32(entries);
    return send_to(fm);
}

static uint32_t mkfile(uint16_t fm, const char *path, uint32_t size)
{
    begin(T_MKFILE);
    str(path);
    u32(size);
    return send_to(fm);
}

static uint32_t put(uint16_t fm, const char *path, const void *data, uint32_t n)
{
    begin(T_PUT);
    str(path);
    raw(data, n);
    return send_to(fm);
}

static uint32_t get(uint16_t fm, const char *path, uint32_t n)
{
    begin(T_GET);
    str(path);
    u32(n);
    return send_to(fm);
}

static uint32_t open_(uint16_t fm, const char *path, uint32_t *h)
{
    begin(T_OPEN);
    str(path);
    uint32_t rc = send_to(fm);
    if (rc == OK && out_n == 4)
        *h = be_at(out + 4);
    return rc;
}

static uint32_t close_(uint16_t fm, uint32_t h)
{
    begin(T_CLOSE);
    u32(h);
    return send_to(fm);
}

static uint32_t one_path(uint32_t cmd, uint16_t fm, const char *path)
{
    begin(cmd);
    str(path);
    return send_to(fm);
}

static int start_daemon_ready(void)
{
    if (daemon_start(&d))
        return -1;
    return set_policy(d.sock, "smfs-auto-activate", 1) == CKR_OK ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
    setenv("SOFTFM_SMFS_CAPACITY", "65536", 1); /* for the daemon: a small SMFS */
    setenv("SOFTFM_SMFS_MAX_OPEN", "4", 1);
    setenv("SOFTFM_SMFS_MAX_SEARCHES", "2", 1);
    if (daemon_start(&d))
        return -1;
    setenv("SOFTFM_SOCKET", d.sock, 1);
    p11 = module_load();
    CK_SLOT_ID slot;
    if (!p11 || p11->C_Initialize(NULL) || hsm_setup(p11, d.sock, &slot))
        return -1;
    if (set_policy(d.sock, "allow-unsigned-fms", 1) ||
        load_fm(d.sock, getenv("SOFTFM_SMFSA_FM"), NULL, 0) ||
        load_fm(d.sock, getenv("SOFTFM_SMFSB_FM"), NULL, 0))
        return -1;
    return MD_Initialize() == MDR_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    MD_Finalize();
    if (p11)
        p11->C_Finalize(NULL);
    daemon_cleanup(&d);
    return 0;
}

/* Before activation no FM runs, so nothing reaches the SMFS. */
static void test_activation(void **state)
{
    (void)state;
    assert_int_equal(mkdir_(FM_A, "/keys", 8), 0x1000 + MDR_FM_NOT_AVAILABLE);
    assert_int_equal(admin(d.sock, OP_ADMIN_SMFS_ACTIVATE, NULL, 0, 0, T_SO_PIN, NULL, 0), CKR_OK);
    assert_int_equal(mkdir_(FM_A, "/keys", 8), OK);
}

static void test_files_and_directories(void **state)
{
    (void)state;
    assert_int_equal(mkdir_(FM_A, "/keys", 8), E_EXIST);
    assert_int_equal(mkfile(FM_A, "/keys/master", 32), OK);
    assert_int_equal(mkfile(FM_A, "/keys/master", 32), E_EXIST);
    assert_int_equal(mkfile(FM_A, "/nodir/file", 8), E_NOT_FOUND);
    assert_int_equal(mkfile(FM_A, "/keys/master/x", 8), E_FILE_TYPE);
    /* Zero-filled at first. */
    assert_int_equal(get(FM_A, "/keys/master", 32), OK);
    uint8_t zeros[32] = { 0 };
    assert_int_equal(out_n, 32);
    assert_memory_equal(out + 4, zeros, 32);
    /* Written and read back, at offsets, inside the file only. */
    uint32_t h = 0;
    assert_int_equal(open_(FM_A, "/keys/master", &h), OK);
    begin(T_WRITE);
    u32(h);
    u32(28);
    raw("abcd", 4);
    assert_int_equal(send_to(FM_A), OK);
    begin(T_WRITE);
    u32(h);
    u32(29);
    raw("abcd", 4);
    assert_int_equal(send_to(FM_A), E_PARAMETER); /* past the end */
    begin(T_READ);
    u32(h);
    u32(26);
    u32(6);
    assert_int_equal(send_to(FM_A), OK);
    assert_memory_equal(out + 4, "\0\0abcd", 6);
    begin(T_READ);
    u32(h);
    u32(30);
    u32(3);
    assert_int_equal(send_to(FM_A), E_PARAMETER);
    begin(T_OATTR);
    u32(h);
    assert_int_equal(send_to(FM_A), OK);
    assert_int_equal(be_at(out + 4), 32);
    assert_int_equal(be_at(out + 8), 0);
    /* Busy while open. */
    assert_int_equal(one_path(T_DELETE, FM_A, "/keys/master"), E_BUSY);
    assert_int_equal(close_(FM_A, h), OK);
    assert_int_equal(close_(FM_A, h), E_PARAMETER); /* closed already */
    begin(T_READ);
    u32(h);
    u32(0);
    u32(1);
    assert_int_equal(send_to(FM_A), E_PARAMETER);
    /* Attributes: a directory counts its entries. */
    assert_int_equal(mkfile(FM_A, "/keys/k1", 16), OK);
    assert_int_equal(one_path(T_ATTR, FM_A, "/keys"), OK);
    assert_int_equal(be_at(out + 4), 2);
    assert_int_equal(be_at(out + 8), 1);
    assert_int_equal(one_path(T_OPEN, FM_A, "/keys"), E_FILE_TYPE);
    /* Renaming within the directory. */
    begin(T_RENAME);
    str("/keys/k1");
    str("k2");
    assert_int_equal(send_to(FM_A), OK);
    begin(T_RENAME);
    str("/keys/k2");
    str("master");
    assert_int_equal(send_to(FM_A), E_EXIST);
    begin(T_RENAME);
    str("/keys/k2");
    str("../k3");
    assert_int_equal(send_to(FM_A), E_PARAMETER);
    assert_int_equal(one_path(T_ATTR, FM_A, "/keys/k1"), E_NOT_FOUND);
    /* Searching with wildcards. */
    assert_int_equal(mkfile(FM_A, "/keys/other", 4), OK);
    begin(T_LIST);
    str("/keys");
    str("*");
    assert_int_equal(send_to(FM_A), OK);
    assert_int_equal(out_n, strlen("k2\nmaster\nother\n"));
    assert_memory_equal(out + 4, "k2\nmaster\nother\n", out_n);
    begin(T_LIST);
    str("/keys");
    str("?2");
    assert_int_equal(send_to(FM_A), OK);
    assert_memory_equal(out + 4, "k2\n", out_n);
    /* A directory with no room left, and one not empty. */
    assert_int_equal(mkdir_(FM_A, "/small", 1), OK);
    assert_int_equal(mkfile(FM_A, "/small/a", 1), OK);
    assert_int_equal(mkfile(FM_A, "/small/b", 1), E_RESOURCES);
    assert_int_equal(one_path(T_DELETE, FM_A, "/small"), E_ACCESS);
    assert_int_equal(one_path(T_DELETE, FM_A, "/small/a"), OK);
    assert_int_equal(one_path(T_DELETE, FM_A, "/small"), OK);
    assert_int_equal(one_path(T_DELETE, FM_A, "/small"), E_NOT_FOUND);
}

static void test_bad_paths(void **state)
{
    (void)state;
    const char *bad[] = { "keys", "", "/keys//x", "/keys/../x", "/./x", "/a*b", "/a?b",
                          "/with space" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mkfile(FM_A, bad[i], 4), E_PARAMETER);
    assert_int_equal(mkfile(FM_A, "/seventeen-chars-x", 4), E_NAME_TOO_LONG);
    char longpath[120] = "";
    for (int i = 0; i < 10; i++)
        strcat(longpath, "/abcdefghij");
    assert_int_equal(mkfile(FM_A, longpath, 4), E_NAME_TOO_LONG);
    assert_int_equal(one_path(T_DELETE, FM_A, "/"), E_ACCESS);
}

static void test_limits(void **state)
{
    (void)state;
    /* Open handles: four here (SOFTFM_SMFS_MAX_OPEN); the fifth fails, and
       closing one frees it. */
    uint32_t h[5];
    for (int i = 0; i < 4; i++)
        assert_int_equal(open_(FM_A, "/keys/master", &h[i]), OK);
    assert_int_equal(open_(FM_A, "/keys/master", &h[4]), E_RESOURCES);
    assert_int_equal(close_(FM_A, h[2]), OK);
    assert_int_equal(open_(FM_A, "/keys/master", &h[4]), OK);
    for (int i = 0; i < 5; i++)
        if (i != 2)
            assert_int_equal(close_(FM_A, h[i]), OK);
    /* A full SMFS: 64 KiB here (SOFTFM_SMFS_CAPACITY). */
    begin(T_FREE);
    assert_int_equal(send_to(FM_A), OK);
    uint32_t free_bytes = be_at(out + 4);
    assert_true(free_bytes < CAPACITY && free_bytes > CAPACITY - 100);
    assert_int_equal(mkfile(FM_A, "/big", free_bytes + 1), E_MEMORY);
    assert_int_equal(mkfile(FM_A, "/big", free_bytes), OK);
    assert_int_equal(mkfile(FM_A, "/one", 1), E_MEMORY);
    begin(T_FREE);
    assert_int_equal(send_to(FM_A), OK);
    assert_int_equal(be_at(out + 4), 0);
    assert_int_equal(one_path(T_DELETE, FM_A, "/big"), OK);
}

/* Each FM sees its own tree; its handles are its own. */
static void test_isolation(void **state)
{
    (void)state;
    assert_int_equal(one_path(T_ATTR, FM_B, "/keys/master"), E_NOT_FOUND);
    assert_int_equal(mkdir_(FM_B, "/keys", 2), OK); /* its own "/keys" */
    assert_int_equal(mkfile(FM_B, "/keys/master", 8), OK);
    assert_int_equal(put(FM_B, "/keys/master", "BBBBBBBB", 8), OK);
    assert_int_equal(get(FM_A, "/keys/master", 4), OK);
    assert_memory_equal(out + 4, "\0\0\0\0", 4);
    uint32_t ha;
    assert_int_equal(open_(FM_A, "/keys/master", &ha), OK);
    begin(T_READ); /* A's handle number means nothing to B */
    u32(ha);
    u32(0);
    u32(4);
    assert_int_equal(send_to(FM_B), E_PARAMETER);
    assert_int_equal(close_(FM_A, ha), OK);
}

/* A known secret written through the SMFS is nowhere in the data directory. */
static void test_encrypted_at_rest(void **state)
{
    (void)state;
    static const char secret[] = "SMFS-PLAINTEXT-MARKER-7f3a9c";
    assert_int_equal(mkfile(FM_A, "/secret", sizeof secret - 1), OK);
    assert_int_equal(put(FM_A, "/secret", secret, sizeof secret - 1), OK);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "grep -r -a -l '%s' '%s' >/dev/null 2>&1", secret, d.data);
    assert_int_not_equal(system(cmd), 0);
    /* Nor does any of it show through PKCS#11: no slot, no object. */
    CK_ULONG n = 0;
    assert_int_equal(p11->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
    assert_int_equal(n, 2); /* the Admin Token and the partition */
}

/* kill -9 of the daemon right after an acknowledged write; then a loop of
   kills during writes of two patterns: a file is always one or the other. */
static void test_durability(void **state)
{
    (void)state;
    uint8_t a[4096], b[4096];
    memset(a, 'A', sizeof a);
    memset(b, 'B', sizeof b);
    assert_int_equal(mkfile(FM_A, "/durable", sizeof a), OK);
    assert_int_equal(put(FM_A, "/durable", a, sizeof a), OK);
    daemon_stop(&d, SIGKILL);
    assert_int_equal(start_daemon_ready(), 0);
    uint32_t rc = get(FM_A, "/durable", sizeof a);
    if (rc >= 0x1000)
        rc = get(FM_A, "/durable", sizeof a);
    assert_int_equal(rc, OK);
    assert_memory_equal(out + 4, a, sizeof a);
    srand((unsigned)time(NULL));
    for (int round = 0; round < 5; round++) {
        pid_t writer = fork();
        assert_true(writer >= 0);
        if (writer == 0) {
            if (MD_Initialize() != MDR_OK)
                _exit(1);
            for (int i = 0;; i++)
                (void)put(FM_A, "/durable", i % 2 ? b : a, sizeof a);
        }
        usleep(20000 + (useconds_t)(rand() % 60000));
        daemon_stop(&d, SIGKILL);
        kill(writer, SIGKILL);
        waitpid(writer, NULL, 0);
        assert_int_equal(start_daemon_ready(), 0);
        rc = get(FM_A, "/durable", sizeof a);
        if (rc >= 0x1000)
            rc = get(FM_A, "/durable", sizeof a);
        assert_int_equal(rc, OK);
        assert_true(!memcmp(out + 4, a, sizeof a) || !memcmp(out + 4, b, sizeof b));
    }
}

/* kill -9 of the FM's own process after a write: the write stays. */
static void test_fmhost_killed(void **state)
{
    (void)state;
    assert_int_equal(put(FM_A, "/durable", "Zzzz", 4), OK);
    char cmd[256];
    /* (The bracket keeps pkill from matching the shell that runs it.) */
    snprintf(cmd, sizeof cmd, "pkill -KILL -f 'softfm-fmhos[t] 3 4 5 %d' >/dev/null 2>&1", FM_A);
    assert_int_equal(system(cmd), 0);
    uint32_t rc = get(FM_A, "/durable", 4);
    if (rc >= 0x1000)
        rc = get(FM_A, "/durable", 4); /* the first request finds it gone */
    assert_int_equal(rc, OK);
    assert_memory_equal(out + 4, "Zzzz", 4);
}

static CK_RV smfs_admin_at(const char *sock, uint32_t op, const uint8_t *blob, size_t n,
                           uint8_t **back, size_t *back_n)
{
    client_t *c = client_new(sock);
    client_conn_t *k;
    wbuf_t *w;
    rbuf_t r;
    CK_RV st = CKR_GENERAL_ERROR;
    if (client_begin(c, op, &k, &w) == CKR_OK) {
        wb_bytes(w, T_SO_PIN, strlen(T_SO_PIN));
        if (blob)
            wb_bytes(w, blob, n);
        if (client_call(c, k, &st, &r) == CKR_OK && st == CKR_OK && back) {
            size_t len;
            const uint8_t *pb = rb_bytes(&r, &len);
            *back = malloc(len);
            memcpy(*back, pb, len);
            *back_n = len;
        }
        client_end(c, k);
    }
    client_free(c);
    return st;
}

static CK_RV smfs_admin(uint32_t op, const uint8_t *blob, size_t n, uint8_t **back, size_t *back_n)
{
    return smfs_admin_at(d.sock, op, blob, n, back, back_n);
}

static void test_backup_and_restore(void **state)
{
    (void)state;
    assert_int_equal(put(FM_A, "/keys/master", "before-backup---", 16), OK);
    uint8_t *blob = NULL;
    size_t n = 0;
    assert_int_equal(smfs_admin(OP_ADMIN_SMFS_BACKUP, NULL, 0, &blob, &n), CKR_OK);
    assert_true(n > 100);
    /* Sealed: the contents are not in the blob. */
    assert_null(memmem(blob, n, "before-backup", 13));
    assert_int_equal(put(FM_A, "/keys/master", "after-backup----", 16), OK);
    assert_int_equal(one_path(T_DELETE, FM_B, "/keys/master"), OK);
    assert_int_equal(smfs_admin(OP_ADMIN_SMFS_RESTORE, blob, n, NULL, NULL), CKR_OK);
    uint32_t rc = get(FM_A, "/keys/master", 16);
    if (rc >= 0x1000) /* the FMs were started again */
        rc = get(FM_A, "/keys/master", 16);
    assert_int_equal(rc, OK);
    assert_memory_equal(out + 4, "before-backup---", 16);
    assert_int_equal(get(FM_B, "/keys/master", 8), OK);
    assert_memory_equal(out + 4, "BBBBBBBB", 8);
    /* A damaged backup changes nothing. */
    blob[n / 2] ^= 1;
    assert_int_equal(smfs_admin(OP_ADMIN_SMFS_RESTORE, blob, n, NULL, NULL), SFM_R_BAD_IMAGE);
    blob[n / 2] ^= 1;
    /* Another HSM (its own master key), with the same SO PIN, cannot. */
    daemon_proc_t other;
    memset(&other, 0, sizeof other);
    assert_int_equal(daemon_start(&other), 0);
    char cmd[800];
    snprintf(cmd, sizeof cmd,
             "SOFTFM_SOCKET='%s' SOFTFM_SO_PIN='%s' '%s' hsm init --label other >/dev/null",
             other.sock, T_SO_PIN, getenv("SOFTFM_BIN"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(smfs_admin_at(other.sock, OP_ADMIN_SMFS_RESTORE, blob, n, NULL, NULL),
                     SFM_R_BAD_IMAGE);
    daemon_cleanup(&other);
    free(blob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation),
        cmocka_unit_test(test_files_and_directories),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_isolation),
        cmocka_unit_test(test_encrypted_at_rest),
        cmocka_unit_test(test_durability),
        cmocka_unit_test(test_fmhost_killed),
        cmocka_unit_test(test_backup_and_restore),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
