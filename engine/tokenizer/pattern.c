#include "engine/tokenizer/pattern.h"

#include "engine/error.h"
#include "engine/tokenizer/utf8.h"

#include <stdlib.h>
#include <string.h>

int duet_pattern_load(json_t *p, const char *where, duet_pattern *out) {
  memset(out, 0, sizeof *out);
  json_t *lit = json_object_get(p, "String"), *re = json_object_get(p, "Regex");
  if (json_is_string(lit)) {
    if (json_string_length(lit) == 0)
      return duet_error(DUET_EUNSUPPORTED, "tokenizer.json: %s: empty String pattern", where);
    out->lit_len = json_string_length(lit);
    out->lit = malloc(out->lit_len + 1);
    if (!out->lit) return duet_error(DUET_ENOMEM, "tokenizer: out of memory");
    memcpy(out->lit, json_string_value(lit), out->lit_len + 1);
    return 0;
  }
  if (json_is_string(re)) return duet_regex_compile(json_string_value(re), where, &out->re);
  return duet_error(DUET_EFORMAT, "tokenizer.json: %s.pattern must be {\"String\": ...} or {\"Regex\": ...}",
                    where);
}

void duet_pattern_free(duet_pattern *p) {
  free(p->lit);
  duet_regex_free(p->re);
  memset(p, 0, sizeof *p);
}

int duet_pattern_find(const duet_pattern *p, duet_regex_scratch *s, const char *text, size_t len,
                      size_t start, size_t *ms, size_t *me) {
  if (p->lit) {
    if (start >= len) return 0;
    const char *f = memmem(text + start, len - start, p->lit, p->lit_len);
    if (!f) return 0;
    *ms = (size_t)(f - text);
    *me = *ms + p->lit_len;
    return 1;
  }
  return duet_regex_find(p->re, s, text, len, start, ms, me);
}

int duet_pattern_replace_all(const duet_pattern *p, duet_regex_scratch *s, const char *text,
                             size_t len, const char *content, size_t content_len, duet_tbuf *out) {
  size_t pos = 0, copied = 0, ms, me;
  for (;;) {
    int r = duet_pattern_find(p, s, text, len, pos, &ms, &me);
    if (r < 0) return r;
    if (r == 0) break;
    int rc = duet_tbuf_put(out, text + copied, ms - copied);
    rc = rc ? rc : duet_tbuf_put(out, content, content_len);
    if (rc) return rc;
    copied = me;
    pos = me;
    if (me == ms) { /* empty match: step over one character */
      if (me >= len) break;
      pos = me + (size_t)duet_utf8_len((unsigned char)text[me]);
    }
  }
  return duet_tbuf_put(out, text + copied, len - copied);
}
