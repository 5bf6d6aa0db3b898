#include "server/frontend/tls.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

struct duet_tls {
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl */
  int done;         /* handshake finished */
};

static const unsigned char ALPN[] = "\x02h2\x08http/1.1";

/* Prefer h2 when the client offers it, else http/1.1. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
  (void)ssl, (void)arg;
  unsigned char *o = NULL;
  if (SSL_select_next_proto(&o, outlen, ALPN, sizeof ALPN - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

int duet_tls_ctx_new(const char *cert, const char *key, SSL_CTX **out) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return duet_error(DUET_ENOMEM, "TLS: cannot create a context");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
    SSL_CTX_free(ctx);
    return duet_error(DUET_EIO, "TLS: cannot load certificate '%s'", cert);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    SSL_CTX_free(ctx);
    return duet_error(DUET_EIO, "TLS: cannot load private key '%s' (or it does not match the certificate)", key);
  }
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  *out = ctx;
  return 0;
}

duet_tls *duet_tls_new(SSL_CTX *ctx) {
  duet_tls *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->ssl = SSL_new(ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->rbio || !t->wbio) {
    if (t->ssl) SSL_free(t->ssl);
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    free(t);
    return NULL;
  }
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  SSL_set_accept_state(t->ssl);
  return t;
}

void duet_tls_free(duet_tls *t) {
  if (!t) return;
  SSL_free(t->ssl);
  free(t);
}

static void drain_wire(duet_tls *t, duet_tls_sink wire, void *user) {
  char buf[16384];
  int n;
  while ((n = BIO_read(t->wbio, buf, sizeof buf)) > 0) wire(user, buf, (size_t)n);
}

int duet_tls_feed(duet_tls *t, const char *in, size_t n, duet_tls_sink plain, duet_tls_sink wire, void *user) {
  if (n && BIO_write(t->rbio, in, (int)n) != (int)n) return duet_error(DUET_ENOMEM, "TLS: BIO_write");
  if (!t->done) {
    int rc = SSL_do_handshake(t->ssl);
    drain_wire(t, wire, user);
    if (rc != 1) {
      int e = SSL_get_error(t->ssl, rc);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
      ERR_clear_error();
      return duet_error(DUET_EPROTO, "TLS handshake failed");
    }
    t->done = 1;
  }
  char buf[16384];
  for (;;) {
    int r = SSL_read(t->ssl, buf, sizeof buf);
    if (r > 0) {
      plain(user, buf, (size_t)r);
      continue;
    }
    int e = SSL_get_error(t->ssl, r);
    drain_wire(t, wire, user);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    ERR_clear_error();
    return e == SSL_ERROR_ZERO_RETURN ? DUET_ECLOSED : duet_error(DUET_EPROTO, "TLS read failed");
  }
}

int duet_tls_write(duet_tls *t, const char *p, size_t n, duet_tls_sink wire, void *user) {
  while (n) {
    int w = SSL_write(t->ssl, p, n > (1u << 30) ? 1 << 30 : (int)n);
    if (w <= 0) {
      ERR_clear_error();
      return duet_error(DUET_EPROTO, "TLS write failed");
    }
    p += w;
    n -= (size_t)w;
    drain_wire(t, wire, user);
  }
  return 0;
}

int duet_tls_is_h2(const duet_tls *t) {
  if (!t->done) return -1;
  const unsigned char *p = NULL;
  unsigned int len = 0;
  SSL_get0_alpn_selected(t->ssl, &p, &len);
  return len == 2 && !memcmp(p, "h2", 2);
}
