#ifndef DUET_SSE_H
#define DUET_SSE_H

/* Incremental parser for server-sent events (text/event-stream) as OpenAI's
 * streaming API sends them. Line by line as the SSE spec defines it: a line
 * ends at "\r\n", "\n" or "\r"; an empty line ends an event; only `data`
 * fields matter here (several are joined with "\n"). Feed arbitrary chunks;
 * on_event gets each complete event's data. */

#include <stddef.h>

typedef struct {
  char *line;          /* the incomplete current line */
  size_t line_len, line_cap;
  char *data;          /* data of the current event */
  size_t data_len, data_cap;
  int have_data, after_cr;
  void (*on_event)(const char *data, size_t len, void *user);
  void *user;
} duet_sse_parser;

void duet_sse_init(duet_sse_parser *p, void (*on_event)(const char *, size_t, void *), void *user);
int duet_sse_feed(duet_sse_parser *p, const char *chunk, size_t len); /* DUET_ENOMEM on failure */
void duet_sse_free(duet_sse_parser *p);

#endif
