/*
 * softfm client setup / add-server: a host's side of the network link.
 *
 * setup makes the host's key and self-signed certificate (kept when they
 * exist), fetches the HSM's certificate, shows its fingerprint for the user
 * to compare with `softfm hsm show` on the HSM (or checks it against
 * --fingerprint), pins it, and writes the configuration file the PKCS#11
 * module and the MD library read through SOFTFM_CONF.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net.h"
#include "tool.h"

#define CLIENT_SECONDS (3650L * 86400L) /* ten years */

typedef struct paths {
    char dir[PATH_MAX], key[PATH_MAX + 16], cert[PATH_MAX + 16], conf[PATH_MAX + 16];
} paths_t;

static int make_paths(const char *dir, bool create, paths_t *p)
{
    if (create && mkdir(dir, 0700) && errno != EEXIST)
        return fail_msg("cannot create %s: %s", dir, strerror(errno));
    if (!realpath(dir, p->dir))
        return fail_msg("%s: %s", dir, strerror(errno));
    snprintf(p->key, sizeof p->key, "%s/client.key", p->dir);
    snprintf(p->cert, sizeof p->cert, "%s/client.crt", p->dir);
    snprintf(p->conf, sizeof p->conf, "%s/softfm.conf", p->dir);
    return 0;
}

/* The host's identity: the one in the directory, or a new one. */
static int identity(const paths_t *p, const char *name, EVP_PKEY **key, X509 **cert)
{
    bool have_key = access(p->key, F_OK) == 0, have_cert = access(p->cert, F_OK) == 0;
    if (have_key != have_cert)
        return fail_msg("%s: one of client.key and client.crt is missing; remove the other to "
                        "make a new identity", p->dir);
    if (have_key) {
        *key = net_read_key(p->key);
        *cert = net_read_cert(p->cert);
        if (!*key || !*cert || X509_check_private_key(*cert, *key) != 1)
            return fail_msg("%s: client.key and client.crt do not belong together", p->dir);
        printf("using the identity in %s\n", p->dir);
        return 0;
    }
    char host[256] = "softfm-client";
    if (!name) {
        if (gethostname(host, sizeof host))
            snprintf(host, sizeof host, "softfm-client");
        host[sizeof host - 1] = '\0';
        name = host;
    }
    if (net_make_identity(name, CLIENT_SECONDS, key, cert) || net_write_key(p->key, *key) ||
        net_write_cert(p->cert, *cert))
        return fail_msg("cannot make the client identity in %s", p->dir);
    printf("made a client key and certificate (CN=%s) in %s\n", name, p->dir);
    return 0;
}

/* "AB:cd:…" and "abcd…" compare equal. */
static bool fp_matches(const char *given, const char *text)
{
    for (;;) {
        while (*given == ':' || *given == ' ')
            given++;
        while (*text == ':')
            text++;
        if (!*given || !*text)
            return !*given && !*text;
        if (toupper((unsigned char)*given++) != toupper((unsigned char)*text++))
            return false;
    }
}

/* Connect without a pin, take the HSM's certificate, show it, check it. */
static int fetch_server_cert(EVP_PKEY *key, X509 *cert, const char *server,
                             const char *expect, X509 **out)
{
    SSL_CTX *ctx = net_client_ctx(key, cert, NULL);
    chan_t ch;
    char why[200];
    X509 *peer = NULL;
    if (!ctx)
        return fail_msg("cannot set up TLS");
    int rc = net_connect(ctx, server, &ch, &peer, why, sizeof why);
    if (rc == 0)
        chan_close(&ch); /* not registered yet, most likely: only the certificate counts */
    SSL_CTX_free(ctx);
    if (!peer)
        return fail_msg("%s: %s", server, rc ? why : "no certificate");
    uint8_t fp[NET_FP_LEN];
    char text[NET_FP_TEXT], cn[128];
    if (net_fingerprint(peer, fp)) {
        X509_free(peer);
        return fail_msg("%s: a certificate that does not hash", server);
    }
    net_fp_text(fp, text);
    net_cert_name(peer, cn, sizeof cn);
    printf("the HSM at %s presents the certificate\n  CN=%s\n  SHA-256 %s\n", server, cn, text);
    if (expect && !fp_matches(expect, text)) {
        X509_free(peer);
        return fail_msg("%s: the fingerprint is not the one given; nothing was pinned", server);
    }
    if (!expect)
        printf("compare it with the fingerprint `softfm hsm show` prints on the HSM\n");
    *out = peer;
    return 0;
}

static int write_conf(const paths_t *p, const char *server_line)
{
    FILE *f = fopen(p->conf, "we");
    if (!f)
        return fail_msg("cannot write %s: %s", p->conf, strerror(errno));
    fprintf(f,
            "# softfm client configuration (softfm client setup); use it with\n"
            "#   export SOFTFM_CONF=%s\n"
            "client-cert = %s\n"
            "client-key = %s\n"
            "%s\n",
            p->conf, p->cert, p->key, server_line);
    return fclose(f) ? fail_msg("cannot write %s", p->conf) : 0;
}

int client_setup(const client_args_t *a)
{
    if (!a->server || !a->dir)
        return fail_msg("client setup: --server HOST:PORT and --dir DIR are required");
    char host[256], port[8];
    if (net_split_hostport(a->server, host, sizeof host, port, sizeof port))
        return fail_msg("client setup: --server wants HOST:PORT, not %s", a->server);
    paths_t p;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL, *server = NULL;
    int rc = make_paths(a->dir, true, &p);
    if (rc == 0)
        rc = identity(&p, a->name, &key, &cert);
    if (rc == 0)
        rc = fetch_server_cert(key, cert, a->server, a->fingerprint, &server);
    char pin_path[PATH_MAX + 16], line[PATH_MAX + 300];
    snprintf(pin_path, sizeof pin_path, "%s/server.crt", p.dir);
    if (rc == 0 && net_write_cert(pin_path, server))
        rc = fail_msg("cannot write %s", pin_path);
    snprintf(line, sizeof line, "server = %s %s", a->server, pin_path);
    if (rc == 0)
        rc = write_conf(&p, line);
    if (rc == 0) {
        uint8_t fp[NET_FP_LEN];
        char text[NET_FP_TEXT] = "?";
        if (net_fingerprint(cert, fp) == 0)
            net_fp_text(fp, text);
        printf("pinned it in %s; wrote %s\n"
               "next, on the HSM: softfm client register --name NAME --cert %s\n"
               "                  softfm client assign --name NAME --partition PARTITION\n"
               "  (this client's certificate SHA-256 %s)\n"
               "then here: export SOFTFM_CONF=%s\n",
               pin_path, p.conf, p.cert, text, p.conf);
    }
    EVP_PKEY_free(key);
    X509_free(cert);
    X509_free(server);
    return rc;
}

int client_add_server(const client_args_t *a)
{
    if (!a->dir || (!a->server == !a->socket))
        return fail_msg("client add-server: --dir DIR and one of --server HOST:PORT or "
                        "--socket PATH are required");
    paths_t p;
    if (make_paths(a->dir, false, &p))
        return 1;
    if (access(p.conf, R_OK))
        return fail_msg("client add-server: %s is missing (softfm client setup first)", p.conf);
    char line[2 * PATH_MAX + 400];
    if (a->socket) {
        snprintf(line, sizeof line, "socket = %s", a->socket);
    } else {
        char host[256], port[8];
        if (net_split_hostport(a->server, host, sizeof host, port, sizeof port))
            return fail_msg("client add-server: --server wants HOST:PORT, not %s", a->server);
        EVP_PKEY *key = net_read_key(p.key);
        X509 *cert = net_read_cert(p.cert), *server = NULL;
        int rc = key && cert ? fetch_server_cert(key, cert, a->server, a->fingerprint, &server)
                             : fail_msg("%s: no client identity (softfm client setup first)",
                                        p.dir);
        EVP_PKEY_free(key);
        X509_free(cert);
        if (rc)
            return rc;
        char pin_path[PATH_MAX + 300];
        snprintf(pin_path, sizeof pin_path, "%s/server-%s-%s.crt", p.dir, host, port);
        for (char *c = pin_path + strlen(p.dir) + 1; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-')
                *c = '_';
        rc = net_write_cert(pin_path, server);
        X509_free(server);
        if (rc)
            return fail_msg("cannot write %s", pin_path);
        snprintf(line, sizeof line, "server = %s %s", a->server, pin_path);
    }
    /* The same HSM twice would show its slots twice. */
    FILE *f = fopen(p.conf, "re");
    char have[sizeof line];
    size_t ln = strcspn(line, " ") + 3; /* "server = " */
    size_t key_len = strcspn(line + ln, " ") + ln;
    bool dup = false;
    while (f && !dup && fgets(have, sizeof have, f))
        dup = !strncmp(have, line, key_len) && (have[key_len] == ' ' || have[key_len] == '\n');
    if (f)
        fclose(f);
    if (dup)
        return fail_msg("client add-server: %s is in %s already", line + ln, p.conf);
    f = fopen(p.conf, "ae");
    if (!f)
        return fail_msg("cannot write %s", p.conf);
    bool bad = fprintf(f, "%s\n", line) < 0;
    if (fclose(f) || bad)
        return fail_msg("cannot write %s", p.conf);
    printf("added to %s: %s\n", p.conf, line);
    return 0;
}
