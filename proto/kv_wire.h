#ifndef DUET_PROTO_KV_WIRE_H
#define DUET_PROTO_KV_WIRE_H

/* A KV block on the wire: a fixed 40-byte header, then the K and V data of
 * layers [layer_first, layer_first+layer_count) of one block, in the pool
 * layout (engine/kv_cache.h: per layer K (block_size, n_kv, hd) then V).
 *   u32 magic "KVB1"  u32 flags       u64 request_id
 *   u16 layer_first   u16 layer_count u32 block_index  (in the sequence)
 *   u32 n_tokens      u16 dtype       u16 shard        (TP rank)
 *   u64 data_bytes
 * Under MPI the header and the data travel as two messages (tags
 * DUET_TAG_KV_HDR then DUET_TAG_KV_DATA, same source, so MPI's ordering
 * pairs them) so the receiver can post the data receive straight into the
 * destination block. Over a byte stream they travel as one DUET_MSG_KV
 * message whose payload is header + data. A header with DUET_KV_END in
 * flags carries no data: the sender will send nothing more for that
 * request (sent after the last block, on completion, cancel or error). */

#include <stddef.h>
#include <stdint.h>

#define DUET_KV_WIRE_MAGIC 0x3142564bu /* "KVB1" */
#define DUET_KV_WIRE_SIZE 40
#define DUET_KV_END 1u

typedef struct {
  uint32_t flags;
  uint64_t request_id;
  uint16_t layer_first, layer_count;
  uint32_t block_index;
  uint32_t n_tokens;
  uint16_t dtype; /* duet_dtype of the data (DUET_F32 for the pool) */
  uint16_t shard;
  uint64_t data_bytes;
} duet_kv_wire;

void duet_kv_wire_encode(const duet_kv_wire *h, uint8_t out[DUET_KV_WIRE_SIZE]);
/* Validates magic, flags, dtype, data_bytes <= max_data (an END header
 * must have none); DUET_EPROTO with a message otherwise. */
int duet_kv_wire_decode(const uint8_t *buf, size_t len, size_t max_data, duet_kv_wire *h);

/* One DUET_MSG_KV message (message header + KV header + data), malloc'd. */
int duet_kv_wire_pack(const duet_kv_wire *h, const void *data, uint8_t **out, size_t *out_len);
/* Parse a DUET_MSG_KV payload; *data points into it (h->data_bytes long). */
int duet_kv_wire_unpack(const uint8_t *payload, size_t len, duet_kv_wire *h, const uint8_t **data);

#endif
