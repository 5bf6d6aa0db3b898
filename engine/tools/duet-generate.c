/* duet-generate: run a model from a Hugging Face directory on a prompt and
 * print the generated token ids (the engine alone: no server, no MPI).
 * See usage() for the output format, which scripts rely on. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cli_number.h"
#include "engine/error.h"
#include "engine/forward.h"
#include "engine/machine_peak.h"
#include "engine/sampler.h"
#include "engine/threads.h"
#include "engine/tokenizer.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: duet-generate --model DIR (--prompt-ids 1,2,3 | --prompt TEXT) [-n 64] [options]\n"
          "  --prompt TEXT    encoded with DIR's tokenizer.json (with its BOS/post-processor)\n"
          "  --temperature T  (default 0: greedy)   --top-k K   --top-p P   --min-p P\n"
          "  --repetition-penalty R   --presence-penalty P   --frequency-penalty F\n"
          "  --seed S          sampling is reproducible for a given seed (default 0)\n"
          "  --f32             convert BF16/F16 weights to float32 at load\n"
          "  --chunk C         prefill the prompt in chunks of C tokens (default: all at once)\n"
          "  --ignore-eos      generate exactly -n tokens even after the end-of-sequence id\n"
          "Output: stdout's first line is the generated ids, comma-separated, nothing else\n"
          "(e.g. \"17,4,99\"; empty when none). When DIR has a loadable tokenizer, the\n"
          "generated text (special tokens skipped) follows on the next lines of stdout.\n"
          "Generation stops after -n tokens or after emitting one of the model's eos ids\n"
          "(config.json's eos_token_id and generation_config.json's)\n"
          "(included). Prefill and decode tokens/s go to stderr.\n");
}

typedef struct {
  const char *model, *prompt_ids, *prompt_text;
  int n, f32, chunk, ignore_eos;
  duet_sampling_params sp;
} args;

static int parse_num(const char *flag, const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) { /* NaN fails too */
    fprintf(stderr, "duet-generate: %s: '%s' is not a number in [%g, %g]\n", flag, s, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_int(const char *flag, const char *s, long long lo, long long hi, long long *out) {
  if (duet_cli_int(flag, s, lo, hi, out) == 0) return 0;
  fprintf(stderr, "duet-generate: %s\n", duet_last_error());
  return -1;
}

static int parse_args(int argc, char **argv, args *a) {
  memset(a, 0, sizeof *a);
  a->n = 64;
  duet_sampling_defaults(&a->sp);
  a->sp.temperature = 0;
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (!strcmp(f, "-h") || !strcmp(f, "--help")) return usage(stdout), 1;
    if (!strcmp(f, "--f32")) { a->f32 = 1; continue; }
    if (!strcmp(f, "--ignore-eos")) { a->ignore_eos = 1; continue; }
    if (i + 1 >= argc) return fprintf(stderr, "duet-generate: unknown option or missing value: '%s'\n", f), usage(stderr), -1;
    const char *v = argv[++i];
    double d = 0;
    long long k = 0;
    int bad = 0;
    if (!strcmp(f, "--model")) a->model = v;
    else if (!strcmp(f, "--prompt-ids")) a->prompt_ids = v;
    else if (!strcmp(f, "--prompt")) a->prompt_text = v;
    else if (!strcmp(f, "-n")) bad = parse_int(f, v, 0, 1 << 20, &k), a->n = (int)k;
    else if (!strcmp(f, "--chunk")) bad = parse_int(f, v, 1, 1 << 20, &k), a->chunk = (int)k;
    else if (!strcmp(f, "--temperature")) bad = parse_num(f, v, 0, 1e9, &d), a->sp.temperature = (float)d;
    else if (!strcmp(f, "--top-k")) bad = parse_int(f, v, -1, INT_MAX, &k), a->sp.top_k = (int)k;
    else if (!strcmp(f, "--top-p")) bad = parse_num(f, v, -1e9, 1e9, &d), a->sp.top_p = (float)d;
    else if (!strcmp(f, "--min-p")) bad = parse_num(f, v, -1e9, 1e9, &d), a->sp.min_p = (float)d;
    else if (!strcmp(f, "--repetition-penalty")) bad = parse_num(f, v, -1e9, 1e9, &d), a->sp.repetition_penalty = (float)d;
    else if (!strcmp(f, "--presence-penalty")) bad = parse_num(f, v, -1e9, 1e9, &d), a->sp.presence_penalty = (float)d;
    else if (!strcmp(f, "--frequency-penalty")) bad = parse_num(f, v, -1e9, 1e9, &d), a->sp.frequency_penalty = (float)d;
    else if (!strcmp(f, "--seed")) bad = parse_int(f, v, 0, LLONG_MAX, &k), a->sp.seed = (uint64_t)k;
    else return fprintf(stderr, "duet-generate: unknown option '%s'\n", f), usage(stderr), -1;
    if (bad) return -1;
  }
  if (!a->model || (!a->prompt_ids == !a->prompt_text))
    return fprintf(stderr, "duet-generate: need --model and exactly one of --prompt-ids, --prompt\n"), usage(stderr), -1;
  return 0;
}

// "1,2,3" -> ids (malloc'd). Every id must be a non-negative integer; the
// range against the vocabulary is checked by the forward pass.
static int parse_ids(const char *s, int **out, int *n) {
  int cap = 16, cnt = 0, *ids = malloc(sizeof(int) * cap);
  const char *p = s;
  while (ids && *p) {
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || errno || v < 0 || v > INT_MAX || (*end && *end != ','))
      return free(ids), duet_error(DUET_EINVAL, "--prompt-ids: bad id at '%.20s' (want e.g. 1,2,3)", p);
    if (cnt == cap) {
      int *ni = realloc(ids, sizeof(int) * (cap *= 2));
      if (!ni) break;
      ids = ni;
    }
    ids[cnt++] = (int)v;
    p = *end ? end + 1 : end;
  }
  if (!ids) return duet_error(DUET_ENOMEM, "prompt ids");
  if (cnt == 0) return free(ids), duet_error(DUET_EINVAL, "--prompt-ids: empty prompt");
  *out = ids, *n = cnt;
  return DUET_OK;
}

typedef struct {
  duet_model *m;
  duet_kv_pool *pool;
  duet_workspace *ws;
  duet_sampler *sampler;
  duet_kv_seq seq;
  float *logits;
} session;

static int prefill(session *s, const int *ids, int n, int chunk) {
  for (int p = 0; p < n; p += chunk) {
    int c = n - p < chunk ? n - p : chunk;
    int rc = duet_prefill(s->m, s->pool, &s->seq, ids + p, c, p + c == n ? s->logits : NULL, 0, s->ws, NULL);
    if (rc < 0) return rc;
  }
  return DUET_OK;
}

// The generated text after the ids line, when a tokenizer is at hand.
static void print_text(const duet_tokenizer *tok, const int *ids, int n) {
  char *text = NULL;
  size_t len = 0;
  if (!tok) return;
  if (duet_tokenizer_decode(tok, ids, n, 1, &text, &len) < 0) {
    fprintf(stderr, "duet-generate: cannot decode the output: %s\n", duet_last_error());
    return;
  }
  fwrite(text, 1, len, stdout);
  printf("\n");
  free(text);
}

static int generate(const args *a, const int *prompt, int n_prompt, const duet_tokenizer *tok) {
  session s = {0};
  duet_kv_seq_init(&s.seq);
  duet_load_opts lo = {.to_f32 = a->f32};
  int rc = duet_model_load(a->model, &lo, &s.m);
  if (rc < 0) return rc;
  const duet_config *c = &s.m->cfg;
  int chunk = a->chunk && a->chunk < n_prompt ? a->chunk : n_prompt, total = n_prompt + a->n;
  if (total > c->max_pos)
    rc = duet_error(DUET_ERANGE, "prompt (%d) + -n (%d) exceeds the model's max_position_embeddings %d", n_prompt, a->n,
                    c->max_pos);
  if (rc == DUET_OK) rc = duet_kv_pool_new((total + 15) / 16, 16, c->n_layers, s.m->n_kv_heads_local, c->head_dim, &s.pool);
  if (rc == DUET_OK) rc = duet_workspace_new(s.m, chunk, &s.ws);
  if (rc == DUET_OK) rc = duet_sampling_validate(&a->sp, c->vocab);
  if (rc == DUET_OK) rc = duet_sampler_new(&a->sp, c->vocab, &s.sampler);
  int *out = malloc(sizeof(int) * (size_t)(a->n + 1));
  if (rc == DUET_OK && (!(s.logits = malloc(sizeof(float) * c->vocab)) || !out)) rc = duet_error(DUET_ENOMEM, "logits");
  double t0 = duet_now(), t1 = t0;
  int n_out = 0;
  if (rc == DUET_OK) rc = prefill(&s, prompt, n_prompt, chunk);
  if (rc == DUET_OK) {
    duet_sampler_add_prompt(s.sampler, prompt, n_prompt);
    t1 = duet_now();
    duet_kv_seq *sp = &s.seq;
    for (; n_out < a->n; n_out++) {
      int tok = out[n_out] = duet_sample(s.sampler, s.logits, NULL);
      if (tok < 0) { /* e.g. every logit NaN: an error, not a token id */
        rc = tok;
        break;
      }
      printf("%s%d", n_out ? "," : "", tok);
      if (!a->ignore_eos && duet_config_is_eos(c, tok)) { n_out++; break; }
      if (n_out + 1 < a->n && (rc = duet_decode(s.m, s.pool, &sp, &tok, 1, s.logits, s.ws, NULL)) < 0) break;
    }
    printf("\n");
    print_text(tok, out, n_out);
    fflush(stdout);
  }
  double t2 = duet_now();
  if (rc == DUET_OK)
    fprintf(stderr, "prefill: %d tokens in %.1f ms (%.1f tokens/s); decode: %d tokens in %.1f ms (%.1f tokens/s)\n",
            n_prompt, 1e3 * (t1 - t0), n_prompt / (t1 - t0), n_out > 1 ? n_out - 1 : 0, 1e3 * (t2 - t1),
            n_out > 1 ? (n_out - 1) / (t2 - t1) : 0.0);
  free(s.logits);
  free(out);
  duet_sampler_free(s.sampler);
  duet_workspace_free(s.ws);
  if (s.pool) duet_kv_seq_release(s.pool, &s.seq);
  duet_kv_pool_free(s.pool);
  duet_model_free(s.m);
  return rc;
}

int main(int argc, char **argv) {
  duet_threads_init(argv);
  args a;
  int pr = parse_args(argc, argv, &a);
  if (pr) return pr > 0 ? 0 : 2;
  int *prompt = NULL, n_prompt = 0, rc;
  duet_tokenizer *tok = NULL;
  // with --prompt-ids the tokenizer is optional (only to print the text)
  rc = duet_tokenizer_load(a.model, &tok);
  if (rc < 0 && a.prompt_text) {
    fprintf(stderr, "duet-generate: --prompt needs the model's tokenizer: %s\n", duet_last_error());
    return 1;
  }
  if (a.prompt_text) rc = duet_tokenizer_encode(tok, a.prompt_text, strlen(a.prompt_text), 1, &prompt, &n_prompt);
  else rc = parse_ids(a.prompt_ids, &prompt, &n_prompt);
  if (rc == DUET_OK && n_prompt == 0) rc = duet_error(DUET_EINVAL, "--prompt: the text encodes to no tokens");
  if (rc == DUET_OK) rc = generate(&a, prompt, n_prompt, tok);
  free(prompt);
  duet_tokenizer_free(tok);
  if (rc < 0) return fprintf(stderr, "duet-generate: %s\n", duet_last_error()), 1;
  return 0;
}
