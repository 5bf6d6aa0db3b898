#ifndef DUET_RUNTIME_ROUTER_H
#define DUET_RUNTIME_ROUTER_H

/* The coordinator's router: validates requests from the front end, picks
 * a decode group (most free KV blocks, from the decode leaders' stats,
 * minus blocks already promised to requests on their way) and a prefill
 * group (fewest queued prompt tokens), moves each request through
 * RESERVE -> RESERVED -> PREFILL (wire_ops.h), forwards tokens and
 * finishes to the front end, routes cancels to whichever stages hold the
 * request, and sums the groups' stats into DUET_MSG_STATS. */

#include <stddef.h>
#include <stdint.h>

#include "proto/message.h"
#include "server/runtime/net.h"
#include "server/runtime/topo.h"

typedef struct {
  duet_topo topo;
  int vocab, max_pos, block_size;
  duet_net *net;
  /* A whole message for the front end; takes ownership of buf. */
  void (*to_client)(uint8_t *buf, size_t len, void *ctx);
  void *ctx;
} duet_router_opts;

typedef struct duet_router duet_router;
int duet_router_new(const duet_router_opts *o, duet_router **out);
void duet_router_free(duet_router *r);
/* A whole message from the front end (header included, already validated
 * by duet_msg_header_decode); msg stays the caller's. */
void duet_router_client_msg(duet_router *r, const duet_msg_header *h, const uint8_t *msg, size_t len);
/* The front end went away: cancel everything it had in flight. */
void duet_router_cancel_all(duet_router *r);
int duet_router_in_flight(const duet_router *r);
duet_role duet_router_iface(duet_router *r);

#endif
