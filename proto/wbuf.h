#ifndef DUET_PROTO_WBUF_H
#define DUET_PROTO_WBUF_H

/* Little-endian writer and bounds-checked reader for message payloads. The
 * reader never reads past its end: a short read sets `bad` and yields 0, so
 * a decoder checks `bad` once at the end instead of after every field. */

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint8_t *p;
  size_t len, cap;
  int oom;
} duet_wbuf;

/* Starts with room for a message header; the header is filled in by
 * duet_wbuf_finish. */
void duet_wbuf_init(duet_wbuf *w, size_t hint);
void duet_wbuf_u16(duet_wbuf *w, uint16_t v);
void duet_wbuf_u32(duet_wbuf *w, uint32_t v);
void duet_wbuf_u64(duet_wbuf *w, uint64_t v);
void duet_wbuf_i32(duet_wbuf *w, int32_t v);
void duet_wbuf_f32(duet_wbuf *w, float v);
void duet_wbuf_f64(duet_wbuf *w, double v);
void duet_wbuf_bytes(duet_wbuf *w, const void *src, size_t n);
/* Write the header (kind, id, payload length) and hand the buffer over:
 * *out is malloc'd (caller frees). DUET_ENOMEM or DUET_ERANGE (payload
 * over DUET_MSG_MAX_PAYLOAD) free the buffer. */
int duet_wbuf_finish(duet_wbuf *w, int kind, uint64_t id, uint8_t **out, size_t *out_len);

typedef struct {
  const uint8_t *p;
  size_t len, off;
  int bad;
} duet_rbuf;

void duet_rbuf_init(duet_rbuf *r, const void *p, size_t len);
uint16_t duet_rbuf_u16(duet_rbuf *r);
uint32_t duet_rbuf_u32(duet_rbuf *r);
uint64_t duet_rbuf_u64(duet_rbuf *r);
int32_t duet_rbuf_i32(duet_rbuf *r);
float duet_rbuf_f32(duet_rbuf *r);
double duet_rbuf_f64(duet_rbuf *r);
/* Pointer to the next n bytes inside the buffer (NULL and bad when short). */
const uint8_t *duet_rbuf_take(duet_rbuf *r, size_t n);
size_t duet_rbuf_left(const duet_rbuf *r);

#endif
