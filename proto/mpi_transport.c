#include "proto/mpi_transport.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/error.h"
#include "proto/message.h"

typedef enum { OP_SEND, OP_KV_SEND, OP_KV_RECV } op_kind;

typedef struct {
  MPI_Request req;
  op_kind kind;
  uint8_t *owned;   /* freed on completion (control sends, headers, scratch) */
  void *ctx;        /* OP_KV_SEND */
  int src;          /* OP_KV_RECV */
  duet_kv_wire hdr; /* OP_KV_RECV */
} op;

typedef struct {
  int src;
  duet_kv_wire hdr;
  int data_tag;
} deferred;

struct duet_mpi_transport {
  MPI_Comm comm;
  duet_mpi_callbacks cb;
  size_t max_kv;
  int tag_span;        /* data tags cycle through [KV_DATA0, KV_DATA0+span) */
  int *next_tag;       /* per destination */
  op *ops;
  MPI_Request *reqs; /* reqs[i] is ops[i]'s, contiguous for MPI_Testsome */
  int *done_idx;
  op *done_ops;
  int n_ops, cap_ops;
  deferred *defer;
  int n_defer, cap_defer;
  uint64_t bytes_in;
};

/* KV header message: the 40-byte wire header of the run's first block,
 * then the first data tag and the number of blocks (consecutive block
 * indices, consecutive tags, one data message each). */
#define TEST_WINDOW 64
#define HDR_MSG_SIZE (DUET_KV_WIRE_SIZE + 8)

int duet_mpi_transport_new(MPI_Comm comm, const duet_mpi_callbacks *cb, size_t max_kv_bytes,
                           duet_mpi_transport **out) {
  *out = NULL;
  duet_mpi_transport *t = calloc(1, sizeof *t);
  int size;
  MPI_Comm_size(comm, &size);
  if (!t || !(t->next_tag = calloc((size_t)size, sizeof(int)))) {
    free(t);
    return duet_error(DUET_ENOMEM, "mpi transport: out of memory");
  }
  t->comm = comm;
  t->cb = *cb;
  t->max_kv = max_kv_bytes;
  int *ub, flag = 0;
  MPI_Comm_get_attr(comm, MPI_TAG_UB, &ub, &flag);
  long span = (flag ? *ub : 32767) - DUET_TAG_KV_DATA0;
  t->tag_span = span > (1 << 24) ? (1 << 24) : (int)span;
  *out = t;
  return DUET_OK;
}

static int push_op(duet_mpi_transport *t, const op *o) {
  if (t->n_ops == t->cap_ops) {
    int cap = t->cap_ops ? 2 * t->cap_ops : 64;
    op *p = realloc(t->ops, (size_t)cap * sizeof *p);
    if (p) t->ops = p;
    MPI_Request *r = p ? realloc(t->reqs, (size_t)cap * sizeof *r) : NULL;
    if (r) t->reqs = r;
    int *d = r ? realloc(t->done_idx, (size_t)cap * sizeof *d) : NULL;
    if (d) t->done_idx = d;
    op *q = d ? realloc(t->done_ops, (size_t)cap * sizeof *q) : NULL;
    if (q) t->done_ops = q;
    if (!q) return duet_error(DUET_ENOMEM, "mpi transport: out of memory for requests");
    t->cap_ops = cap;
  }
  t->reqs[t->n_ops] = o->req;
  t->ops[t->n_ops++] = *o;
  return DUET_OK;
}

static int isend(duet_mpi_transport *t, int dest, int tag, const void *buf, size_t len, op *o) {
  if (len > (size_t)INT32_MAX) return duet_error(DUET_ERANGE, "mpi send of %zu bytes too large", len);
  int rc = MPI_Isend(buf, (int)len, MPI_BYTE, dest, tag, t->comm, &o->req);
  if (rc != MPI_SUCCESS) return duet_error(DUET_EIO, "MPI_Isend to rank %d failed (%d)", dest, rc);
  return push_op(t, o);
}

int duet_mpi_send(duet_mpi_transport *t, int dest, uint8_t *buf, size_t len) {
  op o = {.kind = OP_SEND, .owned = buf};
  int rc = isend(t, dest, DUET_TAG_CTL, buf, len, &o);
  if (rc) free(buf);
  return rc;
}

int duet_mpi_send_kv_run(duet_mpi_transport *t, int dest, const duet_kv_wire *h, int n_blocks,
                         const void *const *data, void *ctx) {
  int end = (h->flags & DUET_KV_END) != 0;
  if (end) n_blocks = 0;
  else if (n_blocks < 1) return duet_error(DUET_EINVAL, "KV run of %d blocks", n_blocks);
  uint8_t *hb = malloc(HDR_MSG_SIZE);
  if (!hb) return duet_error(DUET_ENOMEM, "mpi transport: out of memory for a KV header");
  if (t->next_tag[dest] + n_blocks > t->tag_span) t->next_tag[dest] = 0;
  int tag = DUET_TAG_KV_DATA0 + t->next_tag[dest];
  t->next_tag[dest] += n_blocks;
  duet_kv_wire_encode(h, hb);
  memcpy(hb + DUET_KV_WIRE_SIZE, &tag, 4);
  memcpy(hb + DUET_KV_WIRE_SIZE + 4, &n_blocks, 4);
  op o = {.kind = OP_SEND, .owned = hb};
  int rc = isend(t, dest, DUET_TAG_KV_HDR, hb, HDR_MSG_SIZE, &o);
  if (rc) {
    free(hb);
    return rc;
  }
  for (int k = 0; k < n_blocks && !rc; k++) {
    op d = {.kind = OP_KV_SEND, .ctx = ctx};
    rc = isend(t, dest, tag + k, data[k], h->data_bytes, &d);
  }
  return rc;
}

int duet_mpi_send_kv(duet_mpi_transport *t, int dest, const duet_kv_wire *h, const void *data, void *ctx) {
  return duet_mpi_send_kv_run(t, dest, h, 1, &data, ctx);
}

/* Post the receive of a header's data: into the owner's memory, or into
 * scratch when it is dropped. Returns 0 when it must wait (DEFER). */
static int post_data(duet_mpi_transport *t, int src, const duet_kv_wire *h, int tag) {
  void *dst = t->cb.kv_target(src, h, t->cb.user);
  if (dst == DUET_KV_DEFER) return 0;
  if (h->flags & DUET_KV_END) { /* after every block before it, deferred or not */
    t->cb.kv_received(src, h, 0, t->cb.user);
    return 1;
  }
  op o = {.kind = OP_KV_RECV, .src = src, .hdr = *h};
  if (!dst) dst = o.owned = malloc(h->data_bytes);
  if (!dst || MPI_Irecv(dst, (int)h->data_bytes, MPI_BYTE, src, tag, t->comm, &o.req) != MPI_SUCCESS ||
      push_op(t, &o)) {
    /* Nothing sensible is left to do with this rank's stream: report the
     * block as dropped so the owner can fail the request. */
    free(o.owned);
    t->cb.kv_received(src, h, 1, t->cb.user);
  }
  return 1;
}

static void defer(duet_mpi_transport *t, int src, const duet_kv_wire *h, int tag) {
  if (t->n_defer == t->cap_defer) {
    int cap = t->cap_defer ? 2 * t->cap_defer : 16;
    deferred *p = realloc(t->defer, (size_t)cap * sizeof *p);
    if (!p) abort(); /* cannot lose a header: the data would be stranded */
    t->defer = p;
    t->cap_defer = cap;
  }
  t->defer[t->n_defer++] = (deferred){src, *h, tag};
}

/* A header names a run of blocks (or END): each block becomes one data
 * receive, posted at once, or deferred in order. */
static int recv_header(duet_mpi_transport *t, MPI_Message msg, int src, int count) {
  uint8_t hb[HDR_MSG_SIZE];
  if (count != HDR_MSG_SIZE) {
    uint8_t *junk = malloc(count > 0 ? (size_t)count : 1);
    MPI_Mrecv(junk, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
    free(junk);
    duet_error(DUET_EPROTO, "KV header of %d bytes from rank %d dropped", count, src);
    return 1;
  }
  MPI_Mrecv(hb, HDR_MSG_SIZE, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
  duet_kv_wire h;
  int tag, n_blocks;
  memcpy(&tag, hb + DUET_KV_WIRE_SIZE, 4);
  memcpy(&n_blocks, hb + DUET_KV_WIRE_SIZE + 4, 4);
  if (duet_kv_wire_decode(hb, DUET_KV_WIRE_SIZE, t->max_kv, &h)) return 1; /* message left in duet_last_error */
  int end = (h.flags & DUET_KV_END) != 0;
  if (end) n_blocks = 1; /* one event: the marker itself */
  if (n_blocks < 1 || n_blocks > 1 << 20) return 1;
  /* Behind a deferred header of the same request, wait too: blocks and
   * the END marker must reach the owner in the order they were sent. */
  int behind = 0;
  for (int i = 0; i < t->n_defer && !behind; i++)
    behind = t->defer[i].src == src && t->defer[i].hdr.request_id == h.request_id;
  for (int k = 0; k < n_blocks; k++) {
    duet_kv_wire hk = h;
    hk.block_index = h.block_index + (uint32_t)k;
    if (behind || !post_data(t, src, &hk, tag + k)) {
      defer(t, src, &hk, tag + k);
      behind = 1;
    }
  }
  return 1;
}

/* Pull every waiting message of one tag (probe, never block). */
static int drain_tag(duet_mpi_transport *t, int tag) {
  int events = 0;
  for (;;) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status st;
    MPI_Improbe(MPI_ANY_SOURCE, tag, t->comm, &flag, &msg, &st);
    if (!flag) return events;
    int count;
    MPI_Get_count(&st, MPI_BYTE, &count);
    events++;
    if (tag == DUET_TAG_KV_HDR) {
      recv_header(t, msg, st.MPI_SOURCE, count);
      continue;
    }
    uint8_t *buf = malloc(count > 0 ? (size_t)count : 1);
    if (!buf) abort();
    MPI_Mrecv(buf, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
    t->cb.on_msg(st.MPI_SOURCE, buf, (size_t)count, t->cb.user);
  }
}

static void complete(duet_mpi_transport *t, op *o) {
  switch (o->kind) {
  case OP_SEND: break;
  case OP_KV_SEND: t->cb.kv_sent(o->ctx, t->cb.user); break;
  case OP_KV_RECV:
    t->bytes_in += o->hdr.data_bytes;
    t->cb.kv_received(o->src, &o->hdr, o->owned != NULL, t->cb.user);
    break;
  }
  free(o->owned);
}

int duet_mpi_progress(duet_mpi_transport *t) {
  int events = 0;
  /* One MPI_Testsome over the oldest requests in flight: blocks complete
   * in the order they were sent, and testing all of them on every call
   * made a 1536-block transfer quadratic. Later ones are tested once they
   * move up. Completed ops are taken out (keeping the order) before their
   * callbacks run, since callbacks may send more. */
  int n_done = 0, window = t->n_ops < TEST_WINDOW ? t->n_ops : TEST_WINDOW;
  if (window) MPI_Testsome(window, t->reqs, &n_done, t->done_idx, MPI_STATUSES_IGNORE);
  if (n_done > 0 && n_done != MPI_UNDEFINED) {
    for (int k = 0; k < n_done; k++) t->done_ops[k] = t->ops[t->done_idx[k]];
    int w = 0;
    for (int i = 0; i < window; i++)
      if (t->reqs[i] != MPI_REQUEST_NULL) {
        t->ops[w] = t->ops[i];
        t->reqs[w++] = t->reqs[i];
      }
    memmove(&t->ops[w], &t->ops[window], (size_t)(t->n_ops - window) * sizeof *t->ops);
    memmove(&t->reqs[w], &t->reqs[window], (size_t)(t->n_ops - window) * sizeof *t->reqs);
    t->n_ops -= window - w;
    for (int k = 0; k < n_done; k++) complete(t, &t->done_ops[k]);
    events += n_done;
  }
  /* Control first: a cancel is seen before more KV is accepted. */
  events += drain_tag(t, DUET_TAG_CTL);
  for (int i = 0; i < t->n_defer;) { /* in arrival order */
    deferred d = t->defer[i];
    if (post_data(t, d.src, &d.hdr, d.data_tag)) {
      memmove(&t->defer[i], &t->defer[i + 1], (size_t)(t->n_defer - i - 1) * sizeof *t->defer);
      t->n_defer--;
      events++;
    } else {
      i++;
    }
  }
  events += drain_tag(t, DUET_TAG_KV_HDR);
  return events;
}

int duet_mpi_outstanding(const duet_mpi_transport *t) { return t->n_ops + t->n_defer; }
uint64_t duet_mpi_bytes_received(const duet_mpi_transport *t) { return t->bytes_in; }

void duet_mpi_transport_free(duet_mpi_transport *t) {
  if (!t) return;
  duet_backoff b = {0, 1000};
  for (int tries = 0; tries < 5000; tries++) { /* up to a few seconds for sends to drain */
    int pending_sends = 0;
    for (int i = 0; i < t->n_ops; i++) pending_sends += t->ops[i].kind != OP_KV_RECV;
    if (!pending_sends) break;
    duet_backoff_step(&b, duet_mpi_progress(t));
  }
  for (int i = 0; i < t->n_ops; i++) {
    if (t->ops[i].kind == OP_KV_RECV) MPI_Cancel(&t->reqs[i]);
    MPI_Request_free(&t->reqs[i]);
    free(t->ops[i].owned);
  }
  free(t->ops);
  free(t->reqs);
  free(t->done_idx);
  free(t->done_ops);
  free(t->defer);
  free(t->next_tag);
  free(t);
}

void duet_backoff_step(duet_backoff *b, int active) {
  if (active) {
    b->quiet = 0;
    return;
  }
  /* A few quiet rounds spin (cheap, keeps latency low under load), then
   * sleep with a doubling interval up to max_us; after 200 quiet rounds
   * (a good fraction of a second of nothing) five times that, so a large idle job costs
   * almost nothing while the first request after a pause waits at most a
   * few milliseconds more. */
  if (b->quiet < 1000000) b->quiet++;
  if (b->quiet < 8) return;
  long us = 20L << (b->quiet - 8 < 10 ? b->quiet - 8 : 10);
  if (us > b->max_us) us = b->max_us;
  if (b->quiet > 200) us = 5L * b->max_us;
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}
