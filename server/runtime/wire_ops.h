#ifndef DUET_RUNTIME_WIRE_OPS_H
#define DUET_RUNTIME_WIRE_OPS_H

/* Messages inside the worker job (kinds in proto's internal range). The
 * life of a request:
 *   front end --REQUEST--> coordinator --RESERVE--> decode leader (blocks
 *   for prompt + max_tokens; waits while the pool is full) --RESERVED-->
 *   coordinator --PREFILL--> prefill leader, which runs chunks (G_CHUNK to
 *   its TP followers), sends each layer's KV blocks rank i -> decode rank i
 *   and then END, sends the first token (TOKENS) to the coordinator and
 *   FIRST (token + last logits, so the decode sampler replays the same
 *   draw) to the decode leader. The decode leader joins the sequence to its
 *   batch once every rank of its group has all the KV (G_KVDONE), runs
 *   G_STEPs, and sends TOKENS and the one FINISH. The coordinator holds
 *   decode's TOKENS/FINISH of a request until prefill's first token has
 *   gone out (MPI orders messages per sender only).
 * CANCEL reaches the decode leader (and the prefill leader when the prompt
 * was dispatched); blocks are freed once no KV is in flight into them. */

#include <stddef.h>
#include <stdint.h>

#include "proto/message.h"

enum {
  DUET_OP_RESERVE = 32,   /* coord -> decode: i32 prefill_group + request payload */
  DUET_OP_RESERVED = 33,  /* decode -> coord: i32 decode_group */
  DUET_OP_PREFILL = 34,   /* coord -> prefill: i32 decode_group + request payload */
  DUET_OP_FIRST = 35,     /* prefill -> decode: i32 token, i32 vocab, f32 logits[vocab] */
  DUET_OP_CANCEL = 36,    /* coord -> workers: i32 prefill_dispatched */
  DUET_OP_STATS = 37,     /* group leader -> coord: duet_group_stats */
  DUET_OP_G_CHUNK = 40,   /* prefill leader -> followers: see duet_chunk_op */
  DUET_OP_G_END = 41,     /* prefill leader -> followers: i32 decode_group; no more chunks, send END */
  DUET_OP_G_RESERVE = 42, /* decode leader -> followers: i32 n_tokens, i32 n_prompt */
  DUET_OP_G_STEP = 43,    /* decode leader -> followers: i32 n, n x (u64 id, i32 token) */
  DUET_OP_G_FREE = 44,    /* decode leader -> followers: release the sequence */
  DUET_OP_G_KVDONE = 45,  /* decode follower -> leader: all KV of id landed */
};

/* A message with one leading int and an embedded request payload. */
int duet_op_encode_req(int kind, uint64_t id, int32_t arg, const duet_request_msg *r, uint8_t **out, size_t *len);
int duet_op_decode_req(const uint8_t *payload, size_t len, int32_t *arg, duet_request_msg *r);
/* A message whose payload is a few int32s. */
int duet_op_encode_ints(int kind, uint64_t id, const int32_t *v, int n, uint8_t **out, size_t *len);
int duet_op_decode_ints(const uint8_t *payload, size_t len, int32_t *v, int n);

int duet_op_encode_first(uint64_t id, int32_t token, const float *logits, int vocab, uint8_t **out, size_t *len);
int duet_op_decode_first(const uint8_t *payload, size_t len, int vocab, int32_t *token, const float **logits);

typedef struct {
  int32_t decode_group, pos, n, last, n_prompt;
  const int32_t *tokens; /* n, points into the payload */
} duet_chunk_op;
int duet_op_encode_chunk(uint64_t id, const duet_chunk_op *c, uint8_t **out, size_t *len);
int duet_op_decode_chunk(const uint8_t *payload, size_t len, duet_chunk_op *c);

int duet_op_encode_step(const uint64_t *ids, const int32_t *tokens, int n, uint8_t **out, size_t *len);
/* ids and tokens: arrays of at least max entries. */
int duet_op_decode_step(const uint8_t *payload, size_t len, int max, uint64_t *ids, int32_t *tokens, int *n);

typedef struct {
  int32_t role, group;      /* duet_role_kind */
  int32_t queued_tokens, active, waiting;
  int32_t blocks_used, blocks_free;
  uint64_t kv_bytes;        /* KV bytes received (decode) */
  double transfer_seconds;  /* decode: reserve-to-all-KV-landed time, summed */
  double step_seconds;
  uint64_t steps;
} duet_group_stats;
int duet_op_encode_stats(const duet_group_stats *s, uint8_t **out, size_t *len);
int duet_op_decode_stats(const uint8_t *payload, size_t len, duet_group_stats *s);



/* Monotonic seconds. */
double duet_now_s(void);
/* Throttle for group stats: report when something changed (at most every
 * 20 ms) and at least every 5 s; then send to the coordinator. */
typedef struct {
  double last;
  int dirty;
} duet_stats_clock;
int duet_stats_due(duet_stats_clock *c);
struct duet_net;
void duet_stats_send(struct duet_net *net, const duet_group_stats *s);
#endif
