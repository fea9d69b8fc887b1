/*
 * The network HSM: three softfmd instances on loopback addresses, clients
 * registered, unregistered and revoked, several HSMs in one configuration,
 * an HSM that goes away and comes back, and the attacks a listener on a
 * network meets. Traffic goes only to 127.0.0.0/8.
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "client.h"
#include "harness.h"
#include "net.h"
#include "sfm_md.h"
#include "../../fmsdk/samples/hello/hello.h"

#define NHSM 3
static daemon_proc_t d[NHSM];          /* A, B: client c1's HSMs; C: nobody's */
static CK_SLOT_ID part[NHSM];          /* the partition "it" on each */
static CK_FUNCTION_LIST_PTR p;
static char dir[64];
static char pin_path[NHSM][128];

static uint16_t free_port(const char *ip)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    inet_pton(AF_INET, ip, &sa.sin_addr);
    socklen_t sl = sizeof sa;
    uint16_t port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* An administration request: SO PIN, then strings and bytes as given. */
static CK_RV adm(int i, uint32_t op, const char *name, const void *blob, size_t blen,
                 const char *extra, int flag)
{
    client_t *c = client_new(d[i].sock);
    client_conn_t *k;
    wbuf_t *w;
    rbuf_t r;
    CK_RV st = CKR_GENERAL_ERROR;
    if (client_begin(c, op, &k, &w) == CKR_OK) {
        if (name) {
            wb_bytes(w, T_SO_PIN, strlen(T_SO_PIN));
            wb_bytes(w, name, strlen(name));
        }
        if (blob)
            wb_bytes(w, blob, blen);
        if (extra)
            wb_bytes(w, extra, strlen(extra));
        if (flag >= 0)
            wb_u8(w, (uint8_t)flag);
        (void)client_call(c, k, &st, &r);
        client_end(c, k);
    }
    client_free(c);
    return st;
}

/* HSM i's certificate, pinned out of band into pin_path[i]. */
static int pin_server_cert(int i)
{
    client_t *c = client_new(d[i].sock);
    client_conn_t *k;
    wbuf_t *w;
    rbuf_t r;
    CK_RV st = CKR_GENERAL_ERROR;
    X509 *x = NULL;
    if (client_begin(c, OP_ADMIN_SERVER_CERT, &k, &w) == CKR_OK) {
        size_t n = 0;
        if (client_call(c, k, &st, &r) == CKR_OK && st == CKR_OK) {
            const uint8_t *der = rb_bytes(&r, &n);
            x = der ? net_cert_from_der(der, n) : NULL;
        }
        client_end(c, k);
    }
    client_free(c);
    snprintf(pin_path[i], sizeof pin_path[i], "%s/server%d.crt", dir, i);
    int rc = x && net_write_cert(pin_path[i], x) == 0 ? 0 : -1;
    X509_free(x);
    return rc;
}

/* A new identity in dir/NAME.key and .crt, valid for secs. */
static void make_identity(const char *name, long secs)
{
    EVP_PKEY *k;
    X509 *x;
    char kp[160], cp[160];
    assert_int_equal(net_make_identity(name, secs, &k, &x), 0);
    snprintf(kp, sizeof kp, "%s/%s.key", dir, name);
    snprintf(cp, sizeof cp, "%s/%s.crt", dir, name);
    assert_int_equal(net_write_key(kp, k), 0);
    assert_int_equal(net_write_cert(cp, x), 0);
    EVP_PKEY_free(k);
    X509_free(x);
}

static CK_RV register_client(int i, const char *name)
{
    char cp[160];
    snprintf(cp, sizeof cp, "%s/%s.crt", dir, name);
    X509 *x = net_read_cert(cp);
    uint8_t *der = NULL;
    size_t len = 0;
    assert_non_null(x);
    assert_int_equal(net_cert_to_der(x, &der, &len), 0);
    CK_RV rv = adm(i, OP_ADMIN_CLIENT_REGISTER, name, der, len, NULL, -1);
    OPENSSL_free(der);
    X509_free(x);
    return rv;
}

static CK_RV assign(int i, const char *name, const char *partition, int on)
{
    return adm(i, OP_ADMIN_CLIENT_ASSIGN, name, NULL, 0, partition, on);
}

static CK_RV set_revoked(int i, const char *name, int on)
{
    return adm(i, OP_ADMIN_CLIENT_REVOKE, name, NULL, 0, NULL, on);
}

/* A configuration file naming these HSMs for identity name. */
static void write_conf(const char *file, const char *name, const int *hsms, int n)
{
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fprintf(f, "# test\nclient-cert = %s/%s.crt\nclient-key = %s/%s.key\n", dir, name, dir,
            name);
    for (int i = 0; i < n; i++)
        fprintf(f, "server = %s %s\n", d[hsms[i]].listen, pin_path[hsms[i]]);
    fclose(f);
}

/* A raw TLS connection as identity name to HSM i, hello said (or not). */
static int raw_connect(int i, const char *name, chan_t *ch, bool say_hello)
{
    char kp[160], cp[160];
    snprintf(kp, sizeof kp, "%s/%s.key", dir, name);
    snprintf(cp, sizeof cp, "%s/%s.crt", dir, name);
    EVP_PKEY *k = net_read_key(kp);
    X509 *x = net_read_cert(cp), *pin = net_read_cert(pin_path[i]);
    SSL_CTX *ctx = k && x && pin ? net_client_ctx(k, x, pin) : NULL;
    EVP_PKEY_free(k);
    X509_free(x);
    X509_free(pin);
    char why[200];
    int rc = ctx ? net_connect(ctx, d[i].listen, ch, NULL, why, sizeof why) : -1;
    SSL_CTX_free(ctx);
    if (rc || !say_hello)
        return rc;
    wbuf_t w;
    wb_init(&w);
    wb_u32(&w, OP_HELLO);
    wb_u32(&w, PROTO_VERSION);
    wb_u64(&w, (uint64_t)getpid());
    wb_raw(&w, "0123456789abcdef", 16);
    wire_reader_t rd;
    wire_reader_init(&rd);
    const uint8_t *f;
    size_t len;
    ch->first_by = net_now_ms() + 5000;
    rc = chan_send(ch, &w) || chan_read(ch, &rd, 0, &f, &len) || len != 12 || be32_get(f) != 0
             ? -1
             : 0;
    ch->first_by = -1;
    wire_reader_free(&rd);
    wb_free(&w);
    if (rc)
        chan_close(ch);
    return rc;
}

/* One request on a raw connection: its status (or -1 when the link broke). */
static long raw_call(chan_t *ch, wbuf_t *w)
{
    wire_reader_t rd;
    wire_reader_init(&rd);
    const uint8_t *f;
    size_t len;
    long st = -1;
    ch->first_by = net_now_ms() + 15000;
    if (chan_send(ch, w) == 0 && chan_read(ch, &rd, 0, &f, &len) == 0 && len >= 4)
        st = (long)be32_get(f);
    wire_reader_free(&rd);
    return st;
}

/* Whether the peer closes fd within ms (reading and dropping what comes). */
static bool closed_within(int fd, long ms)
{
    long end = net_now_ms() + ms;
    struct timeval tv = { 0, 200 * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[512];
    while (net_now_ms() < end) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return true;
    }
    return false;
}

static int tcp_to(int i, const char *from)
{
    char host[64], port[8];
    if (net_split_hostport(d[i].listen, host, sizeof host, port, sizeof port))
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (from) {
        struct sockaddr_in src = { .sin_family = AF_INET };
        inet_pton(AF_INET, from, &src.sin_addr);
        if (bind(fd, (struct sockaddr *)&src, sizeof src)) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool log_has(int i, const char *text)
{
    char path[200];
    snprintf(path, sizeof path, "%s/softfmd.log", d[i].dir);
    size_t n;
    uint8_t *buf = read_file(path, &n);
    bool found = buf && memmem(buf, n, text, strlen(text)) != NULL;
    free(buf);
    return found;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/softfm-net.XXXXXX");
    if (!mkdtemp(dir) || !(p = module_load()))
        return -1;
    for (int i = 0; i < NHSM; i++) {
        char ip[16];
        snprintf(ip, sizeof ip, "127.0.0.%d", 2 + i);
        snprintf(d[i].listen, sizeof d[i].listen, "%s:%u", ip, free_port(ip));
        if (daemon_start(&d[i]))
            return -1;
        setenv("SOFTFM_SOCKET", d[i].sock, 1);
        if (p->C_Initialize(NULL) || hsm_setup(p, d[i].sock, &part[i]) || p->C_Finalize(NULL))
            return -1;
        if (pin_server_cert(i))
            return -1;
    }
    unsetenv("SOFTFM_SOCKET");
    make_identity("c1", 86400);
    make_identity("c2", 86400);
    if (register_client(0, "c1") || register_client(1, "c1") || register_client(0, "c2") ||
        assign(0, "c1", "it", 1) || assign(1, "c1", "it", 1) || assign(0, "c2", "it", 1))
        return -1;
    char conf[128];
    snprintf(conf, sizeof conf, "%s/c1.conf", dir);
    write_conf(conf, "c1", (const int[]){ 0, 1 }, 2);
    setenv("SOFTFM_CONF", conf, 1);
    return p->C_Initialize(NULL) == CKR_OK && MD_Initialize() == MDR_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    MD_Finalize();
    if (p)
        p->C_Finalize(NULL);
    for (int i = 0; i < NHSM; i++)
        daemon_cleanup(&d[i]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#define HSM_SLOT(i, s) (((CK_SLOT_ID)(i) << 32) | (s))

static CK_SESSION_HANDLE user_session(CK_SLOT_ID slot)
{
    CK_SESSION_HANDLE s;
    assert_int_equal(p->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
                     CKR_OK);
    CK_RV rv = p->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)T_USER_PIN, strlen(T_USER_PIN));
    assert_true(rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN);
    return s;
}

static void test_slots_of_two_hsms(void **state)
{
    (void)state;
    CK_SLOT_ID list[8];
    CK_ULONG n = 8;
    assert_int_equal(p->C_GetSlotList(CK_TRUE, list, &n), CKR_OK);
    /* Each HSM shows the partition assigned, never the Admin Token. */
    assert_int_equal(n, 2);
    assert_int_equal(list[0], HSM_SLOT(0, part[0]));
    assert_int_equal(list[1], HSM_SLOT(1, part[1]));
    CK_TOKEN_INFO ti;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(p->C_GetTokenInfo(list[i], &ti), CKR_OK);
        assert_memory_equal(ti.label, "it-token", 8);
    }
    CK_SESSION_HANDLE s;
    assert_int_equal(p->C_OpenSession(HSM_SLOT(0, 0), CKF_SERIAL_SESSION, NULL, NULL, &s),
                     CKR_SLOT_ID_INVALID);
    assert_int_equal(p->C_OpenSession(HSM_SLOT(1, 0), CKF_SERIAL_SESSION, NULL, NULL, &s),
                     CKR_SLOT_ID_INVALID);
    assert_int_equal(p->C_GetTokenInfo(HSM_SLOT(2, 1), &ti), CKR_SLOT_ID_INVALID);
    uint8_t label[32];
    memset(label, ' ', sizeof label);
    assert_int_equal(p->C_InitToken(HSM_SLOT(0, 0), (CK_UTF8CHAR_PTR)T_SO_PIN, strlen(T_SO_PIN),
                                    label),
                     CKR_SLOT_ID_INVALID);

    /* A key pair made on HSM B over the network signs there; HSM A does
       not know the handle's session. */
    CK_SESSION_HANDLE sb = user_session(list[1]);
    assert_int_equal(sb >> 32, 1);
    CK_MECHANISM gen = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    static const CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pub[] = { { CKA_EC_PARAMS, (void *)p256, sizeof p256 },
                           { CKA_VERIFY, &yes, sizeof yes } };
    CK_ATTRIBUTE priv[] = { { CKA_SIGN, &yes, sizeof yes } };
    CK_OBJECT_HANDLE hpub, hpriv;
    assert_int_equal(p->C_GenerateKeyPair(sb, &gen, pub, 2, priv, 1, &hpub, &hpriv), CKR_OK);
    CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
    CK_BYTE sig[128];
    CK_ULONG sl = sizeof sig;
    assert_int_equal(p->C_SignInit(sb, &m, hpriv), CKR_OK);
    assert_int_equal(p->C_Sign(sb, (CK_BYTE_PTR) "network", 7, sig, &sl), CKR_OK);
    assert_int_equal(p->C_VerifyInit(sb, &m, hpub), CKR_OK);
    assert_int_equal(p->C_Verify(sb, (CK_BYTE_PTR) "network", 7, sig, sl), CKR_OK);
    CK_SESSION_INFO si;
    assert_int_equal(p->C_GetSessionInfo(sb, &si), CKR_OK);
    assert_int_equal(si.slotID, list[1]);
    assert_int_equal(p->C_GetSessionInfo(sb & 0xFFFFFFFFu, &si), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(p->C_GetSessionInfo(sb | (5ul << 32), &si), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(p->C_CloseSession(sb), CKR_OK);
}

static void test_md_by_index(void **state)
{
    (void)state;
    uint32_t n = 0, err = 0, hsm = 9;
    HsmState_t st = 0;
    assert_int_equal(MD_GetHsmCount(&n), MDR_OK);
    assert_int_equal(n, 2);
    for (uint32_t i = 0; i < 2; i++) {
        assert_int_equal(MD_GetHsmState(i, &st, &err), MDR_OK);
        assert_int_equal(st, S_NORMAL_OPERATION);
    }
    assert_int_equal(MD_GetHsmState(2, &st, &err), MDR_INVALID_HSM_INDEX);
    assert_int_equal(MD_GetHsmIndexForSlot(HSM_SLOT(1, part[1]), &hsm), MDR_OK);
    assert_int_equal(hsm, 1);
    unsigned long emb = 0;
    assert_int_equal(MD_GetEmbeddedSlotID(HSM_SLOT(1, part[1]), &emb), MDR_OK);
    assert_int_equal(emb, part[1]);

    /* An FM on HSM B, called over the network: it sees a network AppId. */
    assert_int_equal(set_policy(d[1].sock, "allow-unsigned-fms", 1), CKR_OK);
    char why[256];
    assert_int_equal(load_fm(d[1].sock, getenv("SOFTFM_HELLO_FM"), why, sizeof why), CKR_OK);
    assert_int_equal(admin(d[1].sock, OP_ADMIN_SMFS_ACTIVATE, NULL, 0, 0, T_SO_PIN, NULL, 0),
                     CKR_OK);
    uint32_t fm_id = 0;
    assert_int_equal(MD_GetFmIdFromName(1, HELLO_FM_NAME, 5, &fm_id), MDR_OK);
    assert_int_equal(fm_id, HELLO_FM_NUMBER);
    assert_int_equal(MD_GetFmIdFromName(0, HELLO_FM_NAME, 5, &fm_id), MDR_FM_NOT_AVAILABLE);
    uint8_t cmd[4] = { 0, 0, 0, HELLO_WHO }, out[12];
    MD_Buffer_t req[] = { { cmd, 4 }, { NULL, 0 } };
    MD_Buffer_t resp[] = { { out, sizeof out }, { NULL, 0 } };
    uint32_t got = 0, fst = 1;
    assert_int_equal(MD_SendReceive(1, 5, HELLO_FM_NUMBER, req, 0, resp, &got, &fst), MDR_OK);
    assert_int_equal(got, 12);
    assert_int_equal(fst, 0);
    uint32_t app = be32_get(out + 8);
    assert_true(app >= 0x40000000u && app < 0x80000000u);
    /* The same process's next call: the same AppId. */
    assert_int_equal(MD_SendReceive(1, 5, HELLO_FM_NUMBER, req, 0, resp, &got, &fst), MDR_OK);
    assert_int_equal(be32_get(out + 8), app);
    assert_int_equal(MD_SendReceive(0, 5, HELLO_FM_NUMBER, req, 0, resp, &got, &fst),
                     MDR_FM_NOT_AVAILABLE);
}

static void test_lost_hsm_comes_back(void **state)
{
    (void)state;
    CK_SESSION_HANDLE sa = user_session(HSM_SLOT(0, part[0]));
    CK_SESSION_HANDLE sb = user_session(HSM_SLOT(1, part[1]));
    CK_BYTE rnd[16];
    assert_int_equal(p->C_GenerateRandom(sb, rnd, sizeof rnd), CKR_OK);
    daemon_stop(&d[1], SIGTERM);
    CK_RV rv = p->C_GenerateRandom(sb, rnd, sizeof rnd);
    assert_true(rv == CKR_DEVICE_ERROR || rv == CKR_DEVICE_REMOVED);
    assert_int_equal(p->C_GenerateRandom(sb, rnd, sizeof rnd), CKR_DEVICE_REMOVED);
    /* HSM A goes on; B's slots are gone from the list. */
    assert_int_equal(p->C_GenerateRandom(sa, rnd, sizeof rnd), CKR_OK);
    CK_SLOT_ID list[8];
    CK_ULONG n = 8;
    assert_int_equal(p->C_GetSlotList(CK_TRUE, list, &n), CKR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0], HSM_SLOT(0, part[0]));
    HsmState_t st = 0;
    uint32_t err = 0;
    assert_int_equal(MD_GetHsmState(1, &st, &err), MDR_OK);
    assert_int_equal(st, S_HSM_UNACCESSIBLE);
    assert_true(err == CKR_DEVICE_REMOVED || err == CKR_DEVICE_ERROR);
    assert_int_equal(MD_GetHsmState(0, &st, &err), MDR_OK);
    assert_int_equal(st, S_NORMAL_OPERATION);
    uint8_t cmd[4] = { 0, 0, 0, HELLO_ECHO };
    MD_Buffer_t req[] = { { cmd, 4 }, { NULL, 0 } };
    MD_Buffer_t none[] = { { NULL, 0 } };
    assert_int_equal(MD_SendReceive(1, 0, HELLO_FM_NUMBER, req, 0, none, NULL, NULL),
                     MDR_TCP_LINK_ERROR);

    /* B comes back (same data, same address): it is used again. Its
       sessions ended with the daemon. */
    assert_int_equal(daemon_start(&d[1]), 0);
    /* A slow machine (valgrind) may take a moment over the first handshake. */
    for (int tries = 0; tries < 20; tries++) {
        n = 8;
        assert_int_equal(p->C_GetSlotList(CK_TRUE, list, &n), CKR_OK);
        if (n == 2)
            break;
        usleep(500 * 1000);
    }
    assert_int_equal(n, 2);
    assert_int_equal(p->C_GenerateRandom(sb, rnd, sizeof rnd), CKR_SESSION_HANDLE_INVALID);
    CK_SESSION_HANDLE sb2 = user_session(HSM_SLOT(1, part[1]));
    assert_int_equal(p->C_GenerateRandom(sb2, rnd, sizeof rnd), CKR_OK);
    assert_int_equal(MD_GetHsmState(1, &st, &err), MDR_OK);
    assert_int_equal(st, S_NORMAL_OPERATION);
    p->C_CloseSession(sb2);
    p->C_CloseSession(sa);
}

/* In a child: run fn, exit with its result. */
static int in_child(int (*fn)(CK_SESSION_HANDLE), CK_SESSION_HANDLE arg, const char *conf)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (conf)
            setenv("SOFTFM_CONF", conf, 1);
        _exit(p->C_Initialize(NULL) == CKR_OK ? fn(arg) : 90);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

/* Another process on this client host: the parent's session is not its. */
static int other_process(CK_SESSION_HANDLE parents)
{
    CK_SESSION_INFO si;
    if (p->C_GetSessionInfo(parents, &si) != CKR_SESSION_HANDLE_INVALID)
        return 1;
    if (p->C_CloseAllSessions(HSM_SLOT(0, part[0])) != CKR_OK)
        return 2;
    CK_SESSION_HANDLE s;
    if (p->C_OpenSession(HSM_SLOT(0, part[0]), CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
        return 3;
    return p->C_Finalize(NULL) == CKR_OK ? 0 : 4;
}

/* Another client host (c2, with HSM A only). */
static int other_host(CK_SESSION_HANDLE parents)
{
    CK_SLOT_ID list[8];
    CK_ULONG n = 8;
    CK_SESSION_INFO si;
    if (p->C_GetSlotList(CK_TRUE, list, &n) != CKR_OK || n != 1 ||
        list[0] != HSM_SLOT(0, part[0]))
        return 1;
    if (p->C_GetSessionInfo(parents, &si) != CKR_SESSION_HANDLE_INVALID)
        return 2;
    if (p->C_CloseAllSessions(list[0]) != CKR_OK)
        return 3;
    return p->C_Finalize(NULL) == CKR_OK ? 0 : 4;
}

static void test_appid_per_process_and_host(void **state)
{
    (void)state;
    CK_SESSION_HANDLE s = user_session(HSM_SLOT(0, part[0]));
    assert_int_equal(in_child(other_process, s, NULL), 0);
    char conf[128];
    snprintf(conf, sizeof conf, "%s/c2.conf", dir);
    write_conf(conf, "c2", (const int[]){ 0 }, 1);
    assert_int_equal(in_child(other_host, s, conf), 0);
    /* Neither closed this process's session, nor its login. */
    CK_SESSION_INFO si;
    assert_int_equal(p->C_GetSessionInfo(s, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RW_USER_FUNCTIONS);
    assert_int_equal(p->C_CloseSession(s), CKR_OK);
}

static void test_administration_is_local_only(void **state)
{
    (void)state;
    chan_t ch;
    assert_int_equal(raw_connect(0, "c1", &ch, true), 0);
    static const uint32_t ops[] = { OP_ADMIN_SHOW,           OP_ADMIN_POLICY_SET,
                                    OP_ADMIN_FM_LOAD,        OP_ADMIN_FM_DELETE,
                                    OP_ADMIN_ZEROIZE,        OP_ADMIN_CLIENT_REGISTER,
                                    OP_ADMIN_CLIENT_REVOKE,  OP_ADMIN_PARTITION_CREATE,
                                    OP_ADMIN_SMFS_ACTIVATE,  OP_ADMIN_SERVER_CERT };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        wbuf_t w;
        wb_init(&w);
        wb_u32(&w, ops[i]);
        wb_bytes(&w, T_SO_PIN, strlen(T_SO_PIN));
        wb_bytes(&w, "dev-mode", 8);
        wb_u64(&w, 1);
        assert_int_equal(raw_call(&ch, &w), SFM_R_LOCAL_ONLY);
        wb_free(&w);
    }
    /* The Admin Token's slot does not exist for a network client. */
    wbuf_t w;
    wb_init(&w);
    wb_u32(&w, OP_GET_TOKEN_INFO);
    wb_u64(&w, 0);
    assert_int_equal(raw_call(&ch, &w), CKR_SLOT_ID_INVALID);
    wb_free(&w);
    chan_close(&ch);
    /* Nothing changed: the zeroize above did nothing. */
    CK_SESSION_HANDLE s = user_session(HSM_SLOT(0, part[0]));
    p->C_CloseSession(s);
}

static void test_refused_identities(void **state)
{
    (void)state;
    chan_t ch;
    /* Plain TCP. */
    int fd = tcp_to(0, NULL);
    assert_true(fd >= 0);
    assert_true(write(fd, "GET / HTTP/1.0\r\n\r\n", 18) == 18);
    assert_true(closed_within(fd, NET_HANDSHAKE_MS + 3000));
    close(fd);
    /* TLS without a client certificate. */
    SSL_CTX *bare = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(bare, SSL_VERIFY_NONE, NULL);
    char why[200];
    if (net_connect(bare, d[0].listen, &ch, NULL, why, sizeof why) == 0) {
        uint8_t hello[36] = { 0, 0, 0, 32, 0, 0, 0, OP_HELLO, 0, 0, 0, PROTO_VERSION };
        (void)SSL_write(ch.ssl, hello, sizeof hello);
        assert_true(closed_within(ch.fd, 3000));
        chan_close(&ch);
    }
    SSL_CTX_free(bare);
    /* A self-made certificate nobody registered. */
    make_identity("stranger", 86400);
    assert_int_equal(raw_connect(0, "stranger", &ch, true), -1);
    /* c1 on HSM C, which never heard of it. */
    assert_int_equal(raw_connect(2, "c1", &ch, true), -1);
    /* A certificate that expires after it was registered. */
    make_identity("brief", 2);
    assert_int_equal(register_client(0, "brief"), CKR_OK);
    assert_int_equal(assign(0, "brief", "it", 1), CKR_OK);
    assert_int_equal(raw_connect(0, "brief", &ch, true), 0);
    chan_close(&ch);
    sleep(3);
    assert_int_equal(raw_connect(0, "brief", &ch, true), -1);
    /* Registering an expired certificate is refused. */
    assert_int_equal(adm(0, OP_ADMIN_CLIENT_DELETE, "brief", NULL, 0, NULL, -1),
                     CKR_OK);
    assert_int_equal(register_client(0, "brief"), CKR_ARGUMENTS_BAD);
    /* Revoked: its live connection ends, new ones are refused; reinstated,
       it is back. */
    assert_int_equal(raw_connect(0, "c2", &ch, true), 0);
    assert_int_equal(set_revoked(0, "c2", 1), CKR_OK);
    wbuf_t w;
    wb_init(&w);
    wb_u32(&w, OP_GET_SLOT_LIST);
    assert_int_equal(raw_call(&ch, &w), -1);
    chan_close(&ch);
    assert_int_equal(raw_connect(0, "c2", &ch, true), -1);
    assert_int_equal(set_revoked(0, "c2", 0), CKR_OK);
    assert_int_equal(raw_connect(0, "c2", &ch, true), 0);
    assert_int_equal(raw_call(&ch, &w), CKR_OK);
    chan_close(&ch);
    /* Unassigned: no slots. */
    assert_int_equal(assign(0, "c2", "it", 0), CKR_OK);
    assert_int_equal(raw_connect(0, "c2", &ch, true), 0);
    wire_reader_t rd;
    wire_reader_init(&rd);
    const uint8_t *f;
    size_t len;
    assert_int_equal(chan_send(&ch, &w), 0);
    assert_int_equal(chan_read(&ch, &rd, 0, &f, &len), 0);
    assert_int_equal(len, 8); /* status, count 0 */
    assert_int_equal(be32_get(f + 4), 0);
    wire_reader_free(&rd);
    wb_free(&w);
    chan_close(&ch);
    assert_int_equal(assign(0, "c2", "it", 1), CKR_OK);
    /* Each refusal is in the log, with its reason. */
    assert_true(log_has(0, "unregistered certificate"));
    assert_true(log_has(0, "certificate expired or not yet valid"));
    assert_true(log_has(0, "client c2 is revoked"));
    assert_true(log_has(0, "connection(s) ended"));
    assert_true(log_has(2, "unregistered certificate"));
}

static void test_slow_and_flooding_peers(void **state)
{
    (void)state;
    /* A flood of connections that never start a handshake, from one
       address: the HSM keeps serving a client from another. */
    enum { FLOOD = 60 };
    int flood[FLOOD];
    for (int i = 0; i < FLOOD; i++)
        flood[i] = tcp_to(0, "127.0.0.9");
    chan_t ch;
    assert_int_equal(raw_connect(0, "c1", &ch, true), 0);
    wbuf_t w;
    wb_init(&w);
    wb_u32(&w, OP_GET_SLOT_LIST);
    assert_int_equal(raw_call(&ch, &w), CKR_OK);
    /* Over the limit per address: closed at once; the rest when their
       handshake time is up. */
    assert_true(closed_within(flood[FLOOD - 1], 1000));
    assert_true(closed_within(flood[0], NET_HANDSHAKE_MS + 3000));
    for (int i = 0; i < FLOOD; i++)
        close(flood[i]);
    assert_true(log_has(0, "too many handshakes in progress"));
    assert_true(log_has(0, "handshake timed out"));

    /* Slowloris in the handshake: a byte a second is not enough. */
    int fd = tcp_to(0, NULL);
    long start = net_now_ms();
    bool closed = false;
    while (!closed && net_now_ms() - start < NET_HANDSHAKE_MS + 4000) {
        if (send(fd, "\x16", 1, MSG_NOSIGNAL) != 1)
            closed = true;
        else
            closed = closed_within(fd, 1000);
    }
    assert_true(closed);
    close(fd);

    /* A frame started and never finished, after the handshake. */
    chan_t slow;
    assert_int_equal(raw_connect(0, "c1", &slow, true), 0);
    assert_int_equal(SSL_write(slow.ssl, "\x00\x00", 2), 2);
    start = net_now_ms();
    uint8_t b;
    int r;
    do {
        r = SSL_read(slow.ssl, &b, 1);
    } while (r <= 0 && SSL_get_error(slow.ssl, r) == SSL_ERROR_WANT_READ &&
             net_now_ms() - start < NET_FRAME_MS + 5000 && usleep(100 * 1000) == 0);
    assert_true(r <= 0 && SSL_get_error(slow.ssl, r) != SSL_ERROR_WANT_READ);
    chan_close(&slow);
    assert_true(log_has(0, "a frame too slow"));

    /* A frame over the limit. */
    chan_t big;
    assert_int_equal(raw_connect(0, "c1", &big, true), 0);
    assert_int_equal(SSL_write(big.ssl, "\x00\x40\x00\x00", 4), 4);
    assert_true(closed_within(big.fd, 3000));
    chan_close(&big);
    assert_true(log_has(0, "a frame over the size limit"));

    /* Through all of it the well-behaved connection kept working. */
    assert_int_equal(raw_call(&ch, &w), CKR_OK);
    wb_free(&w);
    chan_close(&ch);
}

/* One registered client cannot take every connection the HSM has. */
static void test_connections_per_client(void **state)
{
    (void)state;
    enum { CAP = 256 };
    static chan_t many[CAP];
    int n = 0;
    while (n < CAP && raw_connect(0, "c2", &many[n], true) == 0)
        n++;
    assert_int_equal(n, CAP);
    chan_t one;
    assert_int_equal(raw_connect(0, "c2", &one, true), -1);
    assert_true(log_has(0, "client c2 has 256 connections already"));
    /* Another client is not held back by it. */
    assert_int_equal(raw_connect(0, "c1", &one, true), 0);
    chan_close(&one);
    for (int i = 0; i < n; i++)
        chan_close(&many[i]);
    /* Its connections gone, it is let in again (the HSM sees them go). */
    int rc = -1;
    for (int tries = 0; tries < 50 && rc; tries++) {
        rc = raw_connect(0, "c2", &one, true);
        if (rc)
            usleep(100 * 1000);
    }
    assert_int_equal(rc, 0);
    chan_close(&one);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* the plain-TCP probes write to closed sockets */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_of_two_hsms),
        cmocka_unit_test(test_md_by_index),
        cmocka_unit_test(test_lost_hsm_comes_back),
        cmocka_unit_test(test_appid_per_process_and_host),
        cmocka_unit_test(test_administration_is_local_only),
        cmocka_unit_test(test_refused_identities),
        cmocka_unit_test(test_slow_and_flooding_peers),
        cmocka_unit_test(test_connections_per_client),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
