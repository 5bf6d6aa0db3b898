/* proto/socket_transport.c over loopback: messages arrive whole whatever
 * the write splits; a peer sending garbage, an internal kind or a header
 * promising too much is dropped cleanly; a vanishing peer is noticed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "engine/error.h"
#include "proto/message.h"
#include "proto/socket_transport.h"

#include "tests/unit/unit_check.h"


typedef struct {
  uv_loop_t *loop;
  uv_tcp_t server;
  int n_msgs, n_closed;
  uint64_t last_id;
  int last_kind;
  size_t last_len;
  char why[256];
  int connected;
} ctx;

static void srv_msg(duet_sock_conn *c, const duet_msg_header *h, uint8_t *msg, size_t len, void *user) {
  (void)c;
  ctx *x = user;
  x->n_msgs++;
  x->last_id = h->request_id;
  x->last_kind = h->kind;
  x->last_len = len;
  free(msg);
}
static void srv_close(duet_sock_conn *c, const char *why, void *user) {
  (void)c;
  ctx *x = user;
  x->n_closed++;
  snprintf(x->why, sizeof x->why, "%s", why);
}

static void on_conn(uv_stream_t *server, int status) {
  ctx *x = server->data;
  if (status) return;
  duet_sock_callbacks cb = {srv_msg, srv_close, NULL, x, 0};
  duet_sock_conn *c;
  if (duet_sock_conn_new(x->loop, &cb, &c)) return;
  if (uv_accept(server, duet_sock_conn_stream(c)) == 0) duet_sock_conn_start(c);
  else duet_sock_conn_close(c, "accept failed");
}

static void cli_connect(duet_sock_conn *c, int status, void *user) {
  (void)c;
  ((ctx *)user)->connected = status == 0 ? 1 : -1;
}
static void cli_msg(duet_sock_conn *c, const duet_msg_header *h, uint8_t *msg, size_t len, void *user) {
  (void)c, (void)h, (void)len, (void)user;
  free(msg);
}
static void cli_close(duet_sock_conn *c, const char *why, void *user) { (void)c, (void)why, (void)user; }

/* Run the loop until cond holds or ~2 s pass. */
#define RUN_UNTIL(x, cond)                                             \
  for (int _i = 0; _i < 2000 && !(cond); _i++) {                       \
    uv_run((x)->loop, UV_RUN_NOWAIT);                                  \
    uv_sleep(1);                                                       \
  }

/* Let pending events run for ~50 ms. */
#define SETTLE(x)                                                      \
  for (int _i = 0; _i < 50; _i++) {                                    \
    uv_run((x)->loop, UV_RUN_NOWAIT);                                  \
    uv_sleep(1);                                                       \
  }

static duet_sock_conn *client(ctx *x, const char *addr) {
  duet_sock_callbacks cb = {cli_msg, cli_close, cli_connect, x, 0};
  duet_sock_conn *c;
  x->connected = 0;
  if (duet_sock_conn_new(x->loop, &cb, &c) || duet_sock_connect(c, addr)) return NULL;
  RUN_UNTIL(x, x->connected != 0);
  return c;
}

static void send_raw(duet_sock_conn *c, const void *p, size_t n) {
  uint8_t *b = malloc(n);
  memcpy(b, p, n);
  duet_sock_conn_send(c, b, n);
}

int main(void) {
  ctx x = {0};
  x.loop = uv_default_loop();
  struct sockaddr_storage sa;
  CHECK(duet_sock_parse_addr("nohost", &sa) == DUET_EINVAL);
  CHECK(duet_sock_parse_addr("example.com:80", &sa) == DUET_EINVAL);
  CHECK(duet_sock_parse_addr("[::1]:9", &sa) == 0 && sa.ss_family == AF_INET6);
  CHECK(duet_sock_parse_addr("127.0.0.1:0", &sa) == 0);
  uv_tcp_init(x.loop, &x.server);
  x.server.data = &x;
  CHECK(uv_tcp_bind(&x.server, (struct sockaddr *)&sa, 0) == 0);
  CHECK(uv_listen((uv_stream_t *)&x.server, 16, on_conn) == 0);
  struct sockaddr_in bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&x.server, (struct sockaddr *)&bound, &blen);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(bound.sin_port));

  /* Whole messages, including one split byte by byte. */
  duet_sock_conn *c = client(&x, addr);
  CHECK(c && x.connected == 1);
  if (!c || x.connected != 1) { fprintf(stderr, "connect to %s failed (%d)\n", addr, x.connected); return 1; }
  int32_t ids[3] = {4, 5, 6};
  duet_tokens_msg t = {3, ids, NULL, 0, NULL};
  uint8_t *buf;
  size_t len;
  duet_msg_encode_tokens(11, &t, &buf, &len);
  for (size_t i = 0; i < len; i++) send_raw(c, buf + i, 1);
  duet_sock_conn_send(c, buf, len);
  RUN_UNTIL(&x, x.n_msgs == 2);
  CHECK(x.n_msgs == 2 && x.last_id == 11 && x.last_kind == DUET_MSG_TOKENS && x.last_len == len);

  /* Garbage: dropped with a reason naming the magic. */
  send_raw(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
  RUN_UNTIL(&x, x.n_closed == 1);
  CHECK(x.n_closed == 1 && strstr(x.why, "magic"));
  duet_sock_conn_close(c, "test done");

  /* An internal kind from a front-end peer. */
  c = client(&x, addr);
  duet_msg_encode_empty(DUET_MSG_INTERNAL_FIRST, 1, &buf, &len);
  duet_sock_conn_send(c, buf, len);
  RUN_UNTIL(&x, x.n_closed == 2);
  CHECK(x.n_closed == 2 && strstr(x.why, "internal"));
  duet_sock_conn_close(c, "test done");

  /* A peer that promises a payload and vanishes halfway. */
  c = client(&x, addr);
  duet_msg_encode_tokens(12, &t, &buf, &len);
  send_raw(c, buf, len - 3);
  free(buf);
  SETTLE(&x);
  duet_sock_conn_close(c, "vanish");
  RUN_UNTIL(&x, x.n_closed == 3);
  CHECK(x.n_closed == 3 && x.n_msgs == 2);

  /* Oversized payload announced in the header. */
  c = client(&x, addr);
  uint8_t hdr[DUET_MSG_HEADER_SIZE];
  duet_msg_header h = {DUET_PROTO_MAGIC, DUET_PROTO_VERSION, DUET_MSG_REQUEST, 1, DUET_MSG_MAX_PAYLOAD + 1};
  duet_msg_header_encode(&h, hdr);
  send_raw(c, hdr, sizeof hdr);
  RUN_UNTIL(&x, x.n_closed == 4);
  CHECK(x.n_closed == 4 && strstr(x.why, "exceeds"));
  duet_sock_conn_close(c, "test done");

  /* Connecting to a closed port reports failure. */
  uv_close((uv_handle_t *)&x.server, NULL);
  SETTLE(&x);
  c = client(&x, addr);
  CHECK(x.connected == -1);
  SETTLE(&x);
  uv_run(x.loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(x.loop) == 0);
  return finish();
}
