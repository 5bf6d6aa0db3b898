#ifndef DUET_FRONTEND_TLS_H
#define DUET_FRONTEND_TLS_H

/* Optional TLS (OpenSSL) over a libuv stream, through memory BIOs so the
 * loop never blocks: ciphertext read from the socket goes in, plaintext
 * comes out to the HTTP layer, and what OpenSSL wants to send is drained to
 * the socket. ALPN offers h2 and http/1.1. */

#include <openssl/ssl.h>
#include <stddef.h>

typedef struct duet_tls duet_tls;
typedef void (*duet_tls_sink)(void *user, const char *p, size_t n);

/* A server context from PEM files; DUET_EIO naming the file on failure. */
int duet_tls_ctx_new(const char *cert, const char *key, SSL_CTX **out);
duet_tls *duet_tls_new(SSL_CTX *ctx);
void duet_tls_free(duet_tls *t);
/* Feeds ciphertext. Plaintext goes to plain(); ciphertext to send (the
 * handshake, alerts) to wire(). Returns < 0 on a fatal TLS error. */
int duet_tls_feed(duet_tls *t, const char *in, size_t n, duet_tls_sink plain, duet_tls_sink wire,
                  void *user);
/* Encrypts plaintext; the records go to wire(). */
int duet_tls_write(duet_tls *t, const char *p, size_t n, duet_tls_sink wire, void *user);
/* After the handshake: 1 when ALPN chose h2, 0 otherwise; -1 before. */
int duet_tls_is_h2(const duet_tls *t);

#endif
