#ifndef DUET_TOKENIZER_REGEX_H
#define DUET_TOKENIZER_REGEX_H

/* Regex patterns of tokenizer.json (written for Oniguruma, the engine of
 * the Rust tokenizers crate) compiled with PCRE2 in UTF + UCP mode, with
 * JIT when available. A small translation keeps Oniguruma's meaning where
 * PCRE2's differs, the same rewrites Hugging Face's JavaScript tokenizers
 * apply: \s is White_Space, (?i:...) folds ASCII letters only, '.' excludes
 * only \n, ^ and $ are line anchors, \uHHHH is a code point, and \p{..}
 * classes take the code points of the reference's newer Unicode. */

#include <stddef.h>

/* Code points newer than PCRE2's Unicode tables, by property name
 * (regex_unicode.c): ranges as PCRE2 class text, added to each \p{name}. */
typedef struct {
  const char *name, *ranges;
} duet_regex_prop;
extern const duet_regex_prop duet_regex_props[];
extern const int duet_n_regex_props;

typedef struct duet_regex duet_regex;
typedef struct duet_regex_scratch duet_regex_scratch;

/* what: names the pattern's place in tokenizer.json for error messages. */
int duet_regex_compile(const char *pattern, const char *what, duet_regex **out);
/* A pattern given as source text for PCRE2 as is (built-in patterns). */
int duet_regex_compile_pcre2(const char *pattern, const char *what, duet_regex **out);
void duet_regex_free(duet_regex *re);

/* Per-call match state (PCRE2 match data); not shared between threads. */
duet_regex_scratch *duet_regex_scratch_new(void);
void duet_regex_scratch_free(duet_regex_scratch *s);

/* Finds the next match in text[0..len) at or after start (text is valid
 * UTF-8). Returns 1 with [*ms, *me), 0 when none, or a negative error. */
int duet_regex_find(const duet_regex *re, duet_regex_scratch *s, const char *text, size_t len,
                    size_t start, size_t *ms, size_t *me);

#endif
