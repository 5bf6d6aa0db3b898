#include "clients/sse.h"

#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

void duet_sse_init(duet_sse_parser *p, void (*on_event)(const char *, size_t, void *), void *user) {
  memset(p, 0, sizeof *p);
  p->on_event = on_event;
  p->user = user;
}

void duet_sse_free(duet_sse_parser *p) {
  free(p->buf);
  p->buf = NULL;
  p->len = p->cap = 0;
}

/* One event (without its terminating blank line): join its data lines. */
static void dispatch(duet_sse_parser *p, char *ev, size_t len) {
  char *out = ev; /* data is never longer than the event: join in place */
  size_t out_len = 0;
  int have = 0;
  for (size_t i = 0; i < len;) {
    char *line = ev + i;
    char *nl = memchr(line, '\n', len - i);
    size_t ll = nl ? (size_t)(nl - line) : len - i;
    i += ll + 1;
    if (ll && line[ll - 1] == '\r') ll--;
    if (ll < 5 || memcmp(line, "data:", 5) != 0) continue;
    size_t skip = (ll > 5 && line[5] == ' ') ? 6 : 5;
    if (have) out[out_len++] = '\n';
    memmove(out + out_len, line + skip, ll - skip);
    out_len += ll - skip;
    have = 1;
  }
  if (have && p->on_event) p->on_event(out, out_len, p->user);
}

int duet_sse_feed(duet_sse_parser *p, const char *chunk, size_t len) {
  if (p->len + len + 1 > p->cap) {
    size_t cap = (p->len + len + 1) * 2;
    char *nb = realloc(p->buf, cap);
    if (!nb) return DUET_ENOMEM;
    p->buf = nb;
    p->cap = cap;
  }
  memcpy(p->buf + p->len, chunk, len);
  p->len += len;
  /* Events end at "\n\n" (or "\r\n\r\n"). */
  size_t start = 0;
  for (size_t i = start; i + 1 < p->len; i++) {
    size_t end = 0;
    if (p->buf[i] == '\n' && p->buf[i + 1] == '\n') end = i + 2;
    else if (i + 3 < p->len && memcmp(p->buf + i, "\r\n\r\n", 4) == 0) end = i + 4;
    if (!end) continue;
    dispatch(p, p->buf + start, i - start + 1);
    start = end;
    i = end - 1;
  }
  memmove(p->buf, p->buf + start, p->len - start);
  p->len -= start;
  return DUET_OK;
}
