// The sampler: validation names the parameter, greedy and its ties, seeds,
// top-k / top-p / min-p exclusion (checked against a brute-force sort),
// penalty arithmetic (through the choices it forces), raw log-probs, logit
// bias and min_tokens, and
// the drawn frequencies against the softmax they should follow.
#include <math.h>
#include <time.h>

#include "engine/sampler.h"
#include "tests/unit/loader_util.h"

static duet_sampling_params defaults(void) {
  duet_sampling_params p;
  duet_sampling_defaults(&p);
  return p;
}

static void test_validate(void) {
  duet_sampling_params p = defaults();
  CHECK(p.temperature == 1.f && p.top_k == 0 && p.top_p == 1.f && p.min_p == 0.f && p.repetition_penalty == 1.f &&
            p.presence_penalty == 0.f && p.frequency_penalty == 0.f && p.n_logprobs == 0, "defaults");
  CHECK_OK(duet_sampling_validate(&p, 10));
  struct {
    float *field;
    float bad;
    const char *name;
  } cases[] = {{&p.temperature, -0.5f, "temperature"}, {&p.temperature, 2.5f, "temperature"},
               {&p.temperature, NAN, "temperature"},   {&p.top_p, 0.f, "top_p"},
               {&p.top_p, 1.5f, "top_p"},              {&p.top_p, NAN, "top_p"},
               {&p.min_p, -0.1f, "min_p"},             {&p.min_p, 1.1f, "min_p"},
               {&p.repetition_penalty, 0.f, "repetition_penalty"}, {&p.repetition_penalty, INFINITY, "repetition_penalty"},
               {&p.presence_penalty, 2.5f, "presence_penalty"},    {&p.frequency_penalty, -3.f, "frequency_penalty"},
               {&p.frequency_penalty, NAN, "frequency_penalty"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    p = defaults();
    *cases[i].field = cases[i].bad; /* the fields of p itself */
    CHECK_ERR(duet_sampling_validate(&p, 10), DUET_EINVAL, cases[i].name);
    duet_sampler *s = NULL;
    CHECK_ERR(duet_sampler_new(&p, 10, &s), DUET_EINVAL, cases[i].name);
    CHECK(s == NULL, "no sampler on invalid parameters");
  }
  p = defaults();
  p.n_logprobs = DUET_MAX_LOGPROBS + 1;
  CHECK_ERR(duet_sampling_validate(&p, 10), DUET_EINVAL, "logprobs");
  p.n_logprobs = -1;
  CHECK_ERR(duet_sampling_validate(&p, 10), DUET_EINVAL, "logprobs");
  p = defaults();
  CHECK_ERR(duet_sampling_validate(&p, 0), DUET_EINVAL, "vocab");
  p.top_k = -1, p.temperature = 0, p.top_p = 1, p.min_p = 1, p.presence_penalty = -2, p.frequency_penalty = 2;
  CHECK_OK(duet_sampling_validate(&p, 10));
}

/* One draw from a fresh copy of logits. */
static int sample_once(duet_sampler *s, const float *logits, int V) {
  float *l = malloc((size_t)V * 4);
  memcpy(l, logits, (size_t)V * 4);
  int id = duet_sample(s, l, NULL);
  free(l);
  return id;
}

static void test_greedy(void) {
  duet_sampling_params p = defaults();
  p.temperature = 0;
  duet_sampler *s;
  CHECK_OK(duet_sampler_new(&p, 6, &s));
  float a[6] = {0.5f, 3.f, -1.f, 3.f, 2.9f, 0.f};
  CHECK(sample_once(s, a, 6) == 1, "argmax, ties to the lowest id");
  float b[6] = {NAN, -INFINITY, 1.f, NAN, 0.f, -2.f};
  CHECK(sample_once(s, b, 6) == 2, "NaN never wins");
  float c[6] = {-INFINITY, NAN, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  CHECK_ERR(sample_once(s, c, 6), DUET_ERANGE, "-inf");
  duet_sampler_free(s);
  p = defaults();
  p.top_k = 1;
  CHECK_OK(duet_sampler_new(&p, 6, &s));
  int all = 1;
  for (int i = 0; i < 50; i++) all &= sample_once(s, a, 6) == 1;
  CHECK(all, "top_k 1 is greedy");
  duet_sampler_free(s);
}

static void test_seeds(void) {
  enum { V = 1000, N = 300 };
  float *l = malloc(V * 4);
  for (int i = 0; i < V; i++) l[i] = sinf((float)i * 0.37f) * 3;
  duet_sampling_params p = defaults();
  p.top_p = 0.9f, p.seed = 42;
  duet_sampler *a, *b, *c;
  CHECK_OK(duet_sampler_new(&p, V, &a));
  CHECK_OK(duet_sampler_new(&p, V, &b));
  p.seed = 43;
  CHECK_OK(duet_sampler_new(&p, V, &c));
  int same = 0, diff = 0;
  for (int i = 0; i < N; i++) {
    int x = sample_once(a, l, V), y = sample_once(b, l, V), z = sample_once(c, l, V);
    same += x == y, diff += x != z;
  }
  CHECK(same == N, "same seed, same draws (%d of %d)", same, N);
  CHECK(diff > N / 2, "another seed, other draws (%d of %d differ)", diff, N);
  duet_sampler_free(a), duet_sampler_free(b), duet_sampler_free(c);
  free(l);
}

/* ------------------------------------------------- filters vs brute force */

static const float *sort_logits;
static int cmp_desc(const void *a, const void *b) {
  float x = sort_logits[*(const int *)a], y = sort_logits[*(const int *)b];
  return x > y ? -1 : x < y ? 1 : *(const int *)a - *(const int *)b;
}

/* The allowed set by the definitions, with a full sort: top-k, then the
 * shortest prefix holding top_p of the (renormalised) mass, then p >= min_p
 * * p_max. Temperature T. */
static void allowed_set(const float *l, int V, const duet_sampling_params *p, char *allowed) {
  int *ord = malloc((size_t)V * sizeof *ord);
  for (int i = 0; i < V; i++) ord[i] = i;
  sort_logits = l;
  qsort(ord, (size_t)V, sizeof *ord, cmp_desc);
  int k = p->top_k > 0 && p->top_k < V ? p->top_k : V;
  double z = 0, cum = 0;
  for (int i = 0; i < k; i++) z += exp((l[ord[i]] - l[ord[0]]) / p->temperature);
  memset(allowed, 0, (size_t)V);
  for (int i = 0; i < k; i++) {
    double w = exp((l[ord[i]] - l[ord[0]]) / p->temperature);
    if (i > 0 && cum >= p->top_p * z) break;
    cum += w;
    if (w >= p->min_p) allowed[ord[i]] = 1;
  }
  free(ord);
}

static void check_filter(const char *what, int V, int top_k, float top_p, float min_p, float T) {
  float *l = malloc((size_t)V * 4);
  uint64_t x = 99;
  for (int i = 0; i < V; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    l[i] = (float)((x >> 40) % 10000) / 1000.f; /* 0 .. 10, with ties */
  }
  duet_sampling_params p = defaults();
  p.top_k = top_k, p.top_p = top_p, p.min_p = min_p, p.temperature = T, p.seed = 7;
  char *allowed = malloc((size_t)V), *hit = calloc((size_t)V, 1);
  allowed_set(l, V, &p, allowed);
  int n_allowed = 0, outside = 0, distinct = 0;
  for (int i = 0; i < V; i++) n_allowed += allowed[i];
  duet_sampler *s;
  CHECK_OK(duet_sampler_new(&p, V, &s));
  for (int i = 0; i < 1500; i++) {
    int id = sample_once(s, l, V);
    if (id < 0 || id >= V || !allowed[id]) outside++;
    else distinct += !hit[id], hit[id] = 1;
  }
  CHECK(outside == 0, "%s: %d draws outside the allowed set of %d", what, outside, n_allowed);
  CHECK(distinct > n_allowed / 2 || distinct >= 20, "%s: only %d of %d allowed tokens drawn", what, distinct, n_allowed);
  duet_sampler_free(s);
  free(l), free(allowed), free(hit);
}

static void test_filters(void) {
  check_filter("top_k 5", 1000, 5, 1.f, 0.f, 1.f);
  check_filter("top_k 40 T 0.7", 2000, 40, 1.f, 0.f, 0.7f);
  check_filter("top_p 0.3", 1500, 0, 0.3f, 0.f, 1.f);
  check_filter("top_p 0.9 T 0.5", 1500, 0, 0.9f, 0.f, 0.5f);
  check_filter("top_p 0.999 (flat: a large kept set)", 1500, 0, 0.999f, 0.f, 2.f);
  check_filter("min_p 0.2", 1500, 0, 1.f, 0.2f, 1.f);
  check_filter("min_p 0.05 T 1.5", 1500, 0, 1.f, 0.05f, 1.5f);
  check_filter("top_k 100 + top_p 0.5 + min_p 0.1", 2000, 100, 0.5f, 0.1f, 1.f);
  check_filter("top_k >= vocab", 300, 1000, 1.f, 0.f, 1.f);
  check_filter("top_k 300 + min_p 0.6", 3000, 300, 1.f, 0.6f, 1.f);
  check_filter("top_p 0.95 + min_p 0.4 T 0.3", 1500, 0, 0.95f, 0.4f, 0.3f);
}

/* Frequencies of the draws follow softmax(l / T) (4.5 sigma bounds). */
static void check_frequencies(const float *l, int V, float T, float top_p, const double *want, const char *what) {
  enum { N = 12000 };
  duet_sampling_params p = defaults();
  p.temperature = T, p.top_p = top_p, p.seed = 2024;
  duet_sampler *s;
  CHECK_OK(duet_sampler_new(&p, V, &s));
  int count[16] = {0};
  for (int i = 0; i < N; i++) {
    int id = sample_once(s, l, V);
    if (id >= 0 && id < 16) count[id]++;
  }
  for (int i = 0; i < V; i++) {
    double f = (double)count[i] / N, sd = sqrt(want[i] * (1 - want[i]) / N) + 1e-9;
    CHECK(fabs(f - want[i]) <= 4.5 * sd, "%s: token %d drawn %.4f, expected %.4f", what, i, f, want[i]);
  }
  duet_sampler_free(s);
}

static void test_distribution(void) {
  const double probs[4] = {0.5, 0.3, 0.15, 0.05};
  float l[4];
  for (int i = 0; i < 4; i++) l[i] = (float)log(probs[i]) + 3.f; /* shifted: softmax is shift-invariant */
  check_frequencies(l, 4, 1.f, 1.f, probs, "T 1");
  double sq[4], z = 0;
  for (int i = 0; i < 4; i++) z += sq[i] = probs[i] * probs[i];
  for (int i = 0; i < 4; i++) sq[i] /= z;
  check_frequencies(l, 4, 0.5f, 1.f, sq, "T 0.5");
  /* top_p 0.75: {0, 1} renormalised */
  const double top2[4] = {0.5 / 0.8, 0.3 / 0.8, 0, 0};
  check_frequencies(l, 4, 1.f, 0.75f, top2, "top_p 0.75");
}

/* --------------------------------------------------------- penalties */

/* Greedy choices of a sampler with penalties over fixed logits. */
static void greedy_run(const duet_sampling_params *pp, const int *prompt, int n_prompt, const float *l, int V, int n,
                       int *out) {
  duet_sampling_params p = *pp;
  p.temperature = 0;
  duet_sampler *s;
  CHECK_OK(duet_sampler_new(&p, V, &s));
  if (!s) return;
  duet_sampler_add_prompt(s, prompt, n_prompt);
  for (int i = 0; i < n; i++) out[i] = sample_once(s, l, V);
  duet_sampler_free(s);
}

static void test_penalties(void) {
  duet_sampling_params p = defaults();
  int out[8], zero = 0;
  const float pos[2] = {2.f, 1.5f}, neg[2] = {-1.f, -1.5f};
  p.repetition_penalty = 2.f; /* 2 / 2 = 1 < 1.5 */
  greedy_run(&p, &zero, 1, pos, 2, 1, out);
  CHECK(out[0] == 1, "repetition 2 on a positive prompt logit divides");
  p.repetition_penalty = 1.2f; /* 2 / 1.2 = 1.67 > 1.5 */
  greedy_run(&p, &zero, 1, pos, 2, 1, out);
  CHECK(out[0] == 0, "repetition 1.2 keeps it ahead");
  p.repetition_penalty = 2.f; /* -1 * 2 = -2 < -1.5 */
  greedy_run(&p, &zero, 1, neg, 2, 1, out);
  CHECK(out[0] == 1, "repetition on a negative logit multiplies");
  p.repetition_penalty = 1.4f; /* -1.4 > -1.5 */
  greedy_run(&p, &zero, 1, neg, 2, 1, out);
  CHECK(out[0] == 0, "repetition 1.4 on a negative logit");
  greedy_run(&p, NULL, 0, pos, 2, 1, out);
  p.repetition_penalty = 2.f;
  greedy_run(&p, NULL, 0, pos, 2, 2, out);
  CHECK(out[0] == 0 && out[1] == 1, "repetition also counts the output");
  p = defaults();
  p.frequency_penalty = 0.3f; /* token 0: 1, 0.7, 0.4, 0.1, -0.2 < 0 */
  const float f[2] = {1.f, 0.f};
  greedy_run(&p, NULL, 0, f, 2, 6, out);
  CHECK(out[0] == 0 && out[1] == 0 && out[2] == 0 && out[3] == 0 && out[4] == 1 && out[5] == 0,
        "frequency penalty grows with the count: %d %d %d %d %d %d", out[0], out[1], out[2], out[3], out[4], out[5]);
  p = defaults();
  p.presence_penalty = 0.6f; /* token 0: 1 -> 0.4 (< 0.5) once seen, never more */
  const float q[2] = {1.f, 0.5f};
  greedy_run(&p, NULL, 0, q, 2, 4, out);
  CHECK(out[0] == 0 && out[1] == 1 && out[2] == 0 && out[3] == 0, "presence penalty once per token: %d %d %d %d",
        out[0], out[1], out[2], out[3]);
  greedy_run(&p, &zero, 1, q, 2, 1, out);
  CHECK(out[0] == 0, "presence ignores the prompt");
  p.presence_penalty = -0.6f; /* negative: encourages repeats */
  const float r[2] = {0.5f, 1.f};
  greedy_run(&p, NULL, 0, r, 2, 3, out);
  CHECK(out[0] == 1 && out[1] == 1 && out[2] == 1, "negative presence penalty");
  int bad_prompt[3] = {-5, 7, 1 << 30}; /* out-of-range ids are ignored, never indexed */
  greedy_run(&p, bad_prompt, 3, r, 2, 1, out);
  CHECK(out[0] == 1, "bad prompt ids ignored");
}

/* ------------------------------------------------------------ logprobs */

static void test_logprobs(void) {
  float l[5] = {1.f, 2.f, 3.f, 0.f, 3.f};
  double lse = 0;
  for (int i = 0; i < 5; i++) lse += exp(l[i]);
  lse = log(lse);
  duet_sampling_params p = defaults();
  p.temperature = 0, p.n_logprobs = 3, p.repetition_penalty = 1.5f;
  duet_sampler *s;
  CHECK_OK(duet_sampler_new(&p, 5, &s));
  int prompt = 2;
  duet_sampler_add_prompt(s, &prompt, 1); /* token 2: 3 / 1.5 = 2 -> greedy picks 4 */
  duet_token_logprobs lp;
  float c[5];
  memcpy(c, l, sizeof c);
  int id = duet_sample(s, c, &lp);
  CHECK(id == 4, "penalised greedy picks 4 (got %d)", id);
  CHECK(fabs(lp.logprob - (3 - lse)) < 1e-5, "chosen log-prob is raw: %g vs %g", lp.logprob, 3 - lse);
  CHECK(lp.n_top == 3 && lp.top_ids[0] == 2 && lp.top_ids[1] == 4 && lp.top_ids[2] == 1, "top ids by raw logit, ties low id first");
  CHECK(fabs(lp.top_logprobs[0] - (3 - lse)) < 1e-5 && fabs(lp.top_logprobs[2] - (2 - lse)) < 1e-5, "top log-probs");
  memcpy(c, l, sizeof c);
  id = duet_sample(s, c, &lp); /* 4 now penalised too (output): 2 vs 2 vs 2 -> id 1 */
  CHECK(id == 1 && fabs(lp.logprob - (2 - lse)) < 1e-5, "second step: %d, %g", id, lp.logprob);
  duet_sampler_free(s);
  p.n_logprobs = 20, p.repetition_penalty = 1;
  CHECK_OK(duet_sampler_new(&p, 5, &s));
  memcpy(c, l, sizeof c);
  duet_sample(s, c, &lp);
  CHECK(lp.n_top == 5, "n_top capped at vocab (%d)", lp.n_top);
  duet_sampler_free(s);
}

/* logit_bias moves the draw, not the reported (raw) log-probs; min_tokens
 * masks the end ids for exactly that many draws. */
static void test_bias_and_min_tokens(void) {
  const float l[5] = {1.f, 2.f, 3.f, 0.f, 2.5f};
  double lse = 0;
  for (int i = 0; i < 5; i++) lse += exp(l[i]);
  lse = log(lse);
  duet_sampling_params p = defaults();
  p.temperature = 0, p.n_logprobs = 2, p.n_bias = 2, p.presence_penalty = 0.5f;
  p.bias_ids[0] = 3, p.bias[0] = 5.f;   /* 0 -> 5: the new argmax */
  p.bias_ids[1] = 2, p.bias[1] = -100.f; /* banned in effect */
  duet_sampler *s;
  CHECK_OK(duet_sampler_new(&p, 5, &s));
  duet_token_logprobs lp;
  float c[5];
  memcpy(c, l, sizeof c);
  int id = duet_sample(s, c, &lp);
  CHECK(id == 3 && fabs(lp.logprob - (0 - lse)) < 1e-5, "bias picks 3 with its raw log-prob (%d, %g)", id, lp.logprob);
  CHECK(lp.top_ids[0] == 2 && lp.top_ids[1] == 4, "top log-probs are of the raw logits");
  memcpy(c, l, sizeof c);
  id = duet_sample(s, c, &lp); /* 3: 5 - 0.5 presence = 4.5 still wins */
  CHECK(id == 3 && fabs(lp.logprob - (0 - lse)) < 1e-5, "biased and penalised: raw log-prob (%d, %g)", id, lp.logprob);
  duet_sampler_free(s);

  p = defaults();
  p.temperature = 0, p.min_tokens = 2;
  int end[2] = {2, 4};
  CHECK_OK(duet_sampler_new(&p, 5, &s));
  CHECK_OK(duet_sampler_set_end_ids(s, end, 2));
  int got[3];
  for (int k = 0; k < 3; k++) memcpy(c, l, sizeof c), got[k] = duet_sample(s, c, NULL);
  CHECK(got[0] == 1 && got[1] == 1 && got[2] == 2, "min_tokens 2 masks 2 and 4 twice (%d %d %d)", got[0], got[1], got[2]);
  CHECK(duet_sampler_set_end_ids(s, end, DUET_MAX_END_IDS + 1) == DUET_EINVAL, "too many end ids");
  end[0] = 5;
  CHECK(duet_sampler_set_end_ids(s, end, 1) == DUET_EINVAL, "an end id outside the vocabulary");
  duet_sampler_free(s);

  const float two[2] = {1.f, 1.f};
  p = defaults();
  p.min_tokens = 1, p.n_bias = 1, p.bias_ids[0] = 1, p.bias[0] = -INFINITY; /* refused: not in [-100, 100] */
  CHECK(duet_sampler_new(&p, 2, &s) == DUET_EINVAL, "a bias outside [-100, 100]");
  p.bias[0] = 0.f, p.bias_ids[0] = 2;
  CHECK(duet_sampler_new(&p, 2, &s) == DUET_EINVAL, "a bias id outside the vocabulary");
  p.n_bias = 2, p.bias_ids[0] = 1, p.bias_ids[1] = 1;
  CHECK(duet_sampler_new(&p, 2, &s) == DUET_EINVAL, "a bias id twice");
  p.n_bias = 0, p.min_tokens = -1;
  CHECK(duet_sampler_new(&p, 2, &s) == DUET_EINVAL, "negative min_tokens");
  p.min_tokens = 1;
  int both[2] = {0, 1};
  CHECK_OK(duet_sampler_new(&p, 2, &s));
  CHECK_OK(duet_sampler_set_end_ids(s, both, 2));
  memcpy(c, two, sizeof two);
  CHECK(duet_sample(s, c, NULL) == DUET_ERANGE, "every token masked: an error, not a draw");
  duet_sampler_free(s);
}

/* ----------------------------------------------- a realistic vocabulary */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void test_large_vocab(void) {
  enum { V = 152064, N = 12 };
  float *l = malloc((size_t)V * 4), *c = malloc((size_t)V * 4);
  uint64_t x = 5;
  for (int i = 0; i < V; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    l[i] = (float)((x >> 11) * 0x1p-53) * 12.f; /* a spread like a real LM head's */
  }
  const struct {
    const char *what;
    int k;
    float p, T;
  } cfg[] = {{"top_k 40", 40, 1.f, 0.8f}, {"top_p 0.9", 0, 0.9f, 0.8f}, {"plain", 0, 1.f, 1.f}};
  for (int k = 0; k < 3; k++) {
    duet_sampling_params p = defaults();
    p.top_k = cfg[k].k, p.top_p = cfg[k].p, p.temperature = cfg[k].T, p.n_logprobs = 5;
    p.repetition_penalty = 1.1f, p.frequency_penalty = 0.1f;
    duet_sampler *s;
    CHECK_OK(duet_sampler_new(&p, V, &s));
    int prompt[64];
    for (int i = 0; i < 64; i++) prompt[i] = i * 997 % V;
    duet_sampler_add_prompt(s, prompt, 64);
    duet_token_logprobs lp;
    double t0 = now();
    int ok = 1;
    for (int i = 0; i < N; i++) {
      memcpy(c, l, (size_t)V * 4);
      int id = duet_sample(s, c, &lp);
      ok &= id >= 0 && id < V && lp.n_top == 5;
    }
    printf("vocab %d, %s: %.2f ms per token (shared machine, indicative)\n", V, cfg[k].what, (now() - t0) / N * 1e3);
    CHECK(ok, "%s: valid draws", cfg[k].what);
    duet_sampler_free(s);
  }
  free(l), free(c);
}

int main(void) {
  test_validate();
  test_greedy();
  test_seeds();
  test_filters();
  test_distribution();
  test_penalties();
  test_logprobs();
  test_bias_and_min_tokens();
  test_large_vocab();
  return finish();
}
