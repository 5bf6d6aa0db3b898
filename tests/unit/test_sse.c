/* The SSE parser the clients use: events split at any byte boundary,
 * multi-line data, CRLF, comments. */
#include <stdio.h>
#include <string.h>

#include "clients/sse.h"

static char got[16][256];
static int n_got;

static void on_event(const char *d, size_t len, void *user) {
  (void)user;
  if (n_got < 16) snprintf(got[n_got++], sizeof got[0], "%.*s", (int)len, d);
}

static int failed, passed;
#define CHECK(c)                                                              \
  do {                                                                        \
    if (c) passed++;                                                          \
    else { failed++; fprintf(stderr, "%s:%d: CHECK(%s)\n", __FILE__, __LINE__, #c); } \
  } while (0)

int main(void) {
  const char *stream = ": comment\n\ndata: {\"a\":1}\n\ndata: x\ndata: y\n\r\n"
                       "event: e\r\ndata:nospace\r\n\r\ndata: [DONE]\n\n";
  size_t len = strlen(stream);
  for (size_t step = 1; step <= len; step++) { /* every chunking */
    duet_sse_parser p;
    n_got = 0;
    duet_sse_init(&p, on_event, NULL);
    for (size_t i = 0; i < len; i += step)
      duet_sse_feed(&p, stream + i, i + step <= len ? step : len - i);
    int ok = n_got == 4 && !strcmp(got[0], "{\"a\":1}") && !strcmp(got[1], "x\ny") &&
             !strcmp(got[2], "nospace") && !strcmp(got[3], "[DONE]");
    if (!ok) fprintf(stderr, "step %zu: %d events\n", step, n_got);
    CHECK(ok);
    duet_sse_free(&p);
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
