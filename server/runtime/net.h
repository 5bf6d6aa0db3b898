#ifndef DUET_RUNTIME_NET_H
#define DUET_RUNTIME_NET_H

/* What a role (router, prefill, decode) needs from its transport, so the
 * same role code runs over MPI (net_mpi.c, one role per rank) and inside
 * one process (net_local.c, every role on one thread). */

#include <stddef.h>
#include <stdint.h>

#include "proto/kv_wire.h"

typedef struct duet_net duet_net;
struct duet_net {
  /* Takes ownership of buf (a whole encoded message). */
  int (*send)(duet_net *n, int dest, uint8_t *buf, size_t len);
  /* A run of n_blocks KV blocks (block indices h->block_index.., each
   * h->data_bytes at data[k]) under one header; data stays valid until
   * the role's kv_sent(ctx), called once per block. END: n_blocks 0. */
  int (*send_kv)(duet_net *n, int dest, const duet_kv_wire *h, int n_blocks, const void *const *data, void *ctx);
  /* Move traffic along while a role waits inside a step (for pool space). */
  int (*pump)(duet_net *n);
  int self; /* this endpoint */
  void *impl;
};

/* A role as its transport sees it. */
typedef struct {
  void *self;
  void (*on_msg)(void *self, int src, uint8_t *buf, size_t len); /* owns buf */
  /* Destination of a KV block's data, NULL to drop, or DUET_KV_DEFER. */
  void *(*kv_target)(void *self, int src, const duet_kv_wire *h);
  void (*kv_received)(void *self, int src, const duet_kv_wire *h, int dropped);
  void (*kv_sent)(void *self, void *ctx);
  int (*step)(void *self);     /* one unit of work; > 0 when something was done */
  int (*finished)(void *self); /* shut down and drained */
} duet_role;

/* Send helpers that log nothing: failures surface as a dead peer. */
static inline int duet_net_send(duet_net *n, int dest, uint8_t *buf, size_t len) {
  return n->send(n, dest, buf, len);
}

/* In-process hub: endpoints 0..n-1, each with its role; all on one thread. */
typedef struct duet_local_hub duet_local_hub;
int duet_local_hub_new(int n_endpoints, duet_local_hub **out);
void duet_local_hub_free(duet_local_hub *h);
duet_net *duet_local_hub_net(duet_local_hub *h, int endpoint);
void duet_local_hub_attach(duet_local_hub *h, int endpoint, const duet_role *role);
/* Deliver queued messages; returns how many. */
int duet_local_hub_deliver(duet_local_hub *h);

#endif
