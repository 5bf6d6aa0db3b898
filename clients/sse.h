#ifndef DUET_SSE_H
#define DUET_SSE_H

/* Incremental parser for server-sent events (text/event-stream) as OpenAI's
 * streaming API sends them: events separated by a blank line, each line
 * "field: value"; only `data` matters here (multi-line data is joined with
 * "\n"). Feed arbitrary chunks; on_event gets each complete event's data. */

#include <stddef.h>

typedef struct {
  char *buf;           /* bytes of the incomplete event */
  size_t len, cap;
  void (*on_event)(const char *data, size_t len, void *user);
  void *user;
} duet_sse_parser;

void duet_sse_init(duet_sse_parser *p, void (*on_event)(const char *, size_t, void *), void *user);
int duet_sse_feed(duet_sse_parser *p, const char *chunk, size_t len); /* DUET_ENOMEM on failure */
void duet_sse_free(duet_sse_parser *p);

#endif
