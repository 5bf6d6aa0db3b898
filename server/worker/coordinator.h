#ifndef DUET_WORKER_COORDINATOR_H
#define DUET_WORKER_COORDINATOR_H

/* Rank 0 of the worker job: a libuv loop that accepts one front-end
 * connection on --listen and bridges it to MPI through the router. MPI is
 * polled from a timer whose period grows to 5 ms while nothing happens, so
 * an idle coordinator sleeps in epoll instead of spinning. */

#include "engine/model.h"
#include "server/runtime/topo.h"

typedef struct {
  duet_topo topo;
  const char *model_dir, *listen;
  int kv_blocks, budget, max_batch, to_f32;
} duet_worker_args;

int duet_coordinator_run(const duet_worker_args *a, const duet_config *cfg);

#endif
