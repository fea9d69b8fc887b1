/*
 * The client configuration: which HSMs a host program reaches, in order.
 *
 * The file (SOFTFM_CONF, else /etc/softfm.conf) holds lines of the form
 *
 *   socket = PATH                  a local HSM (softfmd's Unix socket)
 *   server = HOST:PORT CERT        a network HSM and its pinned certificate
 *   client-cert = FILE             this host's identity on network HSMs
 *   client-key = FILE
 *
 * with '#' comments. Each socket and server line is one HSM; the first is
 * HSM 0. SOFTFM_SOCKET, when set, is the local HSM: it replaces the file's
 * socket lines (or comes first when the file has none). With neither, the
 * one HSM is the default socket.
 */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int add_hsm(client_config_t *cfg, bool tls, const char *addr, const char *cert,
                   char *err, size_t cap)
{
    if (cfg->n == CLIENT_MAX_HSMS) {
        snprintf(err, cap, "more than %d HSMs", CLIENT_MAX_HSMS);
        return -1;
    }
    client_hsm_t *h = &cfg->hsm[cfg->n];
    if (strlen(addr) >= sizeof h->addr || (cert && strlen(cert) >= sizeof h->server_cert)) {
        snprintf(err, cap, "a name too long: %.40s", addr);
        return -1;
    }
    memset(h, 0, sizeof *h);
    h->tls = tls;
    snprintf(h->addr, sizeof h->addr, "%s", addr);
    if (cert)
        snprintf(h->server_cert, sizeof h->server_cert, "%s", cert);
    cfg->n++;
    return 0;
}

static int parse_line(client_config_t *cfg, char *line, const char *env_sock, char *err,
                      size_t cap)
{
    char *p = trim(line);
    if (!*p || *p == '#')
        return 0;
    char *eq = strchr(p, '=');
    if (!eq) {
        snprintf(err, cap, "not KEY = VALUE: %.60s", p);
        return -1;
    }
    *eq = '\0';
    char *key = trim(p), *val = trim(eq + 1);
    size_t kl = strlen(key);
    while (kl && (key[kl - 1] == ' ' || key[kl - 1] == '\t'))
        key[--kl] = '\0';
    if (!*val) {
        snprintf(err, cap, "%s has no value", key);
        return -1;
    }
    if (!strcmp(key, "socket"))
        return env_sock ? 0 : add_hsm(cfg, false, val, NULL, err, cap);
    if (!strcmp(key, "server")) {
        char *sp = strpbrk(val, " \t");
        if (!sp) {
            snprintf(err, cap, "server %s: its certificate file is missing", val);
            return -1;
        }
        *sp = '\0';
        return add_hsm(cfg, true, val, trim(sp + 1), err, cap);
    }
    char *dst = !strcmp(key, "client-cert") ? cfg->client_cert
                : !strcmp(key, "client-key") ? cfg->client_key
                                              : NULL;
    if (!dst) {
        snprintf(err, cap, "unknown setting %.40s", key);
        return -1;
    }
    if (strlen(val) >= CLIENT_PATH_MAX) {
        snprintf(err, cap, "%s: path too long", key);
        return -1;
    }
    snprintf(dst, CLIENT_PATH_MAX, "%s", val);
    return 0;
}

int client_config_load(client_config_t *cfg, char *err, size_t cap)
{
    memset(cfg, 0, sizeof *cfg);
    err[0] = '\0';
    const char *env_sock = getenv("SOFTFM_SOCKET");
    if (env_sock && !*env_sock)
        env_sock = NULL;
    if (env_sock && add_hsm(cfg, false, env_sock, NULL, err, cap))
        return -1;
    const char *conf = getenv("SOFTFM_CONF");
    bool named = conf && *conf;
    const char *path = named ? conf : CLIENT_DEFAULT_CONF;
    FILE *f = fopen(path, "re");
    if (!f && (named || errno != ENOENT)) {
        snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (f) {
        char line[1024];
        unsigned no = 0;
        int rc = 0;
        while (rc == 0 && fgets(line, sizeof line, f)) {
            no++;
            char why[200];
            rc = parse_line(cfg, line, env_sock, why, sizeof why);
            if (rc)
                snprintf(err, cap, "%s line %u: %s", path, no, why);
        }
        fclose(f);
        if (rc)
            return -1;
    }
    bool any_tls = false;
    for (size_t i = 0; i < cfg->n; i++)
        any_tls |= cfg->hsm[i].tls;
    if (any_tls && (!cfg->client_cert[0] || !cfg->client_key[0])) {
        snprintf(err, cap, "%s: network HSMs need client-cert and client-key", path);
        return -1;
    }
    if (cfg->n == 0)
        (void)add_hsm(cfg, false, CLIENT_DEFAULT_SOCKET, NULL, err, cap);
    return 0;
}

void client_socket_path(char *buf, size_t cap)
{
    client_config_t cfg;
    char err[256];
    snprintf(buf, cap, "%s", CLIENT_DEFAULT_SOCKET);
    if (client_config_load(&cfg, err, sizeof err) == 0)
        for (size_t i = 0; i < cfg.n; i++)
            if (!cfg.hsm[i].tls) {
                snprintf(buf, cap, "%s", cfg.hsm[i].addr);
                break;
            }
}
