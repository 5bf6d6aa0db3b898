#include "engine/bpe_train.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/cli_number.h"
#include "engine/error.h"
#include "engine/read_file.h"
#include "engine/tokenizer/byte_level.h"

const char *const duet_bpe_special_tokens[DUET_BPE_N_SPECIAL] = {"<|endoftext|>", "<|bos|>", "<|im_start|>",
                                                                 "<|im_end|>"};

/* Llama 3's split regex with the case-insensitive contractions spelled out
 * ('s 'S 't ...), so every regex engine reads it the same way. */
const char *const duet_bpe_split_regex =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* A distinct piece of text: its symbols (token ids) and how often it occurs. */
typedef struct {
  int32_t *sym;
  int32_t len;
  uint32_t stamp; /* last merge step that visited it */
  int64_t count;
} word;

/* An adjacent pair of tokens, its total count over all words and the words
 * it may occur in (a superset: entries go stale as words are merged). */
typedef struct {
  int32_t a, b;
  int64_t count;
  int32_t *where;
  int32_t nwhere, capwhere;
  uint32_t stamp;
} pair;

typedef struct {
  int64_t count;
  int32_t idx;
} heap_ent;

/* Open-addressing table: key hash -> index, keys compared by the caller. */
typedef struct {
  int32_t *slot; /* -1 empty */
  size_t cap, n;
} table;

struct duet_bpe_trainer {
  int vocab_size;
  pcre2_code *re;
  pcre2_match_data *md;
  /* words: bytes in one buffer */
  char *wbytes;
  size_t nwbytes, capwbytes;
  uint32_t *woff, *wlen;
  word *words;
  size_t nwords, capwords;
  table wtab;
  long long total;
  /* tokens: raw bytes */
  char **tok;
  size_t *toklen;
  int ntok, captok;
  table ttab;
  /* learned merges */
  int32_t (*merges)[3];
  int nmerges;
  /* training state */
  pair *pairs;
  size_t npairs, cappairs;
  table ptab;
  heap_ent *heap;
  size_t nheap, capheap;
};

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h ^ (h >> 29);
}

static uint64_t hash_pair(int32_t a, int32_t b) {
  uint64_t h = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) * 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 31);
}

/* Grows *p (element size sz) to hold at least need elements. */
static int grow(void *p, size_t *cap, size_t need, size_t sz) {
  if (need <= *cap) return DUET_OK;
  size_t nc = *cap ? *cap : 16;
  while (nc < need) nc *= 2;
  void *q = realloc(*(void **)p, nc * sz);
  if (!q) return duet_error(DUET_ENOMEM, "tokenizer training: out of memory");
  *(void **)p = q;
  *cap = nc;
  return DUET_OK;
}

static int table_init(table *t, size_t cap) {
  t->slot = malloc(cap * sizeof *t->slot);
  if (!t->slot) return duet_error(DUET_ENOMEM, "tokenizer training: out of memory");
  memset(t->slot, 0xff, cap * sizeof *t->slot);
  t->cap = cap;
  t->n = 0;
  return DUET_OK;
}

/* Finds the slot for a key: the caller's eq(ctx, index) says whether the
 * entry at a slot is the key. Returns the slot position. */
static size_t table_find(const table *t, uint64_t h, int (*eq)(const void *, int32_t, const void *), const void *ctx,
                         const void *key) {
  size_t i = h & (t->cap - 1);
  while (t->slot[i] >= 0 && !eq(ctx, t->slot[i], key)) i = (i + 1) & (t->cap - 1);
  return i;
}

/* Doubles the table when half full, rehashing with hash_of(ctx, index). */
static int table_reserve(table *t, uint64_t (*hash_of)(const void *, int32_t), const void *ctx) {
  if (2 * (t->n + 1) <= t->cap) return DUET_OK;
  table nt;
  if (table_init(&nt, t->cap * 2) < 0) return DUET_ENOMEM;
  for (size_t i = 0; i < t->cap; i++) {
    if (t->slot[i] < 0) continue;
    size_t j = hash_of(ctx, t->slot[i]) & (nt.cap - 1);
    while (nt.slot[j] >= 0) j = (j + 1) & (nt.cap - 1);
    nt.slot[j] = t->slot[i];
  }
  nt.n = t->n;
  free(t->slot);
  *t = nt;
  return DUET_OK;
}

typedef struct {
  const char *s;
  size_t n;
} bytes_key;

static int word_eq(const void *ctx, int32_t i, const void *key) {
  const duet_bpe_trainer *t = ctx;
  const bytes_key *k = key;
  return t->wlen[i] == k->n && !memcmp(t->wbytes + t->woff[i], k->s, k->n);
}
static uint64_t word_hash(const void *ctx, int32_t i) {
  const duet_bpe_trainer *t = ctx;
  return hash_bytes(t->wbytes + t->woff[i], t->wlen[i]);
}
static int tok_eq(const void *ctx, int32_t i, const void *key) {
  const duet_bpe_trainer *t = ctx;
  const bytes_key *k = key;
  return t->toklen[i] == k->n && !memcmp(t->tok[i], k->s, k->n);
}
static uint64_t tok_hash(const void *ctx, int32_t i) {
  const duet_bpe_trainer *t = ctx;
  return hash_bytes(t->tok[i], t->toklen[i]);
}
static int pair_eq(const void *ctx, int32_t i, const void *key) {
  const pair *p = &((const duet_bpe_trainer *)ctx)->pairs[i];
  const int32_t *k = key;
  return p->a == k[0] && p->b == k[1];
}
static uint64_t pair_hash_of(const void *ctx, int32_t i) {
  const pair *p = &((const duet_bpe_trainer *)ctx)->pairs[i];
  return hash_pair(p->a, p->b);
}

/* Id of token bytes s[0..n), adding it when new. */
static int32_t token_id(duet_bpe_trainer *t, const char *s, size_t n) {
  bytes_key k = {s, n};
  if (table_reserve(&t->ttab, tok_hash, t) < 0) return DUET_ENOMEM;
  size_t slot = table_find(&t->ttab, hash_bytes(s, n), tok_eq, t, &k);
  if (t->ttab.slot[slot] >= 0) return t->ttab.slot[slot];
  size_t cap = (size_t)t->captok, cap2 = cap;
  if (grow(&t->tok, &cap, (size_t)t->ntok + 1, sizeof *t->tok) < 0 ||
      grow(&t->toklen, &cap2, (size_t)t->ntok + 1, sizeof *t->toklen) < 0)
    return DUET_ENOMEM;
  t->captok = (int)(cap < cap2 ? cap : cap2);
  char *copy = malloc(n + 1);
  if (!copy) return duet_error(DUET_ENOMEM, "tokenizer training: out of memory");
  memcpy(copy, s, n);
  copy[n] = 0;
  t->tok[t->ntok] = copy;
  t->toklen[t->ntok] = n;
  t->ttab.slot[slot] = t->ntok;
  t->ttab.n++;
  return t->ntok++;
}

/* The byte tokens in Hugging Face's order: by their byte-level code point. */
static int cmp_byte_cp(const void *x, const void *y) {
  uint32_t a = duet_byte_to_cp(*(const unsigned char *)x), b = duet_byte_to_cp(*(const unsigned char *)y);
  return a < b ? -1 : a > b;
}

int duet_bpe_trainer_new(int vocab_size, duet_bpe_trainer **out) {
  *out = NULL;
  if (vocab_size < DUET_BPE_N_SPECIAL + 256 || vocab_size > (1 << 22))
    return duet_error(DUET_EINVAL, "vocab size %d out of range (%d..%d: specials + 256 bytes + merges)", vocab_size,
                      DUET_BPE_N_SPECIAL + 256, 1 << 22);
  duet_bpe_trainer *t = calloc(1, sizeof *t);
  if (!t) return duet_error(DUET_ENOMEM, "tokenizer training: out of memory");
  t->vocab_size = vocab_size;
  int errcode;
  PCRE2_SIZE erroff;
  t->re = pcre2_compile((PCRE2_SPTR)duet_bpe_split_regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &errcode,
                        &erroff, NULL);
  int rc = t->re ? DUET_OK : duet_error(DUET_EINTERNAL, "split regex does not compile at %zu", (size_t)erroff);
  if (rc == DUET_OK) {
    pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
    t->md = pcre2_match_data_create_from_pattern(t->re, NULL);
    if (!t->md) rc = duet_error(DUET_ENOMEM, "tokenizer training: out of memory");
  }
  if (rc == DUET_OK) rc = table_init(&t->wtab, 1 << 12);
  if (rc == DUET_OK) rc = table_init(&t->ttab, 1 << 10);
  for (int k = 0; rc == DUET_OK && k < DUET_BPE_N_SPECIAL; k++)
    if (token_id(t, duet_bpe_special_tokens[k], strlen(duet_bpe_special_tokens[k])) < 0) rc = DUET_ENOMEM;
  unsigned char bytes[256];
  for (int b = 0; b < 256; b++) bytes[b] = (unsigned char)b;
  qsort(bytes, 256, 1, cmp_byte_cp);
  for (int k = 0; rc == DUET_OK && k < 256; k++)
    if (token_id(t, (const char *)&bytes[k], 1) < 0) rc = DUET_ENOMEM;
  if (rc < 0) {
    duet_bpe_trainer_free(t);
    return rc;
  }
  *out = t;
  return DUET_OK;
}

void duet_bpe_trainer_free(duet_bpe_trainer *t) {
  if (!t) return;
  pcre2_match_data_free(t->md);
  pcre2_code_free(t->re);
  for (size_t i = 0; i < t->nwords; i++) free(t->words[i].sym);
  free(t->words);
  free(t->wbytes);
  free(t->woff);
  free(t->wlen);
  free(t->wtab.slot);
  for (int i = 0; i < t->ntok; i++) free(t->tok[i]);
  free(t->tok);
  free(t->toklen);
  free(t->ttab.slot);
  free(t->merges);
  for (size_t i = 0; i < t->npairs; i++) free(t->pairs[i].where);
  free(t->pairs);
  free(t->ptab.slot);
  free(t->heap);
  free(t);
}

/* Counts one piece. */
static int count_word(duet_bpe_trainer *t, const char *s, size_t n) {
  if (!n) return DUET_OK;
  bytes_key k = {s, n};
  if (table_reserve(&t->wtab, word_hash, t) < 0) return DUET_ENOMEM;
  size_t slot = table_find(&t->wtab, hash_bytes(s, n), word_eq, t, &k);
  t->total++;
  if (t->wtab.slot[slot] >= 0) {
    t->words[t->wtab.slot[slot]].count++;
    return DUET_OK;
  }
  size_t c1 = t->capwords, c2 = t->capwords, c3 = t->capwords;
  if (grow(&t->words, &c1, t->nwords + 1, sizeof *t->words) < 0 ||
      grow(&t->woff, &c2, t->nwords + 1, sizeof *t->woff) < 0 ||
      grow(&t->wlen, &c3, t->nwords + 1, sizeof *t->wlen) < 0 ||
      grow(&t->wbytes, &t->capwbytes, t->nwbytes + n, 1) < 0)
    return DUET_ENOMEM;
  t->capwords = c1;
  if (t->nwbytes + n > UINT32_MAX) return duet_error(DUET_ENOSPC, "tokenizer training: more than 4 GB of distinct text");
  memcpy(t->wbytes + t->nwbytes, s, n);
  t->woff[t->nwords] = (uint32_t)t->nwbytes;
  t->wlen[t->nwords] = (uint32_t)n;
  t->nwbytes += n;
  memset(&t->words[t->nwords], 0, sizeof(word));
  t->words[t->nwords].count = 1;
  t->wtab.slot[slot] = (int32_t)t->nwords++;
  t->wtab.n++;
  return DUET_OK;
}

/* Splits text (no special tokens inside) with the regex; unmatched gaps
 * count as pieces too, as Split's "Isolated" behaviour keeps them. */
static int split_count(duet_bpe_trainer *t, const char *text, size_t len, size_t base, const char *what) {
  size_t off = 0, prev = 0;
  uint32_t opts = 0; /* the first match validates the UTF-8 of the whole subject */
  while (off < len) {
    int rc = pcre2_match(t->re, (PCRE2_SPTR)text, len, off, opts, t->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
        return duet_error(DUET_EFORMAT, "%s: invalid UTF-8 at byte %zu", what,
                          base + (size_t)pcre2_get_startchar(t->md));
      return duet_error(DUET_EINTERNAL, "%s: regex match failed (%d) at byte %zu", what, rc, base + off);
    }
    opts = PCRE2_NO_UTF_CHECK;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
    if (ov[0] > prev && count_word(t, text + prev, ov[0] - prev) < 0) return DUET_ENOMEM;
    if (count_word(t, text + ov[0], ov[1] - ov[0]) < 0) return DUET_ENOMEM;
    prev = ov[1];
    off = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
    while (off < len && ((unsigned char)text[off] & 0xC0) == 0x80) off++;
  }
  return prev < len ? count_word(t, text + prev, len - prev) : DUET_OK;
}

int duet_bpe_trainer_feed(duet_bpe_trainer *t, const char *text, size_t len, const char *what) {
  if (t->merges) return duet_error(DUET_EINVAL, "tokenizer training: feed after run");
  size_t start = 0;
  while (start < len) { /* cut out special tokens: they are never merged into */
    size_t cut = len, skip = 0;
    const char *p = text + start;
    while ((p = memmem(p, (size_t)(text + len - p), "<|", 2))) {
      for (int k = 0; k < DUET_BPE_N_SPECIAL && !skip; k++) {
        size_t sl = strlen(duet_bpe_special_tokens[k]);
        if ((size_t)(text + len - p) >= sl && !memcmp(p, duet_bpe_special_tokens[k], sl)) skip = sl;
      }
      if (skip) {
        cut = (size_t)(p - text);
        break;
      }
      p += 2;
    }
    int rc = split_count(t, text + start, cut - start, start, what);
    if (rc < 0) return rc;
    start = cut + skip;
  }
  return DUET_OK;
}

int duet_bpe_trainer_feed_file(duet_bpe_trainer *t, const char *path) {
  char *buf;
  size_t n;
  int rc = duet_read_file(path, &buf, &n);
  if (rc == DUET_ENOENT) rc = DUET_EIO; /* the documented code for any unreadable corpus */
  if (rc == DUET_OK) rc = duet_bpe_trainer_feed(t, buf, n, path);
  free(buf);
  return rc;
}

/* ---- learning merges ---- */

/* Heap order: higher count first, then the smaller (a, b), as Hugging Face's
 * trainer breaks ties, so the result does not depend on hash order. */
static int heap_less(const duet_bpe_trainer *t, const heap_ent *x, const heap_ent *y) {
  if (x->count != y->count) return x->count < y->count;
  const pair *p = &t->pairs[x->idx], *q = &t->pairs[y->idx];
  return p->a != q->a ? p->a > q->a : p->b > q->b;
}

static int heap_push(duet_bpe_trainer *t, int32_t idx) {
  if (grow(&t->heap, &t->capheap, t->nheap + 1, sizeof *t->heap) < 0) return DUET_ENOMEM;
  size_t i = t->nheap++;
  t->heap[i] = (heap_ent){t->pairs[idx].count, idx};
  while (i > 0 && heap_less(t, &t->heap[(i - 1) / 2], &t->heap[i])) {
    heap_ent tmp = t->heap[i];
    t->heap[i] = t->heap[(i - 1) / 2];
    t->heap[(i - 1) / 2] = tmp;
    i = (i - 1) / 2;
  }
  return DUET_OK;
}

static heap_ent heap_pop(duet_bpe_trainer *t) {
  heap_ent top = t->heap[0];
  t->heap[0] = t->heap[--t->nheap];
  for (size_t i = 0;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < t->nheap && heap_less(t, &t->heap[m], &t->heap[l])) m = l;
    if (r < t->nheap && heap_less(t, &t->heap[m], &t->heap[r])) m = r;
    if (m == i) break;
    heap_ent tmp = t->heap[i];
    t->heap[i] = t->heap[m];
    t->heap[m] = tmp;
    i = m;
  }
  return top;
}

/* Index of pair (a, b), created with count 0 when new. */
static int32_t pair_get(duet_bpe_trainer *t, int32_t a, int32_t b) {
  int32_t key[2] = {a, b};
  if (table_reserve(&t->ptab, pair_hash_of, t) < 0) return DUET_ENOMEM;
  size_t slot = table_find(&t->ptab, hash_pair(a, b), pair_eq, t, key);
  if (t->ptab.slot[slot] >= 0) return t->ptab.slot[slot];
  if (grow(&t->pairs, &t->cappairs, t->npairs + 1, sizeof *t->pairs) < 0) return DUET_ENOMEM;
  t->pairs[t->npairs] = (pair){.a = a, .b = b};
  t->ptab.slot[slot] = (int32_t)t->npairs;
  t->ptab.n++;
  return (int32_t)t->npairs++;
}

/* Adds sign * count of word w to each of its pairs; with track, records w
 * in the where-list of pairs that contain token `fresh` (or all pairs when
 * fresh < 0) and pushes those pairs (once per step) on *touched. */
static int word_pairs(duet_bpe_trainer *t, int32_t w, int sign, int32_t fresh, uint32_t step, int32_t **touched,
                      size_t *ntouched, size_t *captouched) {
  word *wd = &t->words[w];
  for (int32_t i = 0; i + 1 < wd->len; i++) {
    int32_t p = pair_get(t, wd->sym[i], wd->sym[i + 1]);
    if (p < 0) return p;
    pair *pp = &t->pairs[p];
    pp->count += sign * wd->count;
    if (sign < 0 || (fresh >= 0 && pp->a != fresh && pp->b != fresh)) continue;
    if (!pp->nwhere || pp->where[pp->nwhere - 1] != w) {
      size_t cap = (size_t)pp->capwhere;
      if (grow(&pp->where, &cap, (size_t)pp->nwhere + 1, sizeof *pp->where) < 0) return DUET_ENOMEM;
      pp->capwhere = (int32_t)cap;
      pp->where[pp->nwhere++] = w;
    }
    if (pp->stamp != step) {
      pp->stamp = step;
      if (grow(touched, captouched, *ntouched + 1, sizeof **touched) < 0) return DUET_ENOMEM;
      (*touched)[(*ntouched)++] = p;
    }
  }
  return DUET_OK;
}

/* Replaces each leftmost non-overlapping (a, b) in word w by id; returns
 * whether anything changed. */
static int word_merge(word *wd, int32_t a, int32_t b, int32_t id) {
  int32_t j = 0, changed = 0;
  for (int32_t i = 0; i < wd->len; i++) {
    if (i + 1 < wd->len && wd->sym[i] == a && wd->sym[i + 1] == b) {
      wd->sym[j++] = id;
      i++;
      changed = 1;
    } else {
      wd->sym[j++] = wd->sym[i];
    }
  }
  wd->len = j;
  return changed;
}

static int word_contains(const word *wd, int32_t a, int32_t b) {
  for (int32_t i = 0; i + 1 < wd->len; i++)
    if (wd->sym[i] == a && wd->sym[i + 1] == b) return 1;
  return 0;
}

/* Each word as its byte tokens; every pair counted and indexed. */
static int init_pairs(duet_bpe_trainer *t, int32_t **touched, size_t *ntouched, size_t *captouched) {
  int32_t byte_id[256];
  for (int b = 0; b < 256; b++) {
    char c = (char)b;
    byte_id[b] = token_id(t, &c, 1);
  }
  if (table_init(&t->ptab, 1 << 14) < 0) return DUET_ENOMEM;
  for (size_t w = 0; w < t->nwords; w++) {
    word *wd = &t->words[w];
    wd->len = (int32_t)t->wlen[w];
    if (!(wd->sym = malloc((size_t)wd->len * sizeof *wd->sym)))
      return duet_error(DUET_ENOMEM, "tokenizer training: out of memory");
    for (int32_t i = 0; i < wd->len; i++) wd->sym[i] = byte_id[(unsigned char)t->wbytes[t->woff[w] + (size_t)i]];
    int rc = word_pairs(t, (int32_t)w, 1, -1, 1, touched, ntouched, captouched);
    if (rc < 0) return rc;
  }
  for (size_t k = 0; k < *ntouched; k++)
    if (heap_push(t, (*touched)[k]) < 0) return DUET_ENOMEM;
  return DUET_OK;
}

/* Applies merge (a, b) -> id to every word that has it, keeping pair counts
 * and the heap current. */
static int apply_merge(duet_bpe_trainer *t, int32_t pidx, int32_t id, uint32_t step, int32_t **touched,
                       size_t *ntouched, size_t *captouched) {
  int32_t a = t->pairs[pidx].a, b = t->pairs[pidx].b;
  int32_t *where = t->pairs[pidx].where, nwhere = t->pairs[pidx].nwhere;
  t->pairs[pidx].where = NULL;
  t->pairs[pidx].nwhere = t->pairs[pidx].capwhere = 0;
  *ntouched = 0;
  int rc = DUET_OK;
  for (int32_t k = 0; k < nwhere && rc == DUET_OK; k++) {
    word *wd = &t->words[where[k]];
    if (wd->stamp == step || !word_contains(wd, a, b)) continue;
    wd->stamp = step;
    rc = word_pairs(t, where[k], -1, id, step, touched, ntouched, captouched);
    word_merge(wd, a, b, id);
    if (rc == DUET_OK) rc = word_pairs(t, where[k], 1, id, step, touched, ntouched, captouched);
  }
  free(where);
  for (size_t k = 0; k < *ntouched && rc == DUET_OK; k++)
    if (t->pairs[(*touched)[k]].count > 0) rc = heap_push(t, (*touched)[k]);
  return rc;
}

/* Learns one merge from the heap top; 0 when done, 1 when a merge (or a
 * stale entry) was handled. */
static int merge_step(duet_bpe_trainer *t, uint32_t step, int32_t **touched, size_t *ntouched, size_t *captouched) {
  if (!t->nheap) return 0;
  heap_ent top = heap_pop(t);
  pair *p = &t->pairs[top.idx];
  if (top.count != p->count) { /* stale: counts only fall, so re-queue with the true count */
    return p->count > 0 && heap_push(t, top.idx) < 0 ? DUET_ENOMEM : 1;
  }
  if (p->count < 1) return 1;
  size_t la = t->toklen[p->a], lb = t->toklen[p->b];
  char *s = malloc(la + lb);
  if (!s) return duet_error(DUET_ENOMEM, "tokenizer training: out of memory");
  memcpy(s, t->tok[p->a], la);
  memcpy(s + la, t->tok[p->b], lb);
  int32_t id = token_id(t, s, la + lb); /* an existing string keeps its id, as in Hugging Face */
  free(s);
  if (id < 0) return id;
  t->merges[t->nmerges][0] = p->a;
  t->merges[t->nmerges][1] = p->b;
  t->merges[t->nmerges++][2] = id;
  int rc = apply_merge(t, top.idx, id, step, touched, ntouched, captouched);
  return rc < 0 ? rc : 1;
}

int duet_bpe_trainer_run(duet_bpe_trainer *t) {
  if (t->merges) return duet_error(DUET_EINVAL, "tokenizer training: run called twice");
  int32_t *touched = NULL;
  size_t ntouched = 0, captouched = 0;
  t->merges = malloc((size_t)t->vocab_size * sizeof *t->merges);
  int rc = t->merges ? init_pairs(t, &touched, &ntouched, &captouched)
                     : duet_error(DUET_ENOMEM, "tokenizer training: out of memory");
  for (uint32_t step = 2; rc >= 0 && t->ntok < t->vocab_size && t->nmerges < t->vocab_size; step++) {
    rc = merge_step(t, step, &touched, &ntouched, &captouched);
    if (rc == 0) break;
  }
  free(touched);
  return rc < 0 ? rc : DUET_OK;
}

int duet_bpe_trainer_vocab_size(const duet_bpe_trainer *t) { return t->ntok; }
int duet_bpe_trainer_n_merges(const duet_bpe_trainer *t) { return t->nmerges; }

const char *duet_bpe_trainer_token(const duet_bpe_trainer *t, int id, size_t *len) {
  if (id < 0 || id >= t->ntok) return NULL;
  if (len) *len = t->toklen[id];
  return t->tok[id];
}

int duet_bpe_trainer_merge(const duet_bpe_trainer *t, int i, int *a, int *b, int *result) {
  if (i < 0 || i >= t->nmerges) return duet_error(DUET_ERANGE, "merge %d of %d", i, t->nmerges);
  *a = t->merges[i][0], *b = t->merges[i][1], *result = t->merges[i][2];
  return DUET_OK;
}

void duet_bpe_trainer_stats(const duet_bpe_trainer *t, size_t *distinct, long long *total) {
  *distinct = t->nwords;
  *total = t->total;
}

/* ---- command line ---- */

static void cli_usage(FILE *f) {
  fprintf(f,
          "usage: duet-train tokenizer --data FILE... --vocab-size N --out DIR [--model-max-length N]\n"
          "  Learns a byte-level BPE (Llama 3 split regex) from UTF-8 text files and writes\n"
          "  DIR/tokenizer.json and DIR/tokenizer_config.json. N counts everything: %d special\n"
          "  tokens + 256 bytes + merges. model_max_length defaults to 2048.\n",
          DUET_BPE_N_SPECIAL);
}

static int parse_int(const char *flag, const char *v, long lo, long hi, int *out) {
  long long x;
  int rc = v ? duet_cli_int(flag, v, lo, hi, &x) : duet_error(DUET_EINVAL, "%s needs a value", flag);
  if (rc < 0) {
    fprintf(stderr, "duet-train tokenizer: %s\n", duet_last_error());
    return rc;
  }
  *out = (int)x;
  return DUET_OK;
}

int duet_bpe_train_cli(int argc, char **argv) {
  const char **files = calloc((size_t)argc + 1, sizeof *files), *out = NULL;
  int nfiles = 0, vocab = 0, maxlen = 2048, bad = !files;
  for (int i = 1; i < argc && !bad; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      cli_usage(stdout);
      free(files);
      return 0;
    } else if (!strcmp(a, "--data")) {
      while (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) files[nfiles++] = argv[++i];
    } else if (!strcmp(a, "--vocab-size")) {
      bad = parse_int(a, v, DUET_BPE_N_SPECIAL + 256, 1 << 22, &vocab) < 0, i++;
    } else if (!strcmp(a, "--model-max-length")) {
      bad = parse_int(a, v, 1, 1 << 30, &maxlen) < 0, i++;
    } else if (!strcmp(a, "--out") && v) {
      out = argv[++i];
    } else {
      fprintf(stderr, "duet-train tokenizer: unknown or incomplete option '%s'\n", a);
      bad = 1;
    }
  }
  if (!bad && (!nfiles || !vocab || !out)) {
    fprintf(stderr, "duet-train tokenizer: --data, --vocab-size and --out are required\n");
    bad = 1;
  }
  if (bad) {
    cli_usage(stderr);
    free(files);
    return 2;
  }
  duet_bpe_trainer *t = NULL;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = duet_bpe_trainer_new(vocab, &t);
  for (int k = 0; rc == DUET_OK && k < nfiles; k++) rc = duet_bpe_trainer_feed_file(t, files[k]);
  if (rc == DUET_OK) rc = duet_bpe_trainer_run(t);
  if (rc == DUET_OK && mkdir(out, 0755) < 0 && errno != EEXIST) rc = duet_error(DUET_EIO, "%s: cannot create", out);
  if (rc == DUET_OK) rc = duet_bpe_trainer_write(t, out, maxlen);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (rc == DUET_OK) {
    size_t distinct;
    long long total;
    duet_bpe_trainer_stats(t, &distinct, &total);
    printf("duet-train tokenizer: %lld pieces (%zu distinct) from %d file(s); %d merges, vocabulary %d%s; %.2f s -> %s\n",
           total, distinct, nfiles, duet_bpe_trainer_n_merges(t), duet_bpe_trainer_vocab_size(t),
           duet_bpe_trainer_vocab_size(t) < vocab ? " (corpus exhausted before the requested size)" : "",
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), out);
  } else {
    fprintf(stderr, "duet-train tokenizer: %s\n", duet_last_error());
  }
  duet_bpe_trainer_free(t);
  free(files);
  return rc == DUET_OK ? 0 : 1;
}
