#include "server/runtime/net_mpi.h"

#include <stdlib.h>

#include "engine/error.h"

struct duet_net_mpi {
  duet_net net;
  duet_role role;
  duet_mpi_transport *t;
};

static void cb_msg(int src, uint8_t *buf, size_t len, void *user) {
  duet_net_mpi *n = user;
  n->role.on_msg(n->role.self, src, buf, len);
}
static void *cb_target(int src, const duet_kv_wire *h, void *user) {
  duet_net_mpi *n = user;
  return n->role.kv_target(n->role.self, src, h);
}
static void cb_received(int src, const duet_kv_wire *h, int dropped, void *user) {
  duet_net_mpi *n = user;
  n->role.kv_received(n->role.self, src, h, dropped);
}
static void cb_sent(void *ctx, void *user) {
  duet_net_mpi *n = user;
  n->role.kv_sent(n->role.self, ctx);
}

static int mpi_send(duet_net *net, int dest, uint8_t *buf, size_t len) {
  duet_net_mpi *n = net->impl;
  return duet_mpi_send(n->t, dest, buf, len);
}
static int mpi_send_kv(duet_net *net, int dest, const duet_kv_wire *h, int n_blocks, const void *const *data,
                       void *ctx) {
  duet_net_mpi *n = net->impl;
  return duet_mpi_send_kv_run(n->t, dest, h, n_blocks, data, ctx);
}
static int mpi_pump(duet_net *net) {
  duet_net_mpi *n = net->impl;
  return duet_mpi_progress(n->t);
}

int duet_net_mpi_new(MPI_Comm world, size_t max_kv_bytes, duet_net_mpi **out) {
  duet_net_mpi *n = calloc(1, sizeof *n);
  if (!n) return duet_error(DUET_ENOMEM, "mpi net: out of memory");
  duet_mpi_callbacks cb = {cb_msg, cb_target, cb_received, cb_sent, n};
  int rc = duet_mpi_transport_new(world, &cb, max_kv_bytes, &n->t);
  if (rc) {
    free(n);
    return rc;
  }
  int rank;
  MPI_Comm_rank(world, &rank);
  n->net = (duet_net){mpi_send, mpi_send_kv, mpi_pump, rank, n};
  *out = n;
  return DUET_OK;
}

void duet_net_mpi_free(duet_net_mpi *n) {
  if (!n) return;
  duet_mpi_transport_free(n->t);
  free(n);
}

duet_net *duet_net_mpi_net(duet_net_mpi *n) { return &n->net; }
void duet_net_mpi_attach(duet_net_mpi *n, const duet_role *role) { n->role = *role; }
int duet_net_mpi_progress(duet_net_mpi *n) { return duet_mpi_progress(n->t); }
duet_mpi_transport *duet_net_mpi_transport(duet_net_mpi *n) { return n->t; }

void duet_net_mpi_allreduce(float *buf, size_t n, void *ctx) {
  MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, *(MPI_Comm *)ctx);
}
