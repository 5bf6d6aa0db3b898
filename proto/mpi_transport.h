#ifndef DUET_PROTO_MPI_TRANSPORT_H
#define DUET_PROTO_MPI_TRANSPORT_H

/* Messages and KV blocks over MPI, without ever blocking in MPI (Debian's
 * Open MPI busy-polls inside blocking calls, and an idle rank must not eat
 * a core). Only the thread that owns the transport calls MPI.
 *
 * Tags: DUET_TAG_CTL carries whole proto messages (received with
 * MPI_Improbe + MPI_Mrecv, any size); DUET_TAG_KV_HDR carries a KV block
 * header (kv_wire.h) for a run of consecutive blocks plus the tags their
 * data will use; each block's data follows on its own tag (>=
 * DUET_TAG_KV_DATA0, a per-destination counter), received
 * with MPI_Irecv straight into the memory the owner names. Control and
 * bulk traffic never share a tag, so a cancel is never queued behind a
 * transfer, and a header whose destination is not known yet can wait
 * without stalling the blocks behind it. */

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/kv_wire.h"

#define DUET_TAG_CTL 1
#define DUET_TAG_KV_HDR 2
#define DUET_TAG_KV_DATA0 16

/* kv_target's answer for "not known yet, ask again later". */
#define DUET_KV_DEFER ((void *)1)

typedef struct {
  /* A control message from src; buf (malloc'd, len bytes, header included)
   * now belongs to the callee. */
  void (*on_msg)(int src, uint8_t *buf, size_t len, void *user);
  /* Where the data of this block goes (h->data_bytes bytes), NULL to drop
   * it, or DUET_KV_DEFER. Also asked for END headers (any non-DEFER answer
   * delivers them), so an END never overtakes a deferred block. */
  void *(*kv_target)(int src, const duet_kv_wire *h, void *user);
  /* A block's data has landed (dropped: it went to scratch), or an END
   * header arrived (no data). */
  void (*kv_received)(int src, const duet_kv_wire *h, int dropped, void *user);
  /* The data of a send_kv may now be reused. */
  void (*kv_sent)(void *ctx, void *user);
  void *user;
} duet_mpi_callbacks;

typedef struct duet_mpi_transport duet_mpi_transport;

int duet_mpi_transport_new(MPI_Comm comm, const duet_mpi_callbacks *cb, size_t max_kv_bytes,
                           duet_mpi_transport **out);
/* Cancels outstanding receives; waits (politely) for sends to complete. */
void duet_mpi_transport_free(duet_mpi_transport *t);

/* Takes ownership of buf (malloc'd, a whole encoded message). */
int duet_mpi_send(duet_mpi_transport *t, int dest, uint8_t *buf, size_t len);
/* data (h->data_bytes) must stay valid until kv_sent(ctx). END headers
 * (no data) may pass data NULL; kv_sent is not called for them. */
int duet_mpi_send_kv(duet_mpi_transport *t, int dest, const duet_kv_wire *h, const void *data, void *ctx);
/* A run of n_blocks blocks (indices h->block_index..+n_blocks-1, each
 * h->data_bytes long at data[k]) under one header: the receiver posts all
 * their receives at once. kv_sent(ctx) runs once per block. */
int duet_mpi_send_kv_run(duet_mpi_transport *t, int dest, const duet_kv_wire *h, int n_blocks,
                         const void *const *data, void *ctx);

/* Complete what can be completed and deliver what has arrived. Returns
 * the number of events (0: nothing happened). */
int duet_mpi_progress(duet_mpi_transport *t);
int duet_mpi_outstanding(const duet_mpi_transport *t); /* sends + receives in flight */
uint64_t duet_mpi_bytes_received(const duet_mpi_transport *t); /* KV data bytes */

/* Idle backoff: after 8 quiet rounds sleep, growing from 20 us to max_us
 * (5 x max_us after 200 quiet rounds); any activity resets it. */
typedef struct {
  int quiet;
  int max_us;
} duet_backoff;
void duet_backoff_step(duet_backoff *b, int active);

#endif
