#ifndef DUET_PROTO_SOCKET_TRANSPORT_H
#define DUET_PROTO_SOCKET_TRANSPORT_H

/* proto messages on a libuv TCP stream. Framing is the message header's
 * own payload_len. A peer that sends a bad header (magic, version, kind,
 * oversized payload, or an internal kind when those are not allowed) or
 * disconnects is closed; on_close runs exactly once, and the connection's
 * memory is released after libuv has closed the handle. */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "proto/message.h"

typedef struct duet_sock_conn duet_sock_conn;

typedef struct {
  /* A whole message (header included); msg is malloc'd and now the callee's. */
  void (*on_msg)(duet_sock_conn *c, const duet_msg_header *h, uint8_t *msg, size_t len, void *user);
  void (*on_close)(duet_sock_conn *c, const char *why, void *user);
  /* Connect finished (status 0) or failed (libuv error code): only for
   * connections made with duet_sock_connect. On failure on_close follows. */
  void (*on_connect)(duet_sock_conn *c, int status, void *user);
  void *user;
  int allow_internal; /* accept kinds DUET_MSG_INTERNAL_FIRST..LAST */
} duet_sock_callbacks;

/* A connection object around a fresh uv_tcp_t (for uv_accept or connect). */
int duet_sock_conn_new(uv_loop_t *loop, const duet_sock_callbacks *cb, duet_sock_conn **out);
uv_stream_t *duet_sock_conn_stream(duet_sock_conn *c);
/* Start reading (after uv_accept). */
int duet_sock_conn_start(duet_sock_conn *c);
/* Connect to HOST:PORT (IPv4 or IPv6 literal, or localhost); reading starts
 * by itself once connected. */
int duet_sock_connect(duet_sock_conn *c, const char *hostport);
/* Queue a whole message; takes ownership of buf. DUET_ECLOSED after close. */
int duet_sock_conn_send(duet_sock_conn *c, uint8_t *buf, size_t len);
size_t duet_sock_conn_queued(const duet_sock_conn *c); /* bytes not yet written */
void duet_sock_conn_close(duet_sock_conn *c, const char *why);
void duet_sock_conn_set_user(duet_sock_conn *c, void *user);

/* "HOST:PORT" -> sockaddr (no DNS beyond "localhost"). */
int duet_sock_parse_addr(const char *hostport, struct sockaddr_storage *out);

#endif
