/*
 * The network link between host computers and a softfm HSM: TLS 1.3 with
 * certificates on both sides (OpenSSL), framed the same way as the local
 * Unix socket.
 *
 * Identities are self-signed P-256 certificates. Neither side trusts a
 * certificate authority: the HSM knows its clients by the SHA-256 of their
 * certificates (registered by the HSM SO), and a client pins the HSM's
 * certificate when it is set up. Session tickets are off, so every
 * connection proves its certificate again and a revoked client cannot come
 * back on an old session.
 */
#ifndef SOFTFM_NET_H
#define SOFTFM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "wire.h"

/* How long a connection may take to finish its handshake and say hello,
   and to deliver the rest of a frame it has started (the slowloris bound). */
#define NET_HANDSHAKE_MS 5000
#define NET_FRAME_MS 10000
/* How long a connect may take before the HSM counts as unreachable. */
#define NET_CONNECT_MS 3000

/* A framed link: a plain socket (ssl NULL) or TLS over a non-blocking one. */
typedef struct chan {
    int fd;
    SSL *ssl;
    long first_by;   /* TLS: a deadline (net_now_ms) for the next frame to
                        begin, or -1 for none */
} chan_t;

int chan_read(chan_t *c, wire_reader_t *rd, unsigned spin_us, const uint8_t **frame,
              size_t *len);
int chan_send(chan_t *c, wbuf_t *b);
int chan_send_pair(chan_t *c, wbuf_t *a, wbuf_t *b);
/* Shut TLS down politely (without waiting) and close the socket. */
void chan_close(chan_t *c);

/* "HOST:PORT" (an IPv6 address in brackets) into its parts. */
int net_split_hostport(const char *s, char *host, size_t cap, char *port, size_t pcap);

/* Identities (ident.c). */
#define NET_FP_LEN 32
#define NET_FP_TEXT (NET_FP_LEN * 3)
/* A new P-256 key and a self-signed certificate for it, valid from five
   minutes ago for valid_s seconds. */
int net_make_identity(const char *common_name, long valid_s, EVP_PKEY **key, X509 **cert);
/* SHA-256 of the certificate's DER, and the same as "AB:CD:…". */
int net_fingerprint(X509 *cert, uint8_t fp[NET_FP_LEN]);
void net_fp_text(const uint8_t fp[NET_FP_LEN], char out[NET_FP_TEXT]);
/* DER <-> objects; PEM files (a key file is written 0600). */
X509 *net_cert_from_der(const uint8_t *der, size_t len);
EVP_PKEY *net_key_from_der(const uint8_t *der, size_t len);
int net_cert_to_der(X509 *cert, uint8_t **der, size_t *len);
int net_key_to_der(EVP_PKEY *key, uint8_t **der, size_t *len);
X509 *net_read_cert(const char *path);
EVP_PKEY *net_read_key(const char *path);
int net_write_cert(const char *path, X509 *cert);
int net_write_key(const char *path, EVP_PKEY *key);
/* The certificate's common name, and whether it is valid now. */
void net_cert_name(X509 *cert, char *buf, size_t cap);
bool net_cert_current(X509 *cert);

/* TLS (tls.c). The server context takes its identity and a function that
   decides on each client certificate; the client context pins the server's
   certificate (NULL: accept any, only to fetch it during setup). */
typedef bool (*net_client_check_fn)(void *arg, void *conn, X509 *client_cert);
SSL_CTX *net_server_ctx(EVP_PKEY *key, X509 *cert, net_client_check_fn check, void *arg);
SSL_CTX *net_client_ctx(EVP_PKEY *key, X509 *cert, X509 *pinned_server);
/* Finish a server handshake on fd by the deadline (net_now_ms time); fills
   *c on success, else a short reason for the log. conn is handed to the
   check function with the client's certificate. */
int net_accept(SSL_CTX *ctx, int fd, long deadline_ms, void *conn, chan_t *c, char *why,
               size_t cap);
/* Connect to HOST:PORT and finish the handshake. When peer is given the
   server's certificate is returned there (also when the handshake fails
   after the certificate came). */
int net_connect(SSL_CTX *ctx, const char *hostport, chan_t *c, X509 **peer, char *why,
                size_t cap);
/* Milliseconds on the monotonic clock. */
long net_now_ms(void);
/* Wait until fd has one of the poll events, or the deadline (net_now_ms
   time; -1: none) passes: 0, or -1 with errno (ETIMEDOUT). */
int net_wait(int fd, short events, long deadline);

#endif
