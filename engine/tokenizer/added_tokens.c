#include "engine/tokenizer/added_tokens.h"

#include "engine/error.h"
#include "engine/tokenizer/regex.h"
#include "engine/tokenizer/utf8.h"

#include <pthread.h>

#include <stdlib.h>
#include <string.h>

static int trie_node(duet_trie *t, unsigned char byte) {
  if (t->n == t->cap) {
    int c = t->cap ? t->cap * 2 : 256;
    duet_trie_node *p = realloc(t->nodes, (size_t)c * sizeof *p);
    if (!p) return duet_error(DUET_ENOMEM, "tokenizer: out of memory (added tokens)");
    t->nodes = p;
    t->cap = c;
  }
  t->nodes[t->n] = (duet_trie_node){.first_child = -1, .sibling = -1, .token = -1, .byte = byte};
  return t->n++;
}

static int trie_child(const duet_trie *t, int node, unsigned char b) {
  if (node < 0) return t->root_child[b];
  for (int c = t->nodes[node].first_child; c >= 0; c = t->nodes[c].sibling)
    if (t->nodes[c].byte == b) return c;
  return -1;
}

static int trie_insert(duet_trie *t, const char *s, size_t len, int token) {
  int node = -1;
  for (size_t i = 0; i < len; i++) {
    unsigned char b = (unsigned char)s[i];
    int c = trie_child(t, node, b);
    if (c < 0) {
      c = trie_node(t, b);
      if (c < 0) return c;
      if (node < 0) {
        t->root_child[b] = c;
      } else {
        t->nodes[c].sibling = t->nodes[node].first_child;
        t->nodes[node].first_child = c;
      }
    }
    node = c;
  }
  if (node >= 0 && t->nodes[node].token < 0) t->nodes[node].token = token;
  return 0;
}

int duet_added_set_init(duet_added_set *s) {
  memset(s, 0, sizeof *s);
  for (int b = 0; b < 256; b++) s->raw.root_child[b] = s->norm.root_child[b] = -1;
  return duet_strmap_init(&s->by_content, 64);
}

int duet_added_add(duet_added_set *s, const duet_added *tok, const char *norm_content, size_t norm_len) {
  if (tok->len == 0) return duet_error(DUET_EFORMAT, "tokenizer.json: added token %d has empty content", tok->id);
  duet_added *p = realloc(s->tok, (size_t)(s->n + 1) * sizeof *p);
  if (!p) return duet_error(DUET_ENOMEM, "tokenizer: out of memory (added tokens)");
  s->tok = p;
  duet_added *t = &s->tok[s->n];
  *t = *tok;
  t->content = malloc(tok->len + 1);
  if (!t->content) return duet_error(DUET_ENOMEM, "tokenizer: out of memory (added tokens)");
  memcpy(t->content, tok->content, tok->len);
  t->content[tok->len] = 0;
  int idx = s->n++, rc = duet_strmap_put(&s->by_content, tok->content, tok->len, idx);
  if (!rc && norm_content && tok->normalized) {
    rc = duet_strmap_put(&s->by_content, norm_content, norm_len, idx);
    if (!rc && norm_len) rc = trie_insert(&s->norm, norm_content, norm_len, idx);
  } else if (!rc) {
    rc = trie_insert(&s->raw, tok->content, tok->len, idx);
  }
  return rc;
}

void duet_added_set_free(duet_added_set *s) {
  for (int i = 0; i < s->n; i++) free(s->tok[i].content);
  free(s->tok);
  free(s->raw.nodes);
  free(s->norm.nodes);
  duet_strmap_free(&s->by_content);
  memset(s, 0, sizeof *s);
}

int duet_added_find(const duet_added_set *s, const char *str, size_t len) {
  int idx;
  return duet_strmap_get(&s->by_content, str, len, &idx) ? idx : -1;
}

/* Word characters for single_word, as the Rust tokenizers crate checks
 * them: char::is_alphanumeric (Alphabetic or a number) or '_'. Compiled
 * once, on first use. */
static duet_regex *word_re;
static pthread_once_t word_once = PTHREAD_ONCE_INIT;
static void compile_word_re(void) {
  if (duet_regex_compile_pcre2("\\G[\\p{Alphabetic}\\p{N}_]", "single_word", &word_re)) word_re = NULL;
}

static int word_char_at(const char *t, size_t len, size_t i, int before) {
  if (before) {
    if (i == 0) return 0;
    size_t k = i - 1;
    while (k > 0 && ((unsigned char)t[k] & 0xC0) == 0x80) k--;
    i = k;
  } else if (i >= len) {
    return 0;
  }
  pthread_once(&word_once, compile_word_re);
  size_t ms, me;
  return word_re && duet_regex_find(word_re, NULL, t, len, i, &ms, &me) == 1;
}

/* Longest token starting at i: its index and length, or -1. */
static int longest_at(const duet_added_set *s, const duet_trie *t, const char *text, size_t len,
                      size_t i, size_t *mlen) {
  int node = -1, best = -1;
  for (size_t j = i; j < len; j++) {
    node = trie_child(t, node, (unsigned char)text[j]);
    if (node < 0) break;
    if (t->nodes[node].token >= 0) {
      best = t->nodes[node].token;
      *mlen = j + 1 - i;
    }
  }
  if (best >= 0 && s->tok[best].single_word &&
      (word_char_at(text, len, i, 1) || word_char_at(text, len, i + *mlen, 0)))
    return -1;
  return best;
}

static int push_section(duet_sections *o, size_t off, size_t len, int tok) {
  int rc = duet_grow((void **)&o->v, &o->cap, o->n + 1, sizeof *o->v);
  if (rc) return rc;
  o->v[o->n++] = (duet_section){off, len, tok};
  return 0;
}

/* lstrip trims the text before a token, rstrip the text after it, with
 * JavaScript's whitespace (what the reference's trimEnd/trimStart use). */
static void strip_neighbours(const duet_added_set *s, const char *text, duet_sections *o) {
  for (size_t k = 0; k < o->n; k++) {
    if (o->v[k].tok < 0) continue;
    const duet_added *a = &s->tok[o->v[k].tok];
    if (a->lstrip && k > 0 && o->v[k - 1].tok < 0) {
      duet_section *p = &o->v[k - 1];
      while (p->len) {
        size_t e = p->off + p->len, b = e - 1;
        while (b > p->off && ((unsigned char)text[b] & 0xC0) == 0x80) b--;
        uint32_t cp;
        duet_utf8_next((const unsigned char *)text + b, &cp);
        if (!duet_js_is_space(cp)) break;
        p->len = b - p->off;
      }
    }
    if (a->rstrip && k + 1 < o->n && o->v[k + 1].tok < 0) {
      duet_section *q = &o->v[k + 1];
      while (q->len) {
        uint32_t cp;
        int n = duet_utf8_next((const unsigned char *)text + q->off, &cp);
        if (!duet_js_is_space(cp)) break;
        q->off += (size_t)n;
        q->len -= (size_t)n;
      }
    }
  }
}

int duet_added_split(const duet_added_set *s, int normalized, const char *text, size_t len,
                     duet_sections *out) {
  const duet_trie *t = normalized ? &s->norm : &s->raw;
  out->n = 0;
  size_t start = 0, i = 0;
  int rc = 0;
  while (i < len && !rc) {
    size_t mlen = 0;
    int tok = t->root_child[(unsigned char)text[i]] < 0 ? -1 : longest_at(s, t, text, len, i, &mlen);
    if (tok < 0) {
      i++;
      continue;
    }
    if (i > start) rc = push_section(out, start, i - start, -1);
    if (!rc) rc = push_section(out, i, mlen, tok);
    i += mlen;
    start = i;
  }
  if (!rc && start < len) rc = push_section(out, start, len - start, -1);
  if (!rc) strip_neighbours(s, text, out);
  return rc;
}
