/* Stop strings over streamed text (server/frontend/stop.c): a stop string
 * is never emitted, text that could still become one is held back, and
 * nothing else is. */
#include "server/frontend/stop.c"
#include "tests/unit/unit_check.h"

static size_t maxlen(const char *const *s, int n) {
  size_t m = 0;
  for (int i = 0; i < n; i++) m = strlen(s[i]) > m ? strlen(s[i]) : m;
  return m;
}

/* Feeds text piece by piece as a stream would and returns what a client
 * sees (emitted text), like generate.c's advance(). */
static void stream(const char *const *stops, int n, const char *const *pieces, int np, char *out, long *match) {
  char text[256] = {0};
  size_t len = 0, emitted = 0;
  out[0] = 0;
  *match = -1;
  for (int i = 0; i < np; i++) {
    strcpy(text + len, pieces[i]);
    len += strlen(pieces[i]);
    duet_stop_result r = duet_stop_scan(stops, n, maxlen(stops, n), text, len, emitted);
    strncat(out, text + emitted, r.safe - emitted);
    emitted = r.safe;
    if (r.match >= 0) {
      *match = r.match;
      return;
    }
  }
  strcat(out, text + emitted); /* end of stream: flush what was held */
}

int main(void) {
  char out[256];
  long m;
  const char *s1[] = {"###"};
  const char *p1[] = {"ab", "c#", "#", "#tail"};
  stream(s1, 1, p1, 4, out, &m);
  CHECK(m == 3 && !strcmp(out, "abc"), "split stop: match %ld out '%s'", m, out);

  const char *p2[] = {"a#", "#b", "c"};
  stream(s1, 1, p2, 3, out, &m);
  CHECK(m < 0 && !strcmp(out, "a##bc"), "near miss is emitted: '%s'", out);

  const char *s3[] = {"\xc3\xa9t\xc3\xa9", "zz"}; /* "été" */
  const char *p3[] = {"caf", "\xc3\xa9", "s \xc3\xa9t", "\xc3\xa9!"};
  stream(s3, 2, p3, 4, out, &m);
  CHECK(m == 7 && !strcmp(out, "caf\xc3\xa9s "), "multi-byte stop: '%s'", out);

  const char *s4[] = {"b", "abc"};
  const char *p4[] = {"xa", "b"};
  stream(s4, 2, p4, 2, out, &m);
  CHECK(m == 2 && !strcmp(out, "xa"), "earliest of several stops: %ld '%s'", m, out);

  /* the held-back tail never exceeds the longest stop minus one */
  const char *s5[] = {"hello"};
  duet_stop_result r = duet_stop_scan(s5, 1, 5, "xxhell", 6, 0);
  CHECK(r.match < 0 && r.safe == 2, "hold 'hell': safe %zu", r.safe);
  r = duet_stop_scan(s5, 1, 5, "xxhelp", 6, 0);
  CHECK(r.match < 0 && r.safe == 6, "no hold for 'help': safe %zu", r.safe);
  r = duet_stop_scan(NULL, 0, 0, "abc", 3, 1);
  CHECK(r.match < 0 && r.safe == 3, "no stops: all safe");
  return finish();
}
