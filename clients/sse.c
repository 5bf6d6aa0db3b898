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
  free(p->line);
  free(p->data);
  p->line = p->data = NULL;
  p->line_len = p->line_cap = p->data_len = p->data_cap = 0;
}

static int append(char **buf, size_t *len, size_t *cap, const char *src, size_t n) {
  if (*len + n + 1 > *cap) {
    size_t nc = (*len + n + 1) * 2;
    char *nb = realloc(*buf, nc);
    if (!nb) return duet_error(DUET_ENOMEM, "SSE parser: out of memory for %zu bytes of an event", nc);
    *buf = nb;
    *cap = nc;
  }
  memcpy(*buf + *len, src, n);
  *len += n;
  return DUET_OK;
}

/* A complete line: empty dispatches the event, "data:..." adds to it,
 * anything else (comments, other fields) is ignored. */
static int end_line(duet_sse_parser *p) {
  const char *l = p->line;
  size_t n = p->line_len;
  p->line_len = 0;
  if (n == 0) {
    if (p->have_data && p->on_event) p->on_event(p->data, p->data_len, p->user);
    p->have_data = 0;
    p->data_len = 0;
    return DUET_OK;
  }
  if (n < 5 || memcmp(l, "data:", 5) != 0) return DUET_OK;
  size_t skip = (n > 5 && l[5] == ' ') ? 6 : 5;
  if (p->have_data && append(&p->data, &p->data_len, &p->data_cap, "\n", 1) < 0) return DUET_ENOMEM;
  p->have_data = 1;
  return append(&p->data, &p->data_len, &p->data_cap, l + skip, n - skip);
}

int duet_sse_feed(duet_sse_parser *p, const char *chunk, size_t len) {
  for (size_t i = 0; i < len; i++) {
    char c = chunk[i];
    if (c == '\n' && p->after_cr) { p->after_cr = 0; continue; } /* the \n of a \r\n */
    p->after_cr = c == '\r';
    if (c == '\r' || c == '\n') {
      if (end_line(p)) return DUET_ENOMEM; /* duet_error() said what */
      continue;
    }
    size_t run = 1; /* copy a run of ordinary bytes at once */
    while (i + run < len && chunk[i + run] != '\r' && chunk[i + run] != '\n') run++;
    if (append(&p->line, &p->line_len, &p->line_cap, chunk + i, run)) return DUET_ENOMEM;
    i += run - 1;
  }
  return DUET_OK;
}
