/* The in-process transport: control messages queue (delivered in order on
 * the next duet_local_hub_deliver), KV blocks are copied straight from the
 * prefill pool into the decode pool the moment they are sent. */
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "proto/mpi_transport.h"
#include "server/runtime/net.h"

typedef struct qmsg {
  int src, dest;
  uint8_t *buf;
  size_t len;
  struct qmsg *next;
} qmsg;

typedef struct {
  duet_net net;
  duet_role role;
  int attached;
  struct duet_local_hub *hub;
} endpoint;

struct duet_local_hub {
  endpoint *ep;
  int n;
  qmsg *head, *tail;
};

static int local_send(duet_net *n, int dest, uint8_t *buf, size_t len) {
  endpoint *e = n->impl;
  duet_local_hub *h = e->hub;
  qmsg *m = malloc(sizeof *m);
  if (!m || dest < 0 || dest >= h->n) {
    free(m);
    free(buf);
    return duet_error(DUET_EINVAL, "local transport: no endpoint %d", dest);
  }
  *m = (qmsg){n->self, dest, buf, len, NULL};
  if (h->tail) h->tail->next = m;
  else h->head = m;
  h->tail = m;
  return DUET_OK;
}

static int local_send_kv(duet_net *n, int dest, const duet_kv_wire *hdr, int n_blocks, const void *const *data,
                         void *ctx) {
  endpoint *e = n->impl;
  duet_local_hub *h = e->hub;
  if (dest < 0 || dest >= h->n || !h->ep[dest].attached)
    return duet_error(DUET_EINVAL, "local transport: no endpoint %d", dest);
  duet_role *r = &h->ep[dest].role;
  if (hdr->flags & DUET_KV_END) {
    r->kv_received(r->self, n->self, hdr, 0);
    return DUET_OK;
  }
  for (int k = 0; k < n_blocks; k++) {
    duet_kv_wire hk = *hdr;
    hk.block_index = hdr->block_index + (uint32_t)k;
    void *dst = r->kv_target(r->self, n->self, &hk);
    /* One thread: the decode side always knows the request before prefill
     * sends (RESERVED comes first), so DEFER cannot happen; treat as drop. */
    int dropped = dst == NULL || dst == DUET_KV_DEFER;
    if (!dropped) memcpy(dst, data[k], hk.data_bytes);
    r->kv_received(r->self, n->self, &hk, dropped);
    e->role.kv_sent(e->role.self, ctx);
  }
  return DUET_OK;
}

static int local_pump(duet_net *n) {
  /* Everything is synchronous except the control queue, which the owner
   * delivers between steps; nothing to move here. */
  (void)n;
  return 0;
}

int duet_local_hub_new(int n_endpoints, duet_local_hub **out) {
  duet_local_hub *h = calloc(1, sizeof *h);
  if (!h || !(h->ep = calloc((size_t)n_endpoints, sizeof *h->ep))) {
    free(h);
    return duet_error(DUET_ENOMEM, "local transport: out of memory");
  }
  h->n = n_endpoints;
  for (int i = 0; i < n_endpoints; i++) {
    h->ep[i].hub = h;
    h->ep[i].net = (duet_net){local_send, local_send_kv, local_pump, i, &h->ep[i]};
  }
  *out = h;
  return DUET_OK;
}

void duet_local_hub_free(duet_local_hub *h) {
  if (!h) return;
  while (h->head) {
    qmsg *m = h->head;
    h->head = m->next;
    free(m->buf);
    free(m);
  }
  free(h->ep);
  free(h);
}

duet_net *duet_local_hub_net(duet_local_hub *h, int endpoint) { return &h->ep[endpoint].net; }

void duet_local_hub_attach(duet_local_hub *h, int endpoint, const duet_role *role) {
  h->ep[endpoint].role = *role;
  h->ep[endpoint].attached = 1;
}

int duet_local_hub_deliver(duet_local_hub *h) {
  int n = 0;
  while (h->head) {
    qmsg *m = h->head;
    h->head = m->next;
    if (!h->head) h->tail = NULL;
    endpoint *e = &h->ep[m->dest];
    if (e->attached) e->role.on_msg(e->role.self, m->src, m->buf, m->len);
    else free(m->buf);
    free(m);
    n++;
  }
  return n;
}
