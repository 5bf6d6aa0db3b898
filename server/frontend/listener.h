#ifndef DUET_FRONTEND_LISTENER_H
#define DUET_FRONTEND_LISTENER_H

/* The listening socket and its connections. A connection starts
 * undetected: the first bytes say HTTP/2 (the 24-byte client preface:
 * prior knowledge) or HTTP/1.1 (anything else; it may later upgrade to h2c);
 * over TLS, ALPN decides. Writes go out without blocking (uv_try_write,
 * then a queued uv_write); a client that stops reading or sending for the
 * slow-client timeout, or stays idle past the idle timeout, is closed. */

#include <stddef.h>
#include <uv.h>

#include "server/frontend/server.h"

typedef struct duet_h1 duet_h1;
typedef struct duet_h2 duet_h2;
typedef struct duet_tls duet_tls;

enum { DUET_PROTO_DETECT = 0, DUET_PROTO_H1 = 1, DUET_PROTO_H2 = 2 };

struct duet_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_timer_t kick;        /* runs deferred work (resuming a paused parser) */
  duet_server *srv;
  duet_conn *prev, *next;
  int proto;
  int closing;
  int open_handles;
  char sniff[24];
  size_t sniff_len;
  duet_tls *tls;
  duet_h1 *h1;
  duet_h2 *h2;
  size_t write_queued;    /* bytes handed to uv_write and not yet written */
  double last_read, last_write; /* loop-clock seconds of the last progress */
  int reading;
  int close_when_flushed;
};

/* Starts listening on opts.host:opts.port. */
int duet_listener_start(duet_server *s);
void duet_listener_stop(duet_server *s);

/* Queue bytes for the client (plaintext; encrypted here under TLS). */
void duet_conn_write(duet_conn *c, const char *p, size_t n);
/* Close now (asynchronously; its requests are aborted in the close callback). */
void duet_conn_close(duet_conn *c);
/* Close once everything queued has been written. */
void duet_conn_finish(duet_conn *c);
/* Run the protocol's resume step on the next loop iteration, outside any
 * handler that is on the stack now. */
void duet_conn_kick(duet_conn *c);
void duet_conn_pause_read(duet_conn *c);
void duet_conn_resume_read(duet_conn *c);
/* True while the socket's send queue is small enough to produce more. */
int duet_conn_writable(const duet_conn *c);
/* Called by the drain logic: close idle connections, tell busy ones to go. */
void duet_conns_drain(duet_server *s);
/* Close every connection once its queued bytes are written. */
void duet_conns_close_all(duet_server *s);

#endif
