#ifndef DUET_PROTO_MESSAGE_H
#define DUET_PROTO_MESSAGE_H

/* Messages between the front end, the coordinator and the workers. One
 * encoder/decoder serves the socket (length-framed on a libuv stream) and
 * MPI. Every message is a fixed 24-byte little-endian header followed by a
 * payload of payload_len bytes:
 *   u32 magic  "DUET" (0x54455544)   u16 version   u16 kind
 *   u64 request_id                    u32 payload_len  u32 reserved (0)
 * A receiver rejects a wrong magic or version and never reads past the
 * payload; payloads over DUET_MSG_MAX_PAYLOAD are refused. */

#include <stddef.h>
#include <stdint.h>

#include "engine/sampler.h"

#define DUET_PROTO_MAGIC 0x54455544u
#define DUET_PROTO_VERSION 2 /* 2: min_tokens, logit_bias, prompt logprobs */
#define DUET_MSG_HEADER_SIZE 24
#define DUET_MSG_MAX_PAYLOAD (64u << 20)

typedef enum {
  DUET_MSG_REQUEST = 1,  /* front end -> workers: prompt ids + parameters */
  DUET_MSG_KV = 2,       /* prefill -> decode: KV blocks (see kv_wire.h) */
  DUET_MSG_TOKENS = 3,   /* workers -> front end: new token ids (+logprobs) */
  DUET_MSG_FINISH = 4,   /* workers -> front end: request done (reason, usage) */
  DUET_MSG_CANCEL = 5,   /* front end -> workers: stop this request, free it */
  DUET_MSG_STATS = 6,    /* workers -> front end: load and counters */
  DUET_MSG_SHUTDOWN = 7, /* front end -> workers: drain and exit */
} duet_msg_kind;

/* Kinds 32..63 are reserved for messages between the coordinator and the
 * workers inside the MPI job (server/runtime/wire_ops.h); the header codec
 * accepts them, the front end's socket refuses them. */
#define DUET_MSG_INTERNAL_FIRST 32
#define DUET_MSG_INTERNAL_LAST 63
int duet_msg_kind_valid(int kind);
int duet_msg_kind_internal(int kind);

typedef struct {
  uint32_t magic;
  uint16_t version;
  uint16_t kind;
  uint64_t request_id;
  uint32_t payload_len;
} duet_msg_header;

typedef enum {
  DUET_FINISH_STOP = 0,      /* EOS or a stop token id */
  DUET_FINISH_LENGTH = 1,    /* max_tokens or the context was reached */
  DUET_FINISH_CANCELLED = 2, /* cancel received */
  DUET_FINISH_ERROR = 3,     /* see message */
} duet_finish_reason;

#define DUET_MAX_STOP_IDS 16

typedef struct {
  duet_sampling_params sampling;
  int32_t max_tokens;
  int32_t ignore_eos;
  int32_t n_stop_ids;                  /* extra token ids that end generation */
  int32_t stop_ids[DUET_MAX_STOP_IDS];
  int32_t n_prompt;
  const int32_t *prompt;               /* decode: points into the payload */
  int32_t prompt_logprobs;             /* 1: also each prompt token's (top sampling.n_logprobs) */
} duet_request_msg;

typedef struct {
  int32_t n;                           /* tokens in this message (>= 1) */
  const int32_t *ids;
  const duet_token_logprobs *logprobs; /* n entries, or NULL */
  /* prefill's first message of a request that asked for prompt logprobs:
   * entry i is prompt token i+1's given the tokens before it */
  int32_t n_prompt_lp;
  const duet_token_logprobs *prompt_lp;
} duet_tokens_msg;

typedef struct {
  int32_t reason;                      /* duet_finish_reason */
  int32_t prompt_tokens, completion_tokens;
  char message[256];                   /* for DUET_FINISH_ERROR */
} duet_finish_msg;

/* Worker load and counters; the coordinator sums per group and forwards. */
#define DUET_MAX_GROUPS 16
typedef struct {
  int32_t n_prefill_groups, n_decode_groups;
  int32_t prefill_queued_tokens[DUET_MAX_GROUPS];
  int32_t prefill_active[DUET_MAX_GROUPS];
  int32_t decode_active[DUET_MAX_GROUPS];
  int32_t decode_waiting[DUET_MAX_GROUPS];
  int32_t kv_blocks_used[DUET_MAX_GROUPS], kv_blocks_free[DUET_MAX_GROUPS];
  uint64_t kv_bytes_moved;
  double kv_transfer_seconds;
  double prefill_step_seconds, decode_step_seconds; /* cumulative */
  uint64_t prefill_steps, decode_steps;
} duet_stats_msg;

/* Header: encode into 24 bytes; decode validates magic, version, kind and
 * payload_len <= max_payload (DUET_EPROTO with a message otherwise). */
void duet_msg_header_encode(const duet_msg_header *h, uint8_t out[DUET_MSG_HEADER_SIZE]);
int duet_msg_header_decode(const uint8_t *buf, size_t len, duet_msg_header *h);

/* Whole messages. encode_* malloc a buffer with header + payload; decode_*
 * parse a payload (without header) and validate every length. */
int duet_msg_encode_request(uint64_t id, const duet_request_msg *r, uint8_t **out, size_t *out_len);
int duet_msg_decode_request(const uint8_t *payload, size_t len, duet_request_msg *r);
int duet_msg_encode_tokens(uint64_t id, const duet_tokens_msg *t, uint8_t **out, size_t *out_len);
int duet_msg_decode_tokens(const uint8_t *payload, size_t len, duet_tokens_msg *t);
int duet_msg_encode_finish(uint64_t id, const duet_finish_msg *f, uint8_t **out, size_t *out_len);
int duet_msg_decode_finish(const uint8_t *payload, size_t len, duet_finish_msg *f);
int duet_msg_encode_stats(const duet_stats_msg *s, uint8_t **out, size_t *out_len);
int duet_msg_decode_stats(const uint8_t *payload, size_t len, duet_stats_msg *s);
/* CANCEL and SHUTDOWN have empty payloads. */
int duet_msg_encode_empty(duet_msg_kind kind, uint64_t id, uint8_t **out, size_t *out_len);

#endif
