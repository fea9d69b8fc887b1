/*
 * The client configuration file and HOST:PORT parsing: what is accepted,
 * and that every bad line is refused with its line number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "client.h"
#include "net.h"

static char path[64];

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/softfm-conf.XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    unsetenv("SOFTFM_SOCKET");
    setenv("SOFTFM_CONF", path, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static int load(const char *text, client_config_t *cfg, char *err, size_t cap)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return client_config_load(cfg, err, cap);
}

static void test_hsms_in_file_order(void **state)
{
    (void)state;
    client_config_t cfg;
    char err[256];
    assert_int_equal(load("# a comment\n\n"
                          "client-cert = /c.crt\n"
                          "client-key=/c.key\n"
                          "server = 10.0.0.5:5696 /pin-a.crt\n"
                          "  socket = /run/a.sock  \n"
                          "server = [::1]:5697\t/pin b.crt\n",
                          &cfg, err, sizeof err),
                     0);
    assert_int_equal(cfg.n, 3);
    assert_true(cfg.hsm[0].tls);
    assert_string_equal(cfg.hsm[0].addr, "10.0.0.5:5696");
    assert_string_equal(cfg.hsm[0].server_cert, "/pin-a.crt");
    assert_false(cfg.hsm[1].tls);
    assert_string_equal(cfg.hsm[1].addr, "/run/a.sock");
    assert_string_equal(cfg.hsm[2].addr, "[::1]:5697");
    assert_string_equal(cfg.hsm[2].server_cert, "/pin b.crt");
    assert_string_equal(cfg.client_cert, "/c.crt");
    assert_string_equal(cfg.client_key, "/c.key");

    /* SOFTFM_SOCKET replaces the file's socket lines and comes first. */
    setenv("SOFTFM_SOCKET", "/env.sock", 1);
    assert_int_equal(client_config_load(&cfg, err, sizeof err), 0);
    assert_int_equal(cfg.n, 3);
    assert_string_equal(cfg.hsm[0].addr, "/env.sock");
    assert_true(cfg.hsm[1].tls && cfg.hsm[2].tls);
    char sock[128];
    client_socket_path(sock, sizeof sock);
    assert_string_equal(sock, "/env.sock");
    unsetenv("SOFTFM_SOCKET");
    client_socket_path(sock, sizeof sock);
    assert_string_equal(sock, "/run/a.sock");

    /* Nothing configured: the default socket. */
    assert_int_equal(load("# empty\n", &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.n, 1);
    assert_string_equal(cfg.hsm[0].addr, CLIENT_DEFAULT_SOCKET);
}

static void test_bad_files(void **state)
{
    (void)state;
    static const struct {
        const char *text, *says;
    } bad[] = {
        { "socket /a.sock\n", "line 1: not KEY = VALUE" },
        { "# x\nsocket =\n", "line 2: socket has no value" },
        { "colour = blue\n", "unknown setting colour" },
        { "client-cert = /c\nclient-key = /k\nserver = 1.2.3.4:5\n", "certificate file is missing" },
        { "server = 1.2.3.4:5 /pin.crt\n", "need client-cert and client-key" },
        { "client-cert = /c\nserver = 1.2.3.4:5 /pin.crt\n", "need client-cert and client-key" },
    };
    client_config_t cfg;
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(load(bad[i].text, &cfg, err, sizeof err), -1);
        if (!strstr(err, bad[i].says))
            fail_msg("case %zu: '%s' does not say '%s'", i, err, bad[i].says);
    }
    /* Seventeen HSMs are one too many. */
    char many[2048] = "";
    for (int i = 0; i < CLIENT_MAX_HSMS + 1; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "socket = /s%d\n", i);
    assert_int_equal(load(many, &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 16 HSMs"));
    /* A named file that is not there is an error, not the default. */
    setenv("SOFTFM_CONF", "/nonexistent/softfm.conf", 1);
    assert_int_equal(client_config_load(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot read /nonexistent/softfm.conf"));
    setenv("SOFTFM_CONF", path, 1);
}

static void test_hostport(void **state)
{
    (void)state;
    char host[64], port[8];
    assert_int_equal(net_split_hostport("127.0.0.2:5696", host, sizeof host, port, sizeof port), 0);
    assert_string_equal(host, "127.0.0.2");
    assert_string_equal(port, "5696");
    assert_int_equal(net_split_hostport("[::1]:443", host, sizeof host, port, sizeof port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(net_split_hostport("hsm.example:65535", host, sizeof host, port, sizeof port),
                     0);
    static const char *const refused[] = { "nohost",     ":5696",       "host:",  "host:0",
                                           "host:65536", "host:12a",    "::1:80", "[::1]80",
                                           "[::1",       "host:123456", "" };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (net_split_hostport(refused[i], host, sizeof host, port, sizeof port) != -1)
            fail_msg("'%s' was accepted", refused[i]);
    /* A host longer than the buffer is refused, not cut. */
    assert_int_equal(net_split_hostport("abcdefghij:1", host, 8, port, sizeof port), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hsms_in_file_order),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_hostport),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
