/* The socket backend: a libuv TCP client to a duet-worker coordinator
 * (duetd --workers HOST:PORT). When the connection drops every in-flight
 * request finishes with an error at once, the backend reports not-ready,
 * and (when reconnecting) retries with a growing delay. */
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "proto/socket_transport.h"
#include "server/runtime/backend_impl.h"

struct duet_sock_client {
  duet_backend *b;
  duet_sock_conn *conn;
  char *addr;
  int reconnect, connected, closing, retry_ms;
  uv_timer_t retry;
  void (*on_down)(duet_backend *b, const char *why);
  void (*done)(duet_backend *b);
};

static void on_msg(duet_sock_conn *c, const duet_msg_header *h, uint8_t *msg, size_t len, void *user) {
  (void)c, (void)h;
  duet_sock_client *s = user;
  duet_backend_deliver(s->b, msg, len);
  free(msg);
}

static void on_connect(duet_sock_conn *c, int status, void *user) {
  (void)c;
  duet_sock_client *s = user;
  if (status) return; /* on_close follows */
  s->connected = 1;
  s->retry_ms = 100;
  duet_backend_set_ready(s->b, 1, "connected to the workers");
}

static void try_connect(duet_sock_client *s);

static void on_retry(uv_timer_t *t) { try_connect(t->data); }

static void on_retry_closed(uv_handle_t *h) {
  duet_sock_client *s = h->data;
  void (*done)(duet_backend *) = s->done;
  duet_backend *b = s->b;
  free(s->addr);
  free(s);
  if (done) done(b);
}

static void finish_close(duet_sock_client *s) {
  if (!uv_is_closing((uv_handle_t *)&s->retry)) uv_close((uv_handle_t *)&s->retry, on_retry_closed);
}

static void on_conn_close(duet_sock_conn *c, const char *why, void *user) {
  (void)c;
  duet_sock_client *s = user;
  s->conn = NULL;
  int was = s->connected;
  s->connected = 0;
  char msg[200];
  snprintf(msg, sizeof msg, "lost the workers: %s", why);
  duet_backend_fail_all(s->b, msg);
  duet_backend_set_ready(s->b, 0, msg);
  if (s->closing) {
    finish_close(s);
    return;
  }
  if (s->on_down) s->on_down(s->b, msg);
  if (s->reconnect) {
    uv_timer_start(&s->retry, on_retry, was ? 100 : (uint64_t)s->retry_ms, 0);
    if (!was) s->retry_ms = s->retry_ms * 2 > 5000 ? 5000 : s->retry_ms * 2;
  }
}

static void try_connect(duet_sock_client *s) {
  if (s->closing || s->conn) return;
  duet_sock_callbacks cb = {on_msg, on_conn_close, on_connect, s, 0};
  if (duet_sock_conn_new(s->b->loop, &cb, &s->conn)) return;
  if (duet_sock_connect(s->conn, s->addr)) {
    duet_sock_conn *c = s->conn;
    duet_sock_conn_close(c, duet_last_error()); /* reschedules through on_conn_close */
  }
}

int duet_sock_client_new(duet_backend *b, int reconnect, void (*on_down)(duet_backend *b, const char *why),
                         duet_sock_client **out) {
  duet_sock_client *s = calloc(1, sizeof *s);
  if (!s) return duet_error(DUET_ENOMEM, "socket backend: out of memory");
  s->b = b;
  s->reconnect = reconnect;
  s->on_down = on_down;
  s->retry_ms = 100;
  uv_timer_init(b->loop, &s->retry);
  s->retry.data = s;
  *out = s;
  return DUET_OK;
}

int duet_sock_client_connect(duet_sock_client *s, const char *addr) {
  struct sockaddr_storage sa;
  int rc = duet_sock_parse_addr(addr, &sa);
  if (rc) return rc;
  free(s->addr);
  s->addr = strdup(addr);
  if (!s->addr) return duet_error(DUET_ENOMEM, "socket backend: out of memory");
  try_connect(s);
  return DUET_OK;
}

int duet_sock_client_send(duet_sock_client *s, uint8_t *buf, size_t len) {
  if (!s->connected || !s->conn) {
    free(buf);
    return duet_error(DUET_EAGAIN, "not connected to the workers");
  }
  return duet_sock_conn_send(s->conn, buf, len);
}

int duet_sock_client_connected(const duet_sock_client *s) { return s->connected; }

void duet_sock_client_drop(duet_sock_client *s) {
  if (s->conn) duet_sock_conn_close(s->conn, "worker job exited");
}

void duet_sock_client_close(duet_sock_client *s, int shutdown, void (*done)(duet_backend *b)) {
  s->closing = 1;
  s->done = done;
  uv_timer_stop(&s->retry);
  if (s->conn) {
    uint8_t *buf;
    size_t len;
    if (shutdown && s->connected && duet_msg_encode_empty(DUET_MSG_SHUTDOWN, 0, &buf, &len) == 0)
      duet_sock_conn_send(s->conn, buf, len);
    duet_sock_conn_close(s->conn, "backend closed"); /* -> on_conn_close -> finish_close */
  } else {
    finish_close(s);
  }
}
