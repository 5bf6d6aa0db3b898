/* The in-process backend: the router, one prefill role and one decode
 * role on a worker thread inside duetd, talking through the local hub
 * (net_local.c) with the same messages as under MPI. The loop thread hands
 * messages over through a mutex-protected queue (waking the worker with a
 * condition variable); the worker hands results back the same way and
 * wakes the loop with uv_async. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/error.h"
#include "engine/kv_cache.h"
#include "server/runtime/backend_impl.h"
#include "server/runtime/decode.h"
#include "server/runtime/prefill.h"
#include "server/runtime/router.h"

typedef struct item {
  uint8_t *buf; /* NULL: a state change (ready / failed) */
  size_t len;
  int ready;
  char why[200];
  struct item *next;
} item;

typedef struct {
  item *head, *tail;
} queue;

typedef struct {
  duet_backend *b;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t wake;
  queue in, out;
  int stop, exited;
  uv_async_t async;
  /* worker thread only */
  duet_model *model;
  duet_local_hub *hub;
  duet_router *router;
  duet_prefill_role *prefill;
  duet_decode_role *decode;
} local;

static void push(queue *q, item *it) {
  it->next = NULL;
  if (q->tail) q->tail->next = it;
  else q->head = it;
  q->tail = it;
}

static item *take_all(queue *q) {
  item *h = q->head;
  q->head = q->tail = NULL;
  return h;
}

static void post_out(local *l, item *it) {
  pthread_mutex_lock(&l->mu);
  push(&l->out, it);
  pthread_mutex_unlock(&l->mu);
  uv_async_send(&l->async);
}

static void to_client(uint8_t *buf, size_t len, void *ctx) {
  item *it = calloc(1, sizeof *it);
  if (!it) {
    free(buf);
    return;
  }
  it->buf = buf;
  it->len = len;
  post_out(ctx, it);
}

static void post_state(local *l, int ready, const char *why) {
  item *it = calloc(1, sizeof *it);
  if (!it) return;
  it->ready = ready;
  snprintf(it->why, sizeof it->why, "%s", why);
  post_out(l, it);
}

static int build(local *l) {
  const duet_backend_opts *o = &l->b->o;
  duet_load_opts lo = {o->to_f32, 0, 1};
  int rc = duet_model_load(o->model_dir, &lo, &l->model);
  if (rc) return rc;
  duet_topo topo = {1, 1, 1};
  if ((rc = duet_local_hub_new(3, &l->hub))) return rc;
  duet_router_opts ro = {topo, l->model->cfg.vocab, l->model->cfg.max_pos, 16,
                         duet_local_hub_net(l->hub, 0), to_client, l};
  duet_prefill_opts po = {l->model, topo, 0, 0, 0, DUET_KV_BLOCK_TOKENS, 0, {0}, duet_local_hub_net(l->hub, 1)};
  duet_decode_opts dopt = {l->model, topo, 0, 0, o->kv_blocks, DUET_KV_BLOCK_TOKENS, 0, {0}, duet_local_hub_net(l->hub, 2)};
  if ((rc = duet_router_new(&ro, &l->router)) || (rc = duet_prefill_role_new(&po, &l->prefill)) ||
      (rc = duet_decode_role_new(&dopt, &l->decode)))
    return rc;
  duet_role r0 = duet_router_iface(l->router), r1 = duet_prefill_role_iface(l->prefill),
            r2 = duet_decode_role_iface(l->decode);
  duet_local_hub_attach(l->hub, 0, &r0);
  duet_local_hub_attach(l->hub, 1, &r1);
  duet_local_hub_attach(l->hub, 2, &r2);
  return DUET_OK;
}

static void teardown(local *l) {
  duet_router_free(l->router);
  duet_prefill_role_free(l->prefill);
  duet_decode_role_free(l->decode);
  duet_local_hub_free(l->hub);
  if (l->model) duet_model_free(l->model);
}

/* One round: hand new client messages to the router, then let every role
 * work. Returns how much happened. */
static int round_once(local *l, item *in) {
  int n = 0;
  for (item *it = in, *next; it; it = next, n++) {
    next = it->next;
    duet_msg_header h;
    if (duet_msg_header_decode(it->buf, it->len, &h) == 0) duet_router_client_msg(l->router, &h, it->buf, it->len);
    free(it->buf);
    free(it);
  }
  duet_role r0 = duet_router_iface(l->router), r1 = duet_prefill_role_iface(l->prefill),
            r2 = duet_decode_role_iface(l->decode);
  n += duet_local_hub_deliver(l->hub);
  n += r1.step(r1.self);
  n += duet_local_hub_deliver(l->hub);
  n += r2.step(r2.self);
  n += duet_local_hub_deliver(l->hub);
  n += r0.step(r0.self);
  return n;
}

static void *worker(void *arg) {
  local *l = arg;
  int rc = build(l);
  if (rc) {
    char why[200];
    snprintf(why, sizeof why, "in-process workers failed to start: %s", duet_last_error());
    post_state(l, 0, why);
  } else {
    post_state(l, 1, "in-process workers ready");
  }
  for (;;) {
    pthread_mutex_lock(&l->mu);
    item *in = take_all(&l->in);
    int stop = l->stop;
    pthread_mutex_unlock(&l->mu);
    if (stop) {
      for (item *it = in, *next; it; it = next) {
        next = it->next;
        free(it->buf);
        free(it);
      }
      break;
    }
    if (rc) { /* nothing to serve: wait for the stop */
      for (item *it = in, *next; it; it = next) {
        next = it->next;
        free(it->buf);
        free(it);
      }
      pthread_mutex_lock(&l->mu);
      if (!l->stop && !l->in.head) pthread_cond_wait(&l->wake, &l->mu);
      pthread_mutex_unlock(&l->mu);
      continue;
    }
    if (round_once(l, in) > 0) continue;
    /* Idle: sleep until a message arrives (or 50 ms, for the stats). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&l->mu);
    if (!l->stop && !l->in.head) pthread_cond_timedwait(&l->wake, &l->mu, &ts);
    pthread_mutex_unlock(&l->mu);
  }
  teardown(l);
  pthread_mutex_lock(&l->mu);
  l->exited = 1;
  pthread_mutex_unlock(&l->mu);
  uv_async_send(&l->async);
  return NULL;
}

static void on_async_closed(uv_handle_t *h) {
  local *l = h->data;
  duet_backend *b = l->b;
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->wake);
  free(l);
  duet_backend_closed(b);
}

static void on_async(uv_async_t *a) {
  local *l = a->data;
  pthread_mutex_lock(&l->mu);
  item *out = take_all(&l->out);
  int exited = l->exited;
  pthread_mutex_unlock(&l->mu);
  for (item *it = out, *next; it; it = next) {
    next = it->next;
    if (it->buf) duet_backend_deliver(l->b, it->buf, it->len);
    else if (!l->b->closing) duet_backend_set_ready(l->b, it->ready, it->why);
    free(it->buf);
    free(it);
  }
  if (exited) {
    pthread_join(l->thread, NULL);
    uv_close((uv_handle_t *)&l->async, on_async_closed);
  }
}

static void free_on_close(uv_handle_t *h) { free(h->data); }

int duet_local_start(duet_backend *b) {
  /* A checkpoint the worker thread would refuse is refused here, so duetd
   * exits with the loader's message instead of serving 503 for good. */
  duet_load_opts lo = {b->o.to_f32, 0, 1};
  int rc = duet_model_check(b->o.model_dir, &lo);
  if (rc < 0) return rc;
  local *l = calloc(1, sizeof *l);
  if (!l) return duet_error(DUET_ENOMEM, "in-process backend: out of memory");
  l->b = b;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->wake, NULL);
  uv_async_init(b->loop, &l->async, on_async);
  l->async.data = l;
  b->impl = l;
  if (pthread_create(&l->thread, NULL, worker, l)) {
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->wake);
    uv_close((uv_handle_t *)&l->async, free_on_close); /* frees l */
    b->impl = NULL;
    return duet_error(DUET_EIO, "in-process backend: cannot start the worker thread");
  }
  return DUET_OK;
}

int duet_local_send(duet_backend *b, uint8_t *buf, size_t len) {
  local *l = b->impl;
  item *it = calloc(1, sizeof *it);
  if (!it) {
    free(buf);
    return duet_error(DUET_ENOMEM, "in-process backend: out of memory");
  }
  it->buf = buf;
  it->len = len;
  pthread_mutex_lock(&l->mu);
  push(&l->in, it);
  pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->mu);
  return DUET_OK;
}

void duet_local_close(duet_backend *b) {
  local *l = b->impl;
  pthread_mutex_lock(&l->mu);
  l->stop = 1;
  pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->mu);
}
