/* duet-bench-train: training tokens/s of duet's trainer beside PyTorch's,
 * measured in the same run, with this machine's sgemm peak and memory
 * bandwidth (engine/machine_peak.h).
 *
 * Default shape (the issue's): dim 288, 6 layers, 6 heads, hidden 768,
 * vocab 256, seq 256, batch 8, AdamW, all cores. A step is a full training
 * step: forward, backward, gradient clipping, AdamW update.
 *
 *   duet-bench-train [--steps N] [--warmup N] [--dim N --layers N --heads N
 *                    --kv-heads N --hidden N --vocab N --seq N --batch N]
 *                    [--no-torch] [--json FILE]
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/machine_peak.h"
#include "engine/train/llama_train.h"
#include "engine/threads.h"
#include "engine/train/rng.h"

typedef struct {
  int dim, layers, heads, kv_heads, hidden, vocab, seq, batch, steps, warmup, torch;
  const char *json;
} bench_opts;

static int parse(bench_opts *b, int argc, char **argv) {
  const char *names[] = {"--dim", "--layers", "--heads", "--kv-heads", "--hidden", "--vocab",
                         "--seq", "--batch", "--steps", "--warmup"};
  int *fields[] = {&b->dim, &b->layers, &b->heads, &b->kv_heads, &b->hidden, &b->vocab,
                   &b->seq, &b->batch, &b->steps, &b->warmup};
  for (int i = 1; i < argc; i++) {
    int found = 0;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: duet-bench-train [--dim N] [--layers N] [--heads N] [--kv-heads N] [--hidden N] [--vocab N]\n"
             "       [--seq N] [--batch N] [--steps N] [--warmup N] [--no-torch] [--json FILE]\n");
      exit(0);
    }
    if (!strcmp(argv[i], "--no-torch")) b->torch = 0, found = 1;
    else if (!strcmp(argv[i], "--json") && i + 1 < argc) b->json = argv[++i], found = 1;
    for (size_t k = 0; !found && k < sizeof names / sizeof *names; k++) {
      if (strcmp(argv[i], names[k]) || i + 1 >= argc) continue;
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end || v <= 0 || v > 1 << 20) {
        fprintf(stderr, "duet-bench-train: %s needs a positive integer\n", names[k]);
        return -1;
      }
      *fields[k] = (int)v, found = 1;
    }
    if (!found) {
      fprintf(stderr, "duet-bench-train: unknown option %s\n", argv[i]);
      return -1;
    }
  }
  return 0;
}

/* Training FLOPs per token: 6 x (matmul parameters) + causal attention
 * (q k^T and att v, forward 2 x 2 x T/2 x dim per token per layer, x3 with
 * backward). Embedding lookups are not FLOPs. */
static double flops_per_token(const duet_config *c, int T) {
  double q = (double)c->n_heads * c->head_dim, kv = (double)c->n_kv_heads * c->head_dim;
  double per_layer = c->dim * (q + 2 * kv) + q * c->dim + 3.0 * c->dim * c->hidden;
  double mm = c->n_layers * per_layer + (double)c->vocab * c->dim;
  return 6 * mm + 3 * c->n_layers * 2.0 * 2.0 * (T / 2.0) * q;
}

/* Timed duet steps; returns seconds per step or < 0. */
static double bench_duet(duet_llama_train *m, const bench_opts *b) {
  duet_tape t;
  if (duet_tape_init(&t, duet_llama_train_arena_bytes(&m->cfg, b->batch, b->seq), duet_llama_train_max_nodes(&m->cfg)) < 0)
    return -1;
  duet_adamw opt;
  duet_adamw_hparams hp = duet_adamw_defaults();
  hp.total_steps = b->steps + b->warmup;
  int n = b->batch * b->seq, *tok = malloc(sizeof(int) * n), *tgt = malloc(sizeof(int) * n);
  double t0 = 0, res = -1;
  duet_rng r;
  duet_rng_seed(&r, 1);
  if (duet_adamw_init(&opt, m->n_params) < 0 || !tok || !tgt) goto done;
  for (int s = 0; s < b->warmup + b->steps; s++) {
    if (s == b->warmup) t0 = duet_now();
    for (int i = 0; i < n; i++) tok[i] = (int)duet_rng_below(&r, b->vocab), tgt[i] = (int)duet_rng_below(&r, b->vocab);
    float loss;
    if (duet_llama_train_grad(m, &t, tok, tgt, b->batch, b->seq, 1.0f, 0, &loss) < 0) goto done;
    duet_llama_train_adamw_step(m, &opt, &hp, s, 1.0f);
  }
  res = (duet_now() - t0) / b->steps;
done:
  duet_adamw_free(&opt);
  duet_tape_free(&t);
  free(tok);
  free(tgt);
  return res;
}

/* Run the PyTorch script that sits beside this source file (__FILE__ is
 * absolute in a CMake build; $DUET_SRC overrides), in its default OpenMP
 * setting (duet_threads_init's spin setting removed); tokens/s or < 0. */
static double bench_torch(const bench_opts *b, int threads) {
  char cmd[2048], script[1024];
  const char *src = getenv("DUET_SRC");
  if (src) snprintf(script, sizeof script, "%s/engine/tools/duet-bench-train.py", src);
  else snprintf(script, sizeof script, "%.*s.py", (int)(strlen(__FILE__) - 2), __FILE__);
  snprintf(cmd, sizeof cmd,
           "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT /usr/bin/python3 %s --dim %d --layers %d --heads %d --kv-heads %d "
           "--hidden %d --vocab %d --seq %d --batch %d --steps %d --warmup %d --threads %d",
           script, b->dim, b->layers, b->heads, b->kv_heads, b->hidden, b->vocab, b->seq,
           b->batch, b->steps, b->warmup, threads);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char line[256];
  double tps = -1;
  while (fgets(line, sizeof line, p))
    if (sscanf(line, "torch tokens/s %lf", &tps) == 1) break;
  pclose(p);
  return tps;
}

int main(int argc, char **argv) {
  duet_threads_init(argv);
  bench_opts b = {288, 6, 6, 6, 768, 256, 256, 8, 10, 2, 1, NULL};
  if (parse(&b, argc, argv) < 0) return 2;
  duet_config c = {.arch = "llama", .dim = b.dim, .hidden = b.hidden, .n_layers = b.layers, .n_heads = b.heads,
                   .n_kv_heads = b.kv_heads, .head_dim = b.dim / b.heads, .vocab = b.vocab, .max_pos = b.seq,
                   .norm_eps = 1e-5f, .rope_theta = 10000.0f, .pos = DUET_POS_ROPE_NEOX, .bos_id = -1, .eos_id = -1};
  duet_llama_train *m = NULL;
  if (b.dim % b.heads || duet_llama_train_new(&c, &m) < 0) {
    fprintf(stderr, "duet-bench-train: bad shape: %s\n", b.dim % b.heads ? "dim % heads != 0" : duet_last_error());
    return 1;
  }
  duet_llama_train_init_random(m, 1);
  int threads = omp_get_max_threads();
  duet_machine_peak mp;
  if (duet_machine_peak_measure(&mp) == DUET_OK) duet_machine_peak_print(stdout, &mp);
  printf("shape: dim %d, layers %d, heads %d/%d, hidden %d, vocab %d, seq %d, batch %d: %.2fM parameters, %d threads\n",
         b.dim, b.layers, b.heads, b.kv_heads, b.hidden, b.vocab, b.seq, b.batch, m->n_params / 1e6, threads);
  double fpt = flops_per_token(&c, b.seq), step = bench_duet(m, &b);
  if (step < 0) {
    fprintf(stderr, "duet-bench-train: %s\n", duet_last_error());
    duet_llama_train_free(m);
    return 1;
  }
  double tps = b.batch * b.seq / step, gflops = tps * fpt / 1e9;
  printf("duet   %10.1f tokens/s  %8.1f ms/step  %6.1f GFLOP/s (%.0f%% of sgemm peak)\n", tps, step * 1e3, gflops,
         100 * gflops / mp.sgemm_gflops);
  double ttps = b.torch ? bench_torch(&b, threads) : -1;
  if (ttps > 0)
    printf("torch  %10.1f tokens/s  %8.1f ms/step  %6.1f GFLOP/s (%.0f%% of sgemm peak)\nduet / torch: %.2fx\n", ttps,
           b.batch * b.seq / ttps * 1e3, ttps * fpt / 1e9, 100 * ttps * fpt / 1e9 / mp.sgemm_gflops, tps / ttps);
  else if (b.torch)
    printf("torch: the PyTorch script did not run (python3-torch missing?)\n");
  if (b.json) {
    FILE *f = fopen(b.json, "w");
    if (f) {
      fprintf(f, "{\"sgemm_peak_gflops\": %.1f, \"read_gbps\": %.1f, \"threads\": %d, \"duet_tokens_per_s\": %.1f, "
                 "\"torch_tokens_per_s\": %.1f, \"duet_gflops\": %.1f}\n",
              mp.sgemm_gflops, mp.read_gbps, threads, tps, ttps, gflops);
      fclose(f);
    }
  }
  duet_llama_train_free(m);
  return 0;
}
