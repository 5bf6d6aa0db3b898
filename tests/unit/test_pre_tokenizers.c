/* The Split pre-tokenizer's behaviors and invert, as Hugging Face's
 * tokenizers (Rust, what transformers runs) defines them: the examples
 * of its SplitDelimiterBehavior documentation, "the-final--countdown"
 * split on "-". The JavaScript reference the exactness tests use treats
 * the merged behaviors as Isolated and invert as "matches only", so these
 * cases are checked here, by hand. */
#include "engine/tokenizer/pre_tokenizers.h"
#include "unit_check.h"

#include <stdlib.h>

/* The words of text under a Split step with this behavior and invert, as
 * "a|b|c" (in a static buffer). */
static const char *split_words(const char *behavior, int invert, const char *text) {
  static char words[256];
  char spec[200];
  snprintf(spec, sizeof spec, "{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"%s\",\"invert\":%s}",
           behavior, invert ? "true" : "false");
  json_error_t e;
  json_t *j = json_loads(spec, 0, &e);
  duet_pretok *p = NULL;
  duet_regex_scratch *rs = duet_regex_scratch_new();
  duet_pretok_scratch s = {0};
  words[0] = 0;
  if (j && rs && duet_pretok_load(j, &p) == DUET_OK && duet_pretok_apply(p, rs, text, strlen(text), 0, &s) == DUET_OK)
    for (size_t i = 0; i < s.out->n; i++)
      snprintf(words + strlen(words), sizeof words - strlen(words), "%s%.*s", i ? "|" : "", (int)s.out->v[i].len,
               s.base + s.out->v[i].off);
  else
    snprintf(words, sizeof words, "error: %s", duet_last_error());
  duet_pretok_scratch_free(&s);
  duet_pretok_free(p);
  duet_regex_scratch_free(rs);
  json_decref(j);
  return words;
}

typedef struct {
  const char *behavior;
  int invert;
  const char *text, *want;
} split_case;

static const split_case CASES[] = {
    {"Removed", 0, "the-final--countdown", "the|final|countdown"},
    {"Isolated", 0, "the-final--countdown", "the|-|final|-|-|countdown"},
    {"MergedWithPrevious", 0, "the-final--countdown", "the-|final-|-|countdown"},
    {"MergedWithNext", 0, "the-final--countdown", "the|-final|-|-countdown"},
    {"Contiguous", 0, "the-final--countdown", "the|-|final|--|countdown"},
    /* at the ends: nothing before or after to merge with */
    {"MergedWithPrevious", 0, "-a-", "-|a-"},
    {"MergedWithNext", 0, "-a-", "-a|-"},
    {"Contiguous", 0, "--a", "--|a"},
    /* invert: the gaps are the delimiters */
    {"Removed", 1, "the-final--countdown", "-|-|-"},
    {"Isolated", 1, "the-final--countdown", "the|-|final|-|-|countdown"},
    {"MergedWithPrevious", 1, "a-b", "a|-b"},
    {"MergedWithNext", 1, "a-b", "a-|b"},
    {"Isolated", 0, "", ""},
    {"MergedWithNext", 0, "---", "-|-|-"},
};

int main(void) {
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
    const split_case *c = &CASES[i];
    const char *got = split_words(c->behavior, c->invert, c->text);
    CHECK(strcmp(got, c->want) == 0, "%s%s on \"%s\": got \"%s\", want \"%s\"", c->behavior,
          c->invert ? " inverted" : "", c->text, got, c->want);
  }
  return finish();
}
