#include "engine/tokenizer/decoders_impl.h"

#include "engine/error.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/json_util.h"
#include "engine/tokenizer/pattern.h"
#include "engine/tokenizer/utf8.h"

#include <stdlib.h>
#include <string.h>


static int set_str(duet_decoder_step *st, const char *s) {
  st->str_len = strlen(s);
  st->str = strdup(s);
  return st->str ? 0 : duet_error(DUET_ENOMEM, "tokenizer: out of memory");
}

static int load_step(json_t *j, void *vst) {
  duet_decoder_step *st = vst;
  const char *type, *s;
  int rc = duet_json_type(j, "decoder", &type);
  if (rc) return rc;
  if (strcmp(type, "ByteLevel") == 0) st->kind = D_BYTE_LEVEL;
  else if (strcmp(type, "ByteFallback") == 0) st->kind = D_BYTE_FALLBACK;
  else if (strcmp(type, "Fuse") == 0) st->kind = D_FUSE;
  else if (strcmp(type, "Replace") == 0) {
    st->kind = D_REPLACE;
    rc = duet_json_str(j, "content", "decoder Replace", "", &s);
    rc = rc ? rc : set_str(st, s);
    return rc ? rc : duet_pattern_load(json_object_get(j, "pattern"), "decoder Replace", &st->pat);
  } else if (strcmp(type, "Strip") == 0) {
    st->kind = D_STRIP;
    rc = duet_json_str(j, "content", "decoder Strip", "", &s);
    rc = rc ? rc : duet_json_uint(j, "start", "decoder Strip", 0, &st->start);
    rc = rc ? rc : duet_json_uint(j, "stop", "decoder Strip", 0, &st->stop);
    return rc ? rc : set_str(st, s);
  } else if (strcmp(type, "Metaspace") == 0) {
    st->kind = D_METASPACE;
    rc = duet_json_str(j, "replacement", "decoder Metaspace", "\xE2\x96\x81", &s);
    return rc ? rc : set_str(st, s);
  } else {
    return duet_error(DUET_EUNSUPPORTED, "tokenizer.json: decoder \"%s\" is not supported", type);
  }
  return 0;
}


int duet_decoder_load(json_t *j, duet_decoder **out) {
  *out = NULL;
  if (!j || json_is_null(j)) return 0;
  duet_decoder *d = calloc(1, sizeof *d);
  if (!d) return duet_error(DUET_ENOMEM, "tokenizer: out of memory");
  duet_step_list l = {0};
  int rc = duet_json_steps(j, "decoder", "decoders", sizeof(duet_decoder_step), load_step, &l);
  d->steps = l.v;
  d->n = l.n;
  d->cap = l.cap;
  if (rc) {
    duet_decoder_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

void duet_decoder_free(duet_decoder *d) {
  if (!d) return;
  for (int i = 0; i < d->n; i++) {
    duet_pattern_free(&d->steps[i].pat);
    free(d->steps[i].str);
  }
  free(d->steps);
  free(d);
}

int duet_strlist_push(duet_strlist *l, const char *s, size_t len) {
  size_t off = l->text.n;
  int rc = duet_tbuf_put(&l->text, s, len);
  return rc ? rc : duet_pieces_push(&l->parts, off, len);
}

void duet_strlist_clear(duet_strlist *l) {
  l->text.n = 0;
  l->parts.n = 0;
}

void duet_strlist_free(duet_strlist *l) {
  duet_tbuf_free(&l->text);
  duet_pieces_free(&l->parts);
}
