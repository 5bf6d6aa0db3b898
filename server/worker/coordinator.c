#include "server/worker/coordinator.h"

#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "engine/error.h"
#include "proto/socket_transport.h"
#include "server/runtime/net_mpi.h"
#include "server/runtime/router.h"

typedef struct {
  uv_loop_t loop;
  uv_tcp_t server;
  uv_timer_t poll;
  int interval_ms, quiet;
  duet_sock_conn *client;
  duet_net_mpi *net;
  duet_router *router;
  duet_role role;
  int stopping, server_open;
} coord;

static void arm(coord *c, int active);

static void to_client(uint8_t *buf, size_t len, void *ctx) {
  coord *c = ctx;
  if (c->client) duet_sock_conn_send(c->client, buf, len);
  else free(buf);
}

static void on_client_msg(duet_sock_conn *conn, const duet_msg_header *h, uint8_t *msg, size_t len, void *user) {
  (void)conn;
  coord *c = user;
  duet_router_client_msg(c->router, h, msg, len);
  free(msg);
  arm(c, 1); /* poll MPI right away: the request should not wait for the idle period */
}

static void on_client_close(duet_sock_conn *conn, const char *why, void *user) {
  coord *c = user;
  if (c->client != conn) return; /* a refused second connection */
  c->client = NULL;
  fprintf(stderr, "duet-worker: front end disconnected (%s); cancelling its requests\n", why);
  duet_router_cancel_all(c->router);
}

static void on_connection(uv_stream_t *server, int status) {
  coord *c = server->data;
  if (status) return;
  duet_sock_callbacks cb = {on_client_msg, on_client_close, NULL, c, 0};
  duet_sock_conn *conn;
  if (duet_sock_conn_new(&c->loop, &cb, &conn)) return;
  if (uv_accept(server, duet_sock_conn_stream(conn))) {
    duet_sock_conn_close(conn, "accept failed");
    return;
  }
  if (c->client) { /* one front end at a time */
    duet_sock_conn_close(conn, "another front end is connected");
    return;
  }
  c->client = conn;
  duet_sock_conn_start(conn);
}

static void on_poll(uv_timer_t *t);

/* MPI poll period: 0 while busy, then 1, 2, 4, 5 ms; 20 ms once quiet for
 * a few seconds (a front-end message re-arms at 0 at once anyway). */
static void arm(coord *c, int active) {
  c->quiet = active ? 0 : c->quiet + 1;
  c->interval_ms = active ? 0 : (c->interval_ms ? (c->interval_ms * 2 > 5 ? 5 : c->interval_ms * 2) : 1);
  if (c->quiet > 600) c->interval_ms = 20;
  uv_timer_start(&c->poll, on_poll, (uint64_t)c->interval_ms, 0);
}

static void on_closed(uv_handle_t *h) { (void)h; }

static void on_poll(uv_timer_t *t) {
  coord *c = t->data;
  int n = duet_net_mpi_progress(c->net);
  n += c->role.step(c->role.self);
  if (c->role.finished(c->role.self) && !c->stopping) {
    /* SHUTDOWN went out to the groups; let the sends drain, then stop. */
    c->stopping = 1;
    if (c->client) duet_sock_conn_close(c->client, "workers shutting down");
    if (c->server_open) uv_close((uv_handle_t *)&c->server, on_closed);
    c->server_open = 0;
  }
  if (c->stopping && duet_mpi_outstanding(duet_net_mpi_transport(c->net)) == 0) {
    uv_close((uv_handle_t *)&c->poll, on_closed);
    return;
  }
  arm(c, n);
}

static int listen_on(coord *c, const char *addr) {
  struct sockaddr_storage sa;
  int rc = duet_sock_parse_addr(addr, &sa);
  if (rc) return rc;
  if ((rc = uv_tcp_bind(&c->server, (struct sockaddr *)&sa, 0)) || (rc = uv_listen((uv_stream_t *)&c->server, 8, on_connection)))
    return duet_error(DUET_EIO, "listen on %s: %s", addr, uv_strerror(rc));
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&c->server, (struct sockaddr *)&bound, &blen);
  char host[64];
  int port;
  if (bound.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&bound, host, sizeof host);
    port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
  } else {
    uv_ip4_name((struct sockaddr_in *)&bound, host, sizeof host);
    port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  }
  /* The supervisor (duetd) and tests read this line to connect. */
  printf("DUET_WORKER_LISTENING %s:%d\n", host, port);
  fflush(stdout);
  return DUET_OK;
}

int duet_coordinator_run(const duet_worker_args *a, const duet_config *cfg) {
  coord c = {0};
  uv_loop_init(&c.loop);
  int rc = duet_net_mpi_new(MPI_COMM_WORLD, 1, &c.net);
  if (rc) return rc;
  duet_router_opts ro = {a->topo, cfg->vocab, cfg->max_pos, 16, duet_net_mpi_net(c.net), to_client, &c};
  if ((rc = duet_router_new(&ro, &c.router))) return rc;
  c.role = duet_router_iface(c.router);
  duet_net_mpi_attach(c.net, &c.role);
  uv_tcp_init(&c.loop, &c.server);
  c.server.data = &c;
  c.server_open = 1;
  if ((rc = listen_on(&c, a->listen))) {
    /* Tell the groups to stop so every rank exits. */
    duet_msg_header h = {DUET_PROTO_MAGIC, DUET_PROTO_VERSION, DUET_MSG_SHUTDOWN, 0, 0};
    uint8_t msg[DUET_MSG_HEADER_SIZE];
    duet_msg_header_encode(&h, msg);
    duet_router_client_msg(c.router, &h, msg, sizeof msg);
    fprintf(stderr, "duet-worker: %s\n", duet_last_error());
  }
  uv_timer_init(&c.loop, &c.poll);
  c.poll.data = &c;
  arm(&c, 1);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  uv_loop_close(&c.loop);
  duet_router_free(c.router);
  duet_net_mpi_free(c.net);
  return rc;
}
