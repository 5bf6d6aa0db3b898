/* proto/mpi_transport.c in a singleton MPI process (messages to itself):
 * control messages, KV blocks received straight into the named memory,
 * deferral of a header whose destination is not known yet (without
 * stalling later blocks), drops into scratch, END markers, and an idle
 * backoff that sleeps. */
#include <mpi.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/message.h"
#include "proto/mpi_transport.h"

#include "tests/unit/unit_check.h"


typedef struct {
  int msgs, received, dropped, ends, sent;
  uint64_t last_id;
  float dst[2][64];
  int known; /* blocks of request 2 are deferred until this is set */
} ctx;

static void on_msg(int src, uint8_t *buf, size_t len, void *user) {
  ctx *x = user;
  duet_msg_header h;
  if (src == 0 && duet_msg_header_decode(buf, len, &h) == 0) {
    x->msgs++;
    x->last_id = h.request_id;
  }
  free(buf);
}
static void *kv_target(int src, const duet_kv_wire *h, void *user) {
  (void)src;
  ctx *x = user;
  if (h->request_id == 1) return x->dst[h->block_index & 1];
  if (h->request_id == 2) return x->known ? x->dst[1] : DUET_KV_DEFER;
  return NULL;
}
static void kv_received(int src, const duet_kv_wire *h, int dropped, void *user) {
  (void)src;
  ctx *x = user;
  if (h->flags & DUET_KV_END) x->ends++;
  else if (dropped) x->dropped++;
  else x->received++;
}
static void kv_sent(void *c, void *user) {
  (void)c;
  ((ctx *)user)->sent++;
}

static void pump(duet_mpi_transport *t, int rounds) {
  for (int i = 0; i < rounds; i++) duet_mpi_progress(t);
}

int main(int argc, char **argv) {
  int provided;
#ifdef __SANITIZE_ADDRESS__
  __lsan_disable(); /* Open MPI's start-up allocations live (and leak) for the whole process */
#endif
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
#ifdef __SANITIZE_ADDRESS__
  __lsan_enable();
#endif
  ctx x = {0};
  duet_mpi_callbacks cb = {on_msg, kv_target, kv_received, kv_sent, &x};
  duet_mpi_transport *t;
  CHECK(duet_mpi_transport_new(MPI_COMM_WORLD, &cb, 64 * sizeof(float), &t) == 0);

  uint8_t *buf;
  size_t len;
  duet_msg_encode_empty(DUET_MSG_CANCEL, 99, &buf, &len);
  CHECK(duet_mpi_send(t, 0, buf, len) == 0);
  pump(t, 100);
  CHECK(x.msgs == 1 && x.last_id == 99);

  float src[3][64];
  for (int b = 0; b < 3; b++)
    for (int i = 0; i < 64; i++) src[b][i] = (float)(b * 100 + i);
  duet_kv_wire h2 = {0, 2, 0, 1, 0, 16, 0, 0, sizeof src[2]};
  duet_kv_wire h1 = {0, 1, 0, 1, 0, 16, 0, 0, sizeof src[0]};
  CHECK(duet_mpi_send_kv(t, 0, &h2, src[2], NULL) == 0); /* deferred */
  CHECK(duet_mpi_send_kv(t, 0, &h1, src[0], NULL) == 0); /* not stalled behind it */
  pump(t, 200);
  CHECK(x.received == 1 && memcmp(x.dst[0], src[0], sizeof src[0]) == 0);
  CHECK(duet_mpi_outstanding(t) > 0);
  x.known = 1;
  pump(t, 200);
  CHECK(x.received == 2 && memcmp(x.dst[1], src[2], sizeof src[2]) == 0);
  duet_kv_wire h3 = {0, 3, 0, 1, 0, 16, 0, 0, sizeof src[1]};
  CHECK(duet_mpi_send_kv(t, 0, &h3, src[1], NULL) == 0); /* nobody wants it */
  /* A run of two blocks under one header lands block by block. */
  duet_kv_wire hr = {0, 1, 0, 1, 4, 32, 0, 0, sizeof src[0]};
  const void *run[2] = {src[1], src[2]};
  CHECK(duet_mpi_send_kv_run(t, 0, &hr, 2, run, NULL) == 0);
  pump(t, 200);
  CHECK(x.received == 4 && memcmp(x.dst[0], src[1], sizeof src[1]) == 0 && memcmp(x.dst[1], src[2], sizeof src[2]) == 0);
  duet_kv_wire end = {DUET_KV_END, 3, 0, 0, 0, 0, 0, 0, 0};
  CHECK(duet_mpi_send_kv(t, 0, &end, NULL, NULL) == 0);
  pump(t, 200);
  CHECK(x.dropped == 1 && x.ends == 1 && x.sent == 5);
  CHECK(duet_mpi_outstanding(t) == 0);
  CHECK(duet_mpi_bytes_received(t) == 5 * sizeof src[0]);

  /* 200 idle rounds with backoff must sleep (not spin): well over 20 ms. */
  duet_backoff bo = {0, 2000};
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < 200; i++) duet_backoff_step(&bo, duet_mpi_progress(t));
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
  CHECK(ms > 20);
  duet_mpi_transport_free(t);
#ifdef __SANITIZE_ADDRESS__
  /* Check for leaks now, while Open MPI's own memory is still reachable:
   * what it never frees after MPI_Finalize (inside plugins it unloads) is
   * not ours to report. The end-of-process check is then skipped. */
  __lsan_do_leak_check();
#endif
  MPI_Finalize();
  return finish();
}
