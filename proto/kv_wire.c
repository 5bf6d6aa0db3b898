#include "proto/kv_wire.h"

#include <string.h>

#include "engine/error.h"
#include "engine/model.h"
#include "proto/message.h"
#include "proto/wbuf.h"

static void put_header(duet_wbuf *w, const duet_kv_wire *h) {
  duet_wbuf_u32(w, DUET_KV_WIRE_MAGIC);
  duet_wbuf_u32(w, h->flags);
  duet_wbuf_u64(w, h->request_id);
  duet_wbuf_u16(w, h->layer_first);
  duet_wbuf_u16(w, h->layer_count);
  duet_wbuf_u32(w, h->block_index);
  duet_wbuf_u32(w, h->n_tokens);
  duet_wbuf_u16(w, h->dtype);
  duet_wbuf_u16(w, h->shard);
  duet_wbuf_u64(w, h->data_bytes);
}

void duet_kv_wire_encode(const duet_kv_wire *h, uint8_t out[DUET_KV_WIRE_SIZE]) {
  /* Fixed size: write through a stack buffer, no allocation. */
  uint8_t tmp[DUET_MSG_HEADER_SIZE + DUET_KV_WIRE_SIZE + 16];
  duet_wbuf w = {tmp, DUET_MSG_HEADER_SIZE, sizeof tmp, 0};
  put_header(&w, h);
  memcpy(out, tmp + DUET_MSG_HEADER_SIZE, DUET_KV_WIRE_SIZE);
}

int duet_kv_wire_decode(const uint8_t *buf, size_t len, size_t max_data, duet_kv_wire *h) {
  memset(h, 0, sizeof *h);
  if (!buf || len < DUET_KV_WIRE_SIZE)
    return duet_error(DUET_EPROTO, "KV block header truncated: %zu of %d bytes", len, DUET_KV_WIRE_SIZE);
  duet_rbuf r;
  duet_rbuf_init(&r, buf, DUET_KV_WIRE_SIZE);
  uint32_t magic = duet_rbuf_u32(&r);
  h->flags = duet_rbuf_u32(&r);
  h->request_id = duet_rbuf_u64(&r);
  h->layer_first = duet_rbuf_u16(&r);
  h->layer_count = duet_rbuf_u16(&r);
  h->block_index = duet_rbuf_u32(&r);
  h->n_tokens = duet_rbuf_u32(&r);
  h->dtype = duet_rbuf_u16(&r);
  h->shard = duet_rbuf_u16(&r);
  h->data_bytes = duet_rbuf_u64(&r);
  if (magic != DUET_KV_WIRE_MAGIC) return duet_error(DUET_EPROTO, "bad KV block magic 0x%08x", magic);
  if (h->flags & ~DUET_KV_END) return duet_error(DUET_EPROTO, "KV block header: unknown flags 0x%x", h->flags);
  if (h->dtype > DUET_F16) return duet_error(DUET_EPROTO, "KV block header: unknown dtype %u", h->dtype);
  if (h->flags & DUET_KV_END) {
    if (h->data_bytes) return duet_error(DUET_EPROTO, "KV end marker carries %llu data bytes",
                                         (unsigned long long)h->data_bytes);
    return DUET_OK;
  }
  if (h->layer_count == 0) return duet_error(DUET_EPROTO, "KV block header: zero layers");
  if (h->data_bytes == 0 || h->data_bytes > max_data)
    return duet_error(DUET_EPROTO, "KV block of %llu bytes (limit %zu)", (unsigned long long)h->data_bytes, max_data);
  return DUET_OK;
}

int duet_kv_wire_pack(const duet_kv_wire *h, const void *data, uint8_t **out, size_t *out_len) {
  duet_wbuf w;
  duet_wbuf_init(&w, DUET_KV_WIRE_SIZE + h->data_bytes);
  put_header(&w, h);
  duet_wbuf_bytes(&w, data, h->data_bytes);
  return duet_wbuf_finish(&w, DUET_MSG_KV, h->request_id, out, out_len);
}

int duet_kv_wire_unpack(const uint8_t *payload, size_t len, duet_kv_wire *h, const uint8_t **data) {
  *data = NULL;
  size_t max = len >= DUET_KV_WIRE_SIZE ? len - DUET_KV_WIRE_SIZE : 0;
  int rc = duet_kv_wire_decode(payload, len, max, h);
  if (rc) return rc;
  if (DUET_KV_WIRE_SIZE + h->data_bytes != len)
    return duet_error(DUET_EPROTO, "KV message: %zu payload bytes, header says %llu of data", len,
                      (unsigned long long)h->data_bytes);
  *data = payload + DUET_KV_WIRE_SIZE;
  return DUET_OK;
}
