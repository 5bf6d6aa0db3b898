/* The SSE parser the clients use: events split at any byte boundary,
 * multi-line data, CRLF, comments. */
#include <stdio.h>
#include <string.h>

#include "clients/sse.h"
#include "unit_check.h"

static char got[16][256];
static int n_got;

static void on_event(const char *d, size_t len, void *user) {
  (void)user;
  if (n_got < 16) snprintf(got[n_got++], sizeof got[0], "%.*s", (int)len, d);
}

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
    CHECK(ok, "step %zu: %d events", step, n_got);
    duet_sse_free(&p);
  }
  return finish();
}
