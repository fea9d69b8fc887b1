/*
 * FM images and FMs that misbehave, against a real softfmd: images the
 * loader refuses (a library needed, a symbol undefined), Startup that
 * crashes or fails, an FM that replies twice or writes far past its reply
 * buffer, requests with no data; and an HSM that is unharmed throughout.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
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

#include "client.h"
#include "common.h"
#include "harness.h"
#include "sfm_md.h"

static daemon_proc_t d;
static char dir[512];

static CK_RV load(const char *name, char *why, size_t cap)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    return load_fm(d.sock, path, why, cap);
}

static void status_of(const char *name, uint32_t *state, uint32_t *startup, uint32_t *number)
{
    fm_status_of(d.sock, name, state, startup, number);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", getenv("SOFTFM_TEST_FMS"));
    if (daemon_start(&d))
        return -1;
    setenv("SOFTFM_SOCKET", d.sock, 1);
    CK_FUNCTION_LIST_PTR p = module_load();
    CK_SLOT_ID slot;
    if (!p || p->C_Initialize(NULL) || hsm_setup(p, d.sock, &slot) || p->C_Finalize(NULL))
        return -1;
    if (set_policy(d.sock, "allow-unsigned-fms", 1) || set_policy(d.sock, "smfs-auto-activate", 1))
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

static void test_refused_images(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(load("bad_needs_libc", why, sizeof why), SFM_R_BAD_IMAGE);
    assert_non_null(strstr(why, "needs a shared library"));
    assert_int_equal(load("bad_undefined", why, sizeof why), SFM_R_BAD_IMAGE);
    assert_non_null(strstr(why, "no_such_function undefined"));
}

/* Images for another machine or word size are refused before they run. */
static void test_foreign_images(void **state)
{
    (void)state;
    char path[700], why[256];
    snprintf(path, sizeof path, "%s/hello.bin", dir);
    size_t n;
    uint8_t *img = read_file(path, &n);
    assert_non_null(img);
    uint8_t save = img[18];
    img[18] = 0xB7; /* e_machine: EM_AARCH64 */
    img[19] = 0;
    assert_int_equal(admin(d.sock, OP_ADMIN_FM_LOAD, img, n, 1, T_SO_PIN, why, sizeof why),
                     SFM_R_BAD_IMAGE);
    assert_string_equal(why, "built for another architecture");
    img[18] = save;
    img[4] = 1; /* EI_CLASS: 32-bit */
    assert_int_equal(admin(d.sock, OP_ADMIN_FM_LOAD, img, n, 1, T_SO_PIN, why, sizeof why),
                     SFM_R_BAD_IMAGE);
    assert_non_null(strstr(why, "64-bit"));
    free(img);
}

/* The MD library loaded at run time, the seed's other way. */
static void test_md_by_dlopen(void **state)
{
    (void)state;
    void *lib = dlopen(getenv("SOFTFM_MD_LIB"), RTLD_NOW);
    assert_non_null(lib);
    MD_RV (*count)(uint32_t *) = (MD_RV(*)(uint32_t *))dlsym(lib, "MD_GetHsmCount");
    const char *(*name)(MD_RV) = (const char *(*)(MD_RV))dlsym(lib, "MD_RvAsString");
    assert_non_null(count);
    assert_non_null(name);
    uint32_t n = 0;
    assert_int_equal(count(&n), MDR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(name(MDR_HSM_FAILED), "MDR_HSM_FAILED");
    assert_null(dlsym(lib, "client_new")); /* only the MD API is exported */
    dlclose(lib);
}

static void test_startup_failures(void **state)
{
    (void)state;
    uint32_t st, su, num;
    /* Loaded (kept), but not running, and status says why. */
    assert_int_equal(load("bad_startup_crash", NULL, 0), CKR_OK);
    status_of("badstart", &st, &su, &num);
    assert_int_equal(st, 2); /* failed */
    assert_int_equal(load("bad_startup_fail", NULL, 0), CKR_OK);
    status_of("badinit", &st, &su, &num);
    assert_int_equal(st, 2);
    assert_int_equal(su, 0x1C); /* FM_UNSUCCESSFUL, as Startup returned it */
    uint8_t out[8];
    uint32_t be = fm_htobe32(3);
    MD_Buffer_t rq[] = { { (uint8_t *)&be, 4 }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { out, sizeof out }, { NULL, 0 } };
    assert_int_equal(MD_SendReceive(0, 0, 0x0321, rq, 0, rs, NULL, NULL), MDR_FM_NOT_AVAILABLE);
    assert_int_equal(MD_SendReceive(0, 0, 0x0322, rq, 0, rs, NULL, NULL), MDR_FM_NOT_AVAILABLE);
    assert_int_equal(admin(d.sock, OP_ADMIN_FM_DELETE, "badstart", 8, 0, T_SO_PIN, NULL, 0), CKR_OK);
    assert_int_equal(admin(d.sock, OP_ADMIN_FM_DELETE, "badinit", 7, 0, T_SO_PIN, NULL, 0), CKR_OK);
}

static uint32_t misc_number;

static MD_RV misc(uint32_t cmd, int with_cmd, uint32_t *value, uint32_t *status)
{
    uint32_t be = fm_htobe32(cmd);
    uint8_t out[8];
    MD_Buffer_t rq[] = { { (uint8_t *)&be, 4 }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { out, sizeof out }, { NULL, 0 } };
    uint32_t got = 0;
    MD_RV rv = MD_SendReceive(0, 0, (uint16_t)misc_number, with_cmd ? rq : rq + 1, 0, rs, &got,
                              status);
    if (value)
        *value = got == 4 ? (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 |
                                (uint32_t)out[2] << 8 | out[3]
                          : 0xFFFFFFFFu;
    return rv;
}

static int lone_user(void *arg)
{
    (void)arg;
    uint32_t v, st;
    if (MD_Initialize() != MDR_OK || misc(3, 0, &v, &st) != MDR_OK)
        return 1;
    return 0;
}

static void test_misbehaving_requests(void **state)
{
    (void)state;
    uint32_t st, su;
    assert_int_equal(load("bad_misc", NULL, 0), CKR_OK);
    status_of("misc", &st, &su, &misc_number);
    assert_int_equal(st, 1);
    assert_true(misc_number >= 0xA000 && misc_number < 0xFFFE); /* allocated by the HSM */
    uint32_t id = 0;
    assert_int_equal(MD_GetFmIdFromName(0, "misc", 4, &id), MDR_OK);
    assert_int_equal(id, misc_number);
    /* Only the user of the FM is a process that ends: all closed, once. */
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0)
        _exit(lone_user(NULL));
    int ws;
    assert_int_equal(waitpid(kid, &ws, 0), kid);
    assert_int_equal(WEXITSTATUS(ws), 0);
    uint32_t v = 0;
    for (int i = 0; i < 100 && v != 1; i++) {
        usleep(20000);
        assert_int_equal(misc(4, 1, &v, &st), MDR_OK);
    }
    assert_int_equal(v, 1);
    /* A request with no data at all. */
    assert_int_equal(misc(0, 0, &v, &st), MDR_OK);
    assert_int_equal(v, 0);
    /* Two replies: the first counts. */
    assert_int_equal(misc(1, 1, NULL, &st), MDR_OK);
    assert_int_equal(st, 0);
    /* Writing far past the reply buffer ends the FM's process only. */
    assert_int_equal(misc(2, 1, NULL, &st), MDR_HSM_FAILED);
    assert_int_equal(misc(3, 1, &v, &st), MDR_OK);
    assert_int_equal(v, 4);
    uint32_t n;
    assert_int_equal(MD_GetHsmCount(&n), MDR_OK);
}

/* The C runtime an FM may use, through the system's headers. */
static void test_libc_fm(void **state)
{
    (void)state;
    assert_int_equal(load("libc", NULL, 0), CKR_OK);
    const char *in = "5,3,9,1 hello ff";
    char out[256];
    MD_Buffer_t rq[] = { { (uint8_t *)in, (uint32_t)strlen(in) }, { NULL, 0 } };
    MD_Buffer_t rs[] = { { (uint8_t *)out, sizeof out - 1 }, { NULL, 0 } };
    uint32_t got = 0, st = 99;
    assert_int_equal(MD_SendReceive(0, 0, 0x0330, rq, 0, rs, &got, &st), MDR_OK);
    assert_int_equal(st, 0);
    out[got] = '\0';
    assert_string_equal(out, "sorted=1,3,5,9 found=3 upper=HELLO hex=255 sum=15 div=3.2 "
                             "date=1971-01-01 alpha=1 len=5");
}

/* Zeroizing the HSM takes its FMs and their traces with it. */
static void test_zeroize(void **state)
{
    (void)state;
    uint32_t v, st;
    assert_int_equal(misc(3, 1, &v, &st), MDR_OK);
    assert_int_equal(admin(d.sock, OP_ADMIN_ZEROIZE, NULL, 0, 0, T_SO_PIN, NULL, 0), CKR_OK);
    assert_int_equal(misc(3, 1, &v, &st), MDR_FM_NOT_AVAILABLE);
    uint32_t state_, startup, number;
    status_of("misc", &state_, &startup, &number);
    assert_int_equal(state_, 0xFFFFFFFFu);
    char path[600];
    snprintf(path, sizeof path, "%s/fm-trace", d.data);
    DIR *dd = opendir(path);
    assert_non_null(dd);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(dd)))
        files += e->d_name[0] != '.';
    closedir(dd);
    assert_int_equal(files, 0);
    /* And they stay gone after a restart. */
    daemon_stop(&d, SIGTERM);
    assert_int_equal(daemon_start(&d), 0);
    MD_RV rv = misc(3, 1, &v, &st);
    if (rv == MDR_HSM_FAILED || rv == MDR_HSM_RESET) /* the old connection */
        rv = misc(3, 1, &v, &st);
    assert_int_equal(rv, MDR_FM_NOT_AVAILABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libc_fm),
        cmocka_unit_test(test_foreign_images),
        cmocka_unit_test(test_md_by_dlopen),
        cmocka_unit_test(test_refused_images),
        cmocka_unit_test(test_startup_failures),
        cmocka_unit_test(test_misbehaving_requests),
        cmocka_unit_test(test_zeroize),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
