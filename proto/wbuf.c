#include "proto/wbuf.h"

#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "proto/message.h"

void duet_wbuf_init(duet_wbuf *w, size_t hint) {
  w->cap = DUET_MSG_HEADER_SIZE + hint + 16;
  w->p = malloc(w->cap);
  w->len = DUET_MSG_HEADER_SIZE;
  w->oom = w->p == NULL;
}

static void put(duet_wbuf *w, const void *src, size_t n) {
  if (w->oom) return;
  if (w->len + n > w->cap) {
    size_t cap = w->cap * 2 > w->len + n ? w->cap * 2 : w->len + n;
    uint8_t *p = realloc(w->p, cap);
    if (!p) {
      w->oom = 1;
      return;
    }
    w->p = p;
    w->cap = cap;
  }
  memcpy(w->p + w->len, src, n);
  w->len += n;
}

/* The wire is little-endian; so are the hosts duet targets (x86-64,
 * aarch64), which the static check below makes explicit. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "duet's wire format assumes a little-endian host");

void duet_wbuf_u16(duet_wbuf *w, uint16_t v) { put(w, &v, 2); }
void duet_wbuf_u32(duet_wbuf *w, uint32_t v) { put(w, &v, 4); }
void duet_wbuf_u64(duet_wbuf *w, uint64_t v) { put(w, &v, 8); }
void duet_wbuf_i32(duet_wbuf *w, int32_t v) { put(w, &v, 4); }
void duet_wbuf_f32(duet_wbuf *w, float v) { put(w, &v, 4); }
void duet_wbuf_f64(duet_wbuf *w, double v) { put(w, &v, 8); }
void duet_wbuf_bytes(duet_wbuf *w, const void *src, size_t n) {
  if (n) put(w, src, n);
}

int duet_wbuf_finish(duet_wbuf *w, int kind, uint64_t id, uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (w->oom) {
    free(w->p);
    return duet_error(DUET_ENOMEM, "out of memory encoding a message of kind %d", kind);
  }
  size_t payload = w->len - DUET_MSG_HEADER_SIZE;
  if (payload > DUET_MSG_MAX_PAYLOAD) {
    free(w->p);
    return duet_error(DUET_ERANGE, "message of kind %d: payload of %zu bytes exceeds the limit of %u", kind,
                      payload, DUET_MSG_MAX_PAYLOAD);
  }
  duet_msg_header h = {DUET_PROTO_MAGIC, DUET_PROTO_VERSION, (uint16_t)kind, id, (uint32_t)payload};
  duet_msg_header_encode(&h, w->p);
  *out = w->p;
  *out_len = w->len;
  return DUET_OK;
}

void duet_rbuf_init(duet_rbuf *r, const void *p, size_t len) {
  r->p = p;
  r->len = p ? len : 0;
  r->off = 0;
  r->bad = 0;
}

const uint8_t *duet_rbuf_take(duet_rbuf *r, size_t n) {
  if (r->bad || n > r->len - r->off) {
    r->bad = 1;
    return NULL;
  }
  const uint8_t *q = r->p + r->off;
  r->off += n;
  return q;
}

static void get(duet_rbuf *r, void *dst, size_t n) {
  const uint8_t *q = duet_rbuf_take(r, n);
  if (q) memcpy(dst, q, n);
  else memset(dst, 0, n);
}

uint16_t duet_rbuf_u16(duet_rbuf *r) { uint16_t v; get(r, &v, 2); return v; }
uint32_t duet_rbuf_u32(duet_rbuf *r) { uint32_t v; get(r, &v, 4); return v; }
uint64_t duet_rbuf_u64(duet_rbuf *r) { uint64_t v; get(r, &v, 8); return v; }
int32_t duet_rbuf_i32(duet_rbuf *r) { int32_t v; get(r, &v, 4); return v; }
float duet_rbuf_f32(duet_rbuf *r) { float v; get(r, &v, 4); return v; }
double duet_rbuf_f64(duet_rbuf *r) { double v; get(r, &v, 8); return v; }
size_t duet_rbuf_left(const duet_rbuf *r) { return r->bad ? 0 : r->len - r->off; }
