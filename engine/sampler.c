/* The sampler (see sampler.h for the order of operations). Built for large
 * vocabularies (150k): penalties touch only the tokens a sequence has seen
 * (a small hash table, not vocab-sized counters), top-k is a heap
 * selection of k candidates rather than a sort of the vocabulary, and
 * top-p finds its cut with a histogram of weights and a quickselect of the
 * one bucket the cut falls in, never sorting. */
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/ops/simd.h" /* duet_exp8 */

/* ---------------------------------------------------------------- PRNG */

/* xoshiro256** seeded through splitmix64 (Blackman & Vigna): small state,
 * good statistics, identical draws for identical seeds on every platform. */
static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}

/* uniform in [0, 1) with 53 random bits */
static double uniform01(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1p-53; }

/* ------------------------------------------------- tokens seen so far */

typedef struct {
  int id;         /* -1: empty slot */
  int out_count;  /* occurrences in the output */
  int in_prompt;
  float raw;      /* the logit before penalties, this step */
} seen_entry;

struct duet_sampler {
  duet_sampling_params p;
  int vocab;
  uint64_t rng[4];
  seen_entry *seen; /* open addressing, power-of-two capacity */
  int n_seen, cap_seen;
  int track;        /* any penalty on: keep the seen table */
  int n_drawn;      /* tokens drawn so far (for min_tokens) */
  int n_end, end_ids[DUET_MAX_END_IDS];
};

static unsigned slot_of(int id, int cap) { return ((unsigned)id * 2654435761u) & (unsigned)(cap - 1); }

static int seen_grow(duet_sampler *s) {
  int cap = s->cap_seen ? 2 * s->cap_seen : 64;
  seen_entry *t = malloc((size_t)cap * sizeof *t);
  if (!t) return DUET_ENOMEM;
  for (int i = 0; i < cap; i++) t[i].id = -1;
  for (int i = 0; i < s->cap_seen; i++) {
    if (s->seen[i].id < 0) continue;
    unsigned k = slot_of(s->seen[i].id, cap);
    while (t[k].id >= 0) k = (k + 1) & (unsigned)(cap - 1);
    t[k] = s->seen[i];
  }
  free(s->seen);
  s->seen = t;
  s->cap_seen = cap;
  return DUET_OK;
}

/* The entry of token id, added if new; NULL when out of memory. */
static seen_entry *seen_get(duet_sampler *s, int id) {
  if (2 * (s->n_seen + 1) > s->cap_seen && seen_grow(s) < 0) return NULL;
  unsigned k = slot_of(id, s->cap_seen);
  while (s->seen[k].id >= 0 && s->seen[k].id != id) k = (k + 1) & (unsigned)(s->cap_seen - 1);
  if (s->seen[k].id < 0) {
    s->seen[k] = (seen_entry){.id = id};
    s->n_seen++;
  }
  return &s->seen[k];
}

/* ------------------------------------------------- parameters, lifetime */

void duet_sampling_defaults(duet_sampling_params *p) {
  *p = (duet_sampling_params){.temperature = 1.f, .top_k = 0, .top_p = 1.f, .min_p = 0.f,
                              .repetition_penalty = 1.f, .presence_penalty = 0.f, .frequency_penalty = 0.f,
                              .seed = 0, .n_logprobs = 0, .min_tokens = 0, .n_bias = 0};
}

static int in_range(float x, float lo, float hi) { return x >= lo && x <= hi; } /* false for NaN */

/* OpenAI's rules: ids in the vocabulary, biases in [-100, 100]; and each
 * id once (its raw logit is kept aside while biased). */
static int validate_bias(const duet_sampling_params *p, int vocab) {
  if (p->n_bias < 0 || p->n_bias > DUET_MAX_LOGIT_BIAS)
    return duet_error(DUET_EINVAL, "logit_bias has %d entries (at most %d)", p->n_bias, DUET_MAX_LOGIT_BIAS);
  for (int i = 0; i < p->n_bias; i++) {
    if (p->bias_ids[i] < 0 || p->bias_ids[i] >= vocab)
      return duet_error(DUET_EINVAL, "logit_bias token %d is outside the vocabulary [0, %d)", p->bias_ids[i], vocab);
    if (!in_range(p->bias[i], -100.f, 100.f))
      return duet_error(DUET_EINVAL, "logit_bias %g for token %d must be between -100 and 100", p->bias[i], p->bias_ids[i]);
    for (int k = 0; k < i; k++)
      if (p->bias_ids[k] == p->bias_ids[i])
        return duet_error(DUET_EINVAL, "logit_bias names token %d twice", p->bias_ids[i]);
  }
  return DUET_OK;
}

int duet_sampling_validate(const duet_sampling_params *p, int vocab) {
  if (vocab < 1) return duet_error(DUET_EINVAL, "vocab size %d must be positive", vocab);
  if (!in_range(p->temperature, 0.f, 2.f))
    return duet_error(DUET_EINVAL, "temperature %g must be between 0 and 2", p->temperature);
  if (!(p->top_p > 0.f && p->top_p <= 1.f)) return duet_error(DUET_EINVAL, "top_p %g must be in (0, 1]", p->top_p);
  if (!in_range(p->min_p, 0.f, 1.f)) return duet_error(DUET_EINVAL, "min_p %g must be between 0 and 1", p->min_p);
  if (!(p->repetition_penalty > 0.f && isfinite(p->repetition_penalty)))
    return duet_error(DUET_EINVAL, "repetition_penalty %g must be positive", p->repetition_penalty);
  if (!in_range(p->presence_penalty, -2.f, 2.f))
    return duet_error(DUET_EINVAL, "presence_penalty %g must be between -2 and 2", p->presence_penalty);
  if (!in_range(p->frequency_penalty, -2.f, 2.f))
    return duet_error(DUET_EINVAL, "frequency_penalty %g must be between -2 and 2", p->frequency_penalty);
  if (p->n_logprobs < 0 || p->n_logprobs > DUET_MAX_LOGPROBS)
    return duet_error(DUET_EINVAL, "logprobs %d must be between 0 and %d", p->n_logprobs, DUET_MAX_LOGPROBS);
  if (p->min_tokens < 0) return duet_error(DUET_EINVAL, "min_tokens %d must not be negative", p->min_tokens);
  return validate_bias(p, vocab); /* top_k: <= 0 or >= vocab means no limit; every seed is valid */
}

int duet_sampler_new(const duet_sampling_params *p, int vocab, duet_sampler **out) {
  *out = NULL;
  int rc = duet_sampling_validate(p, vocab);
  if (rc < 0) return rc;
  duet_sampler *s = calloc(1, sizeof *s);
  if (!s) return duet_error(DUET_ENOMEM, "sampler: out of memory");
  s->p = *p;
  s->vocab = vocab;
  s->track = p->repetition_penalty != 1.f || p->presence_penalty != 0.f || p->frequency_penalty != 0.f;
  uint64_t x = p->seed;
  for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
  *out = s;
  return DUET_OK;
}

void duet_sampler_free(duet_sampler *s) {
  if (!s) return;
  free(s->seen);
  free(s);
}

void duet_sampler_add_prompt(duet_sampler *s, const int *ids, int n) {
  if (!s->track) return;
  for (int i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= s->vocab) continue; /* the caller validates ids; never index with a bad one */
    seen_entry *e = seen_get(s, ids[i]);
    if (e) e->in_prompt = 1; /* out of memory: the penalty misses a token, nothing worse */
  }
}

int duet_sampler_set_end_ids(duet_sampler *s, const int *ids, int n) {
  if (n < 0 || n > DUET_MAX_END_IDS) return duet_error(DUET_EINVAL, "sampler: %d end ids (at most %d)", n, DUET_MAX_END_IDS);
  for (int i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= s->vocab) return duet_error(DUET_EINVAL, "sampler: end id %d outside the vocabulary", ids[i]);
  memcpy(s->end_ids, ids, (size_t)n * sizeof *ids);
  s->n_end = n;
  return DUET_OK;
}

/* ------------------------------------------------------------ weights */

/* w[j] = exp((l[i0+j] - lmax) * inv_t) for the 8 logits from i0 (logits
 * past n count as -inf, weight 0), then 0 where below min_w. Every pass
 * over the vocabulary computes weights here, so a total and the walk that
 * draws against it agree to the last bit. Returns the sum of the 8. */
static double weights8(const float *l, int i0, int n, float lmax, float inv_t, float min_w, float w[8]) {
#if DUET_HAVE_AVX2
  if (i0 + 8 <= n) { /* exp8 gives 0 for -inf */
    __m256 x = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(l + i0), _mm256_set1_ps(lmax)), _mm256_set1_ps(inv_t));
    __m256 e = duet_exp8(x);
    e = _mm256_and_ps(e, _mm256_cmp_ps(e, _mm256_set1_ps(min_w), _CMP_GE_OQ));
    _mm256_storeu_ps(w, e);
    return duet_hsum8(e);
  }
#endif
  float x[8];
  for (int j = 0; j < 8; j++) x[j] = i0 + j < n ? (l[i0 + j] - lmax) * inv_t : -INFINITY;
#if DUET_HAVE_AVX2
  _mm256_storeu_ps(w, duet_exp8(_mm256_loadu_ps(x)));
#else
  for (int j = 0; j < 8; j++) w[j] = expf(x[j]);
#endif
  double sum = 0;
  for (int j = 0; j < 8; j++) {
    w[j] = x[j] == -INFINITY || w[j] < min_w ? 0.f : w[j];
    sum += w[j];
  }
  return sum;
}

/* Sum of the weights of logits[0..n). */
static double weights_total(const float *l, int n, float lmax, float inv_t, float min_w) {
  double total = 0;
  float w[8];
  for (int i = 0; i < n; i += 8) total += weights8(l, i, n, lmax, inv_t, min_w, w);
  return total;
}

/* ------------------------------------------------- candidate selection */

typedef struct {
  float l;
  int id;
} cand;

/* "Best first": larger logit, then lower id (so ties are reproducible). */
static int better(float la, int ia, float lb, int ib) { return la > lb || (la == lb && ia < ib); }

static int cmp_best_first(const void *a, const void *b) {
  const cand *x = a, *y = b;
  return better(x->l, x->id, y->l, y->id) ? -1 : better(y->l, y->id, x->l, x->id);
}

static void sift_down(cand *h, int n, int i) {
  for (;;) {
    int w = i, a = 2 * i + 1, b = a + 1; /* the root holds the worst candidate kept */
    if (a < n && better(h[w].l, h[w].id, h[a].l, h[a].id)) w = a;
    if (b < n && better(h[w].l, h[w].id, h[b].l, h[b].id)) w = b;
    if (w == i) return;
    cand t = h[i];
    h[i] = h[w], h[w] = t, i = w;
  }
}

/* The m best of logits[0..n) into c[0..m), best first: a heap of the m
 * best so far, O(n log m), instead of sorting all n. */
static void select_top(const float *logits, int n, int m, cand *c) {
  int size = 0;
  for (int i = 0; i < n; i++) {
    if (size < m) {
      int j = size++;
      c[j] = (cand){logits[i], i};
      while (j > 0 && better(c[(j - 1) / 2].l, c[(j - 1) / 2].id, c[j].l, c[j].id)) {
        cand t = c[j];
        c[j] = c[(j - 1) / 2], c[(j - 1) / 2] = t, j = (j - 1) / 2;
      }
    } else if (better(logits[i], i, c[0].l, c[0].id)) {
      c[0] = (cand){logits[i], i};
      sift_down(c, size, 0);
    }
  }
  qsort(c, (size_t)size, sizeof *c, cmp_best_first);
}

static float max_logit(const float *logits, int n) {
  float m = -INFINITY;
  for (int i = 0; i < n; i++) m = logits[i] > m ? logits[i] : m;
  return m;
}

/* Draw from the best-first candidates c[0..n) with weights
 * exp((l - lmax) / T): keep the shortest prefix holding top_p of the mass
 * `total` (the mass of the distribution before top-p), then those with
 * weight >= min_p (relative to the best, whose weight is 1). */
static int draw_sorted(duet_sampler *s, const cand *c, int n, float lmax, double total) {
  const float T = s->p.temperature;
  double cum = 0, cut = (double)s->p.top_p * total;
  int keep = 0;
  while (keep < n && (keep == 0 || cum < cut)) {
    double w = expf((c[keep].l - lmax) / T);
    if (w < s->p.min_p) break;
    cum += w;
    keep++;
  }
  double u = uniform01(s->rng) * cum, acc = 0;
  for (int i = 0; i < keep; i++) {
    acc += expf((c[i].l - lmax) / T);
    if (u < acc) return c[i].id;
  }
  return c[keep - 1].id;
}

/* Top-k: the k best by a heap, then top-p and min-p over their
 * (renormalised) mass. */
static int draw_top_k(duet_sampler *s, const float *logits, float lmax) {
  const int k = s->p.top_k;
  cand *c = malloc((size_t)k * sizeof *c);
  if (!c) return duet_error(DUET_ENOMEM, "sampler: out of memory for %d candidates", k);
  select_top(logits, s->vocab, k, c);
  double mass = 0;
  for (int i = 0; i < k; i++) mass += expf((c[i].l - lmax) / s->p.temperature);
  int id = draw_sorted(s, c, k, lmax, mass);
  free(c);
  return id;
}

typedef struct {
  float l, w;
  int id;
} wcand;

static int wbetter(const wcand *a, const wcand *b) { return better(a->l, a->id, b->l, b->id); }
static void wswap(wcand *a, wcand *b) {
  wcand t = *a;
  *a = *b, *b = t;
}

/* Partitions c[lo..hi) around a median-of-three pivot: better ones first.
 * Returns the pivot's final index. Keys are distinct (ids break ties). */
static int partition(wcand *c, int lo, int hi) {
  int mid = lo + (hi - lo) / 2, last = hi - 1;
  if (wbetter(&c[mid], &c[lo])) wswap(&c[mid], &c[lo]);
  if (wbetter(&c[last], &c[lo])) wswap(&c[last], &c[lo]);
  if (wbetter(&c[last], &c[mid])) wswap(&c[last], &c[mid]);
  wswap(&c[mid], &c[last]); /* the median is the pivot, parked at the end */
  int store = lo;
  for (int i = lo; i < last; i++)
    if (wbetter(&c[i], &c[last])) wswap(&c[i], &c[store++]);
  wswap(&c[store], &c[last]);
  return store;
}

/* Reorders c so that c[0..m) are the m best with the smallest m whose
 * weight reaches `need`; returns m. Quickselect on mass: expected O(n),
 * no sort of the vocabulary. */
static int select_mass(wcand *c, int n, double need) {
  int lo = 0, hi = n;
  while (lo < hi) {
    int p = partition(c, lo, hi);
    double up = 0;
    for (int i = lo; i < p; i++) up += c[i].w;
    if (up >= need) {
      hi = p; /* the cut lies strictly among the better ones */
      continue;
    }
    up += c[p].w;
    if (up >= need) return p + 1;
    need -= up;
    lo = p + 1;
  }
  return lo > 0 ? lo : 1;
}

/* Buckets of weight: bucket b holds logits whose weight is in
 * (2^-(b+1), 2^-b], computed from the logit so that it is exactly
 * monotone in the logit; the last bucket takes everything smaller. */
#define N_BUCKETS 64
static int bucket_of(float l, float lmax, float halvings_per_unit) {
  float d = (lmax - l) * halvings_per_unit;
  return d < N_BUCKETS - 1 ? (int)d : N_BUCKETS - 1;
}

/* Moves the candidates of buckets < b to c[0..*start), then those of
 * bucket b to c[*start..*end). */
static void gather_buckets(wcand *c, int n, int b, float lmax, float hpu, int *start, int *end) {
  int j = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (int i = j; i < n; i++) {
      int bi = bucket_of(c[i].l, lmax, hpu);
      if (pass ? bi == b : bi < b) wswap(&c[i], &c[j++]);
    }
    *(pass ? end : start) = j;
  }
}

/* The top-p set over the whole vocabulary: a histogram of weights finds
 * the bucket where the mass crosses top_p; everything better is kept
 * without sorting, and only that bucket is quickselected. */
static int top_p_set(wcand *c, int V, double need, float lmax, float inv_t) {
  const float hpu = inv_t * 1.44269504f; /* halvings of weight per unit of logit */
  double mass[N_BUCKETS] = {0};
  for (int i = 0; i < V; i++) mass[bucket_of(c[i].l, lmax, hpu)] += c[i].w;
  int b = 0;
  double above = 0;
  while (b < N_BUCKETS - 1 && above + mass[b] < need) above += mass[b++];
  int start, end;
  gather_buckets(c, V, b, lmax, hpu, &start, &end);
  return start + select_mass(c + start, end - start, need - above);
}

/* Top-p without top-k, over the whole vocabulary; then min-p. */
static int draw_top_p(duet_sampler *s, const float *logits, float lmax) {
  const int V = s->vocab;
  const float inv_t = 1.f / s->p.temperature;
  wcand *c = malloc((size_t)V * sizeof *c);
  if (!c) return duet_error(DUET_ENOMEM, "sampler: out of memory for %d candidates", V);
  double total = 0;
  float w[8];
  for (int i = 0; i < V; i += 8) {
    total += weights8(logits, i, V, lmax, inv_t, 0.f, w);
    for (int j = 0; j < 8 && i + j < V; j++) c[i + j] = (wcand){logits[i + j], w[j], i + j};
  }
  int m = top_p_set(c, V, (double)s->p.top_p * total, lmax, inv_t);
  double kept = 0;
  for (int i = 0; i < m; i++) kept += c[i].w >= s->p.min_p ? c[i].w : 0;
  double u = uniform01(s->rng) * kept, acc = 0;
  int id = -1;
  for (int i = 0; i < m && id < 0; i++) {
    if (c[i].w < s->p.min_p || c[i].w == 0) continue;
    acc += c[i].w;
    if (u < acc) id = c[i].id;
  }
  for (int i = m - 1; id < 0 && i >= 0; i--) /* rounding left u at the very end */
    if (c[i].w >= s->p.min_p && c[i].w > 0) id = c[i].id;
  free(c);
  return id >= 0 ? id : duet_error(DUET_EINTERNAL, "sampler: no token has weight");
}

/* No top-k or top-p: two passes over the vocabulary, no sorting. */
static int draw_all(duet_sampler *s, const float *logits, float lmax) {
  const int V = s->vocab;
  const float inv_t = 1.f / s->p.temperature, mp = s->p.min_p;
  double u = uniform01(s->rng) * weights_total(logits, V, lmax, inv_t, mp), acc = 0;
  int last = -1;
  float w[8];
  for (int i = 0; i < V; i += 8) {
    double block = weights8(logits, i, V, lmax, inv_t, mp, w);
    if (block == 0) continue;
    for (int j = 0; j < 8; j++) last = w[j] > 0 ? i + j : last;
    if (u >= acc + block) {
      acc += block;
      continue;
    }
    for (int j = 0; j < 8; j++) {
      acc += w[j];
      if (w[j] > 0 && u < acc) return i + j;
    }
  }
  /* rounding left u at the very end (last >= 0: the best token weighs 1) */
  return last >= 0 ? last : duet_error(DUET_EINTERNAL, "sampler: no token has weight");
}

/* ---------------------------------------------------------- penalties */

/* Repetition (Hugging Face): a seen token's logit is divided by the
 * penalty when positive and multiplied when negative. Presence and
 * frequency (OpenAI): l -= frequency * count + presence * (count > 0),
 * over the output only. The raw logit is kept for the log-probs. */
static void apply_penalties(duet_sampler *s, float *logits) {
  const float rep = s->p.repetition_penalty, pres = s->p.presence_penalty, freq = s->p.frequency_penalty;
  for (int i = 0; i < s->cap_seen; i++) {
    seen_entry *e = &s->seen[i];
    if (e->id < 0) continue;
    float l = e->raw = logits[e->id];
    if (rep != 1.f) l = l > 0 ? l / rep : l * rep;
    l -= freq * (float)e->out_count + (e->out_count > 0 ? pres : 0.f);
    logits[e->id] = l;
  }
}

/* Logit bias, then -inf on the end ids while min_tokens is not reached.
 * Each changed logit's raw value goes to kept (ids) / kept_raw, for the
 * log-probs; returns how many. */
static int apply_bias(const duet_sampler *s, float *logits, int *kept, float *kept_raw) {
  int n = 0;
  for (int i = 0; i < s->p.n_bias; i++) {
    int id = s->p.bias_ids[i];
    kept[n] = id, kept_raw[n++] = logits[id];
    logits[id] += s->p.bias[i];
  }
  for (int i = 0; s->n_drawn < s->p.min_tokens && i < s->n_end; i++) {
    int id = s->end_ids[i], seen = 0;
    for (int k = 0; k < n; k++) seen |= kept[k] == id;
    if (!seen) kept[n] = id, kept_raw[n++] = logits[id];
    logits[id] = -INFINITY;
  }
  return n;
}

/* log-sum-exp of the raw logits and their n best, before penalties. */
static double raw_logprobs(const float *logits, int V, int n, cand *top) {
  float m = max_logit(logits, V);
  double sum = weights_total(logits, V, m, 1.f, 0.f);
  if (n > 0) select_top(logits, V, n, top);
  return m + log(sum);
}

static void fill_logprobs(duet_token_logprobs *lp, float raw, const cand *top, int n_top, double lse) {
  memset(lp, 0, sizeof *lp); /* the unused tail goes over the wire too */
  lp->logprob = (float)(raw - lse);
  lp->n_top = n_top;
  for (int i = 0; i < n_top; i++) lp->top_ids[i] = top[i].id, lp->top_logprobs[i] = (float)(top[i].l - lse);
}

void duet_logprobs_of(const float *logits, int vocab, int token, int n_top, duet_token_logprobs *lp) {
  cand top[DUET_MAX_LOGPROBS];
  n_top = n_top < vocab ? n_top : vocab;
  double lse = raw_logprobs(logits, vocab, n_top, top);
  fill_logprobs(lp, logits[token], top, n_top, lse);
}

int duet_sample(duet_sampler *s, float *logits, duet_token_logprobs *lp) {
  const int V = s->vocab;
  for (int i = 0; i < V; i++)
    if (isnan(logits[i])) logits[i] = -INFINITY; /* a NaN can never be chosen */
  if (max_logit(logits, V) == -INFINITY) return duet_error(DUET_ERANGE, "sampler: every logit is -inf or NaN");
  cand top[DUET_MAX_LOGPROBS];
  int n_top = lp ? (s->p.n_logprobs < V ? s->p.n_logprobs : V) : 0;
  double lse = lp ? raw_logprobs(logits, V, n_top, top) : 0;
  int kept[DUET_MAX_LOGIT_BIAS + DUET_MAX_END_IDS];
  float kept_raw[DUET_MAX_LOGIT_BIAS + DUET_MAX_END_IDS];
  int n_kept = apply_bias(s, logits, kept, kept_raw);
  if (s->track) apply_penalties(s, logits);
  float lmax = max_logit(logits, V);
  if (lmax == -INFINITY) return duet_error(DUET_ERANGE, "sampler: logit_bias and min_tokens masked every token");
  int id;
  if (s->p.temperature == 0.f || lmax == INFINITY) {
    id = 0; /* argmax, ties to the lowest id */
    for (int i = 1; i < V; i++)
      if (logits[i] > logits[id]) id = i;
  } else if (s->p.top_k > 0 && s->p.top_k < V) {
    id = draw_top_k(s, logits, lmax);
  } else if (s->p.top_p < 1.f) {
    id = draw_top_p(s, logits, lmax);
  } else {
    id = draw_all(s, logits, lmax);
  }
  if (id < 0) return id;
  seen_entry *e = NULL;
  if (s->track && !(e = seen_get(s, id))) return duet_error(DUET_ENOMEM, "sampler: out of memory");
  if (lp) {
    float raw = e && (e->in_prompt || e->out_count) ? e->raw : logits[id]; /* untouched if never seen */
    for (int k = 0; k < n_kept; k++)
      if (kept[k] == id) raw = kept_raw[k]; /* biased: before penalties saw it */
    fill_logprobs(lp, raw, top, n_top, lse);
  }
  if (e) e->out_count++;
  s->n_drawn++;
  return id;
}
