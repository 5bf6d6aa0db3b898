#include "engine/tokenizer/unicode_norm.h"

#include "engine/error.h"
#include "engine/tokenizer/utf8.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Hangul syllables compose and decompose algorithmically (Unicode 3.12). */
enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7 };
enum { LCOUNT = 19, VCOUNT = 21, TCOUNT = 28, NCOUNT = VCOUNT * TCOUNT, SCOUNT = LCOUNT * NCOUNT };

static int ccc_of(uint32_t cp) {
  if (cp < 0x300) return 0;
  int lo = 0, hi = duet_n_ccc_ranges - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (cp < duet_ccc_ranges[mid].first) hi = mid - 1;
    else if (cp > duet_ccc_ranges[mid].last) lo = mid + 1;
    else return duet_ccc_ranges[mid].ccc;
  }
  return 0;
}

static const duet_decomp_entry *decomp_of(uint32_t cp) {
  int lo = 0, hi = duet_n_decomp_entries - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (cp < duet_decomp_entries[mid].cp) hi = mid - 1;
    else if (cp > duet_decomp_entries[mid].cp) lo = mid + 1;
    else return &duet_decomp_entries[mid];
  }
  return NULL;
}

/* Composition lookup: (first, second) -> composite, a sorted array built
 * once from the primary composites of the decomposition table. */
typedef struct {
  uint64_t key;
  uint32_t composite;
} comp_pair;
static comp_pair *comp_pairs;
static int n_comp_pairs;
static pthread_once_t comp_once = PTHREAD_ONCE_INIT;

static int cmp_pair(const void *a, const void *b) {
  uint64_t x = ((const comp_pair *)a)->key, y = ((const comp_pair *)b)->key;
  return x < y ? -1 : x > y;
}

static void build_comp_pairs(void) {
  comp_pairs = malloc((size_t)duet_n_decomp_entries * sizeof *comp_pairs);
  if (!comp_pairs) return;
  for (int i = 0; i < duet_n_decomp_entries; i++) {
    const duet_decomp_entry *e = &duet_decomp_entries[i];
    if (!(e->flags & 2)) continue;
    const uint32_t *d = duet_decomp_data + e->off;
    comp_pairs[n_comp_pairs].key = ((uint64_t)d[0] << 32) | d[1];
    comp_pairs[n_comp_pairs++].composite = e->cp;
  }
  qsort(comp_pairs, (size_t)n_comp_pairs, sizeof *comp_pairs, cmp_pair);
}

static uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
    return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
  if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE &&
      b < TBASE + TCOUNT)
    return a + (b - TBASE);
  uint64_t key = ((uint64_t)a << 32) | b;
  int lo = 0, hi = n_comp_pairs - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (key < comp_pairs[mid].key) hi = mid - 1;
    else if (key > comp_pairs[mid].key) lo = mid + 1;
    else return comp_pairs[mid].composite;
  }
  return 0;
}

typedef struct {
  uint32_t *cp;
  size_t n, cap;
} cp_buf;

static int cp_push(cp_buf *b, uint32_t cp) {
  if (b->n == b->cap) {
    size_t c = b->cap ? b->cap * 2 : 256;
    uint32_t *p = realloc(b->cp, c * sizeof *p);
    if (!p) return DUET_ENOMEM;
    b->cp = p;
    b->cap = c;
  }
  b->cp[b->n++] = cp;
  return 0;
}

/* Full (recursive) decomposition of one code point. */
static int decompose(uint32_t cp, int compat, cp_buf *b) {
  if (cp >= SBASE && cp < SBASE + SCOUNT) {
    uint32_t s = cp - SBASE;
    int rc = cp_push(b, LBASE + s / NCOUNT);
    rc = rc ? rc : cp_push(b, VBASE + (s % NCOUNT) / TCOUNT);
    if (!rc && s % TCOUNT) rc = cp_push(b, TBASE + s % TCOUNT);
    return rc;
  }
  const duet_decomp_entry *e = cp < 0xA0 ? NULL : decomp_of(cp);
  if (!e || ((e->flags & 1) && !compat)) return cp_push(b, cp);
  for (int i = 0; i < e->len; i++) {
    int rc = decompose(duet_decomp_data[e->off + i], compat, b);
    if (rc) return rc;
  }
  return 0;
}

/* Canonical ordering: stable insertion sort of each run of non-starters. */
static void reorder(uint32_t *c, size_t n) {
  for (size_t i = 1; i < n; i++) {
    int ci = ccc_of(c[i]);
    if (!ci) continue;
    size_t j = i;
    uint32_t x = c[i];
    while (j > 0 && ccc_of(c[j - 1]) > ci) {
      c[j] = c[j - 1];
      j--;
    }
    c[j] = x;
  }
}

/* Canonical composition (UAX #15 section 1.3): a character combines with
 * the last starter unless blocked by one of equal or higher class. */
static size_t compose(uint32_t *c, size_t n) {
  if (n == 0) return 0;
  size_t starter = 0, out = 1;
  int starter_ok = ccc_of(c[0]) == 0, last_ccc = starter_ok ? 0 : 256;
  for (size_t i = 1; i < n; i++) {
    int cc = ccc_of(c[i]);
    uint32_t comp = 0;
    if (starter_ok && (last_ccc < cc || (last_ccc == 0 && out == starter + 1)))
      comp = compose_pair(c[starter], c[i]);
    if (comp) {
      c[starter] = comp;
      continue;
    }
    if (cc == 0) {
      starter = out;
      starter_ok = 1;
    }
    last_ccc = cc;
    c[out++] = c[i];
  }
  return out;
}

int duet_unicode_normalize(int form, const char *in, size_t len, char **out, size_t *out_len) {
  pthread_once(&comp_once, build_comp_pairs);
  if (!comp_pairs) return duet_error(DUET_ENOMEM, "tokenizer: out of memory for composition table");
  int compat = form == DUET_NFKC || form == DUET_NFKD;
  cp_buf b = {0};
  const unsigned char *s = (const unsigned char *)in;
  int rc = 0;
  for (size_t i = 0; i < len && !rc;) {
    uint32_t cp;
    i += (size_t)duet_utf8_next(s + i, &cp);
    rc = decompose(cp, compat, &b);
  }
  char *o = rc ? NULL : malloc(b.n * 4 + 1);
  if (!o) {
    free(b.cp);
    return duet_error(DUET_ENOMEM, "tokenizer: out of memory normalizing %zu bytes", len);
  }
  reorder(b.cp, b.n);
  size_t n = (form == DUET_NFC || form == DUET_NFKC) ? compose(b.cp, b.n) : b.n;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += (size_t)duet_utf8_put(b.cp[i], o + k);
  o[k] = 0;
  free(b.cp);
  *out = o;
  *out_len = k;
  return 0;
}
