/* duet-train: train a Llama-family model (see engine/train/trainer.h).
 *
 *   duet-train --data FILE... --out DIR [--init DIR | shape flags] [options]
 *   duet-train --resume DIR --data FILE... [--stop-after N]
 *   duet-train tokenizer ...      train a byte-level BPE tokenizer
 *   duet-train grads --model DIR --tokens IDS --targets IDS --out FILE
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bpe_train.h"
#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/parallel/train.h"
#include "engine/safetensors.h"
#include "engine/train/llama_train.h"
#include "engine/threads.h"
#include "engine/train/trainer.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: duet-train --data FILE... --out DIR [--init DIR | --dim N --layers N --heads N [--kv-heads N]\n"
          "                  --hidden N [--vocab-size N] [--head-dim N] [--pos rope_neox|rope_gptj|sinusoidal]\n"
          "                  [--max-pos N (default --seq)] [--tied] [--qk-norm | --qkv-bias] [--rope-theta X]]\n"
          "                  [--tokenizer DIR]\n"
          "                  [--steps N] [--batch N] [--seq N] [--accum N] [--lr X] [--warmup N] [--min-lr-frac X]\n"
          "                  [--weight-decay X] [--beta1 X] [--beta2 X] [--grad-clip X] [--seed N]\n"
          "                  [--eval-every N] [--eval-windows N] [--save-every N] [--val-frac X]\n"
          "                  [--dtype f32|bf16] [--val-text FILE] [--quiet]\n"
          "                  [--parallel dp|fsdp|tp|pp[,mb=M]|dp=N,tp=M|fsdp=N,tp=M|dp=N,pp=M]   (under mpirun; --batch is global)\n"
          "       duet-train --resume DIR --data FILE... [--out DIR] [--stop-after N] [--quiet]\n"
          "       duet-train tokenizer ...   (byte-level BPE training; see duet-train tokenizer --help)\n"
          "       duet-train grads --model DIR --tokens IDS --targets IDS [--batch B] --out FILE.safetensors\n"
          "IDS: comma-separated token ids, B rows of T each (B*T ids).\n");
}

static const char *parallel_spec; /* --parallel: engine/parallel/train.h */

static int parse_long(const char *flag, const char *s, long lo, long hi, long *v) {
  char *end;
  *v = s ? strtol(s, &end, 10) : 0;
  if (!s || end == s || *end || *v < lo || *v > hi)
    return duet_error(DUET_EINVAL, "%s needs an integer in [%ld, %ld] (got %s)", flag, lo, hi, s ? s : "nothing");
  return DUET_OK;
}

static int parse_double(const char *flag, const char *s, double *v) {
  char *end;
  *v = s ? strtod(s, &end) : 0;
  if (!s || end == s || *end || !isfinite(*v))
    return duet_error(DUET_EINVAL, "%s needs a finite number (got %s)", flag, s ? s : "nothing");
  return DUET_OK;
}

/* Integer flags: name -> field. */
static int *int_flag(duet_train_opts *o, const char *f) {
  static const char *names[] = {"--dim", "--layers", "--heads", "--kv-heads", "--hidden", "--vocab-size", "--head-dim",
                                "--max-pos", "--steps", "--batch", "--seq", "--accum", "--warmup", "--eval-every",
                                "--eval-windows", "--save-every", "--stop-after"};
  int *fields[] = {&o->shape.dim, &o->shape.n_layers, &o->shape.n_heads, &o->shape.n_kv_heads, &o->shape.hidden,
                   &o->shape.vocab, &o->shape.head_dim, &o->shape.max_pos, &o->steps, &o->batch, &o->seq, &o->accum,
                   &o->hp.warmup, &o->eval_every, &o->eval_windows, &o->save_every, &o->stop_after};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (!strcmp(f, names[i])) return fields[i];
  return NULL;
}

static float *float_flag(duet_train_opts *o, const char *f) {
  static const char *names[] = {"--lr", "--min-lr-frac", "--weight-decay", "--beta1", "--beta2", "--grad-clip",
                                "--rope-theta", "--eps"};
  float *fields[] = {&o->hp.lr, &o->hp.min_lr_frac, &o->hp.weight_decay, &o->hp.beta1, &o->hp.beta2, &o->grad_clip,
                     &o->shape.rope_theta, &o->hp.eps};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (!strcmp(f, names[i])) return fields[i];
  return NULL;
}

static void shape_defaults(duet_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->arch, sizeof c->arch, "llama");
  c->norm_eps = 1e-5f;
  c->rope_theta = 10000.0f;
  c->pos = DUET_POS_ROPE_NEOX;
  c->dtype = DUET_F32;
}

static int parse_pos(const char *s, duet_pos_kind *p) {
  if (s && !strcmp(s, "rope_neox")) *p = DUET_POS_ROPE_NEOX;
  else if (s && !strcmp(s, "rope_gptj")) *p = DUET_POS_ROPE_GPTJ;
  else if (s && !strcmp(s, "sinusoidal")) *p = DUET_POS_SINUSOIDAL;
  else return duet_error(DUET_EINVAL, "--pos must be rope_neox, rope_gptj or sinusoidal (got %s)", s ? s : "nothing");
  return DUET_OK;
}

/* One flag at argv[*i] (its value, if any, consumed). */
static int parse_flag(duet_train_opts *o, int argc, char **argv, int *i) {
  const char *f = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
  long n;
  double d;
  int *ip;
  float *fp;
  if (!strcmp(f, "--data")) { /* may be repeated: every file of every --data */
    static const char **files;
    if (!files && !(files = calloc((size_t)argc, sizeof *files)))
      return duet_error(DUET_ENOMEM, "--data: out of memory");
    while (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) files[o->n_data++] = argv[++*i];
    o->data = files;
    return DUET_OK;
  }
  if (!strcmp(f, "--tied")) return o->shape.tied = 1, DUET_OK;
  if (!strcmp(f, "--qk-norm")) return o->shape.qk_norm = 1, snprintf(o->shape.arch, 32, "qwen3"), DUET_OK;
  if (!strcmp(f, "--qkv-bias")) return o->shape.qkv_bias = 1, snprintf(o->shape.arch, 32, "qwen2"), DUET_OK;
  if (!strcmp(f, "--quiet")) return o->progress = 0, DUET_OK;
  ++*i;
  if (!strcmp(f, "--out")) return v ? (o->out = v, DUET_OK) : duet_error(DUET_EINVAL, "--out needs a directory");
  if (!strcmp(f, "--init")) return v ? (o->init = v, DUET_OK) : duet_error(DUET_EINVAL, "--init needs a directory");
  if (!strcmp(f, "--resume")) return v ? (o->resume = v, DUET_OK) : duet_error(DUET_EINVAL, "--resume needs a directory");
  if (!strcmp(f, "--tokenizer"))
    return v ? (o->tokenizer = v, DUET_OK) : duet_error(DUET_EINVAL, "--tokenizer needs a directory");
  if (!strcmp(f, "--pos")) return parse_pos(v, &o->shape.pos);
  if (!strcmp(f, "--parallel"))
    return v ? (parallel_spec = v, DUET_OK) : duet_error(DUET_EINVAL, "--parallel needs a mode (dp, fsdp, tp, dp=2,tp=2)");
  if (!strcmp(f, "--val-text"))
    return v ? (o->val_text_out = v, DUET_OK) : duet_error(DUET_EINVAL, "--val-text needs a file name");
  if (!strcmp(f, "--dtype")) {
    if (v && !strcmp(v, "f32")) return o->save_dtype = DUET_F32, DUET_OK;
    if (v && !strcmp(v, "bf16")) return o->save_dtype = DUET_BF16, DUET_OK;
    return duet_error(DUET_EINVAL, "--dtype must be f32 or bf16");
  }
  if (!strcmp(f, "--seed")) return parse_long(f, v, 0, __LONG_MAX__, &n) < 0 ? DUET_EINVAL : (o->seed = n, DUET_OK);
  if (!strcmp(f, "--val-frac")) return parse_double(f, v, &o->val_frac);
  if ((ip = int_flag(o, f))) return parse_long(f, v, 0, 1 << 30, &n) < 0 ? DUET_EINVAL : (*ip = (int)n, DUET_OK);
  if ((fp = float_flag(o, f))) return parse_double(f, v, &d) < 0 ? DUET_EINVAL : (*fp = (float)d, DUET_OK);
  return duet_error(DUET_EINVAL, "unknown option %s (see --help)", f);
}

/* Output files are replaced by rename (atomic writes): refuse a path that
 * exists and is not a regular file before any work is done. */
static int check_out_file(const char *flag, const char *path) {
  if (duet_atomic_check(path) == DUET_OK) return DUET_OK;
  return duet_error(DUET_EINVAL, "%s %s: exists and is not a regular file", flag, path);
}

/* Flags that --init (the shape) or --resume (the shape and the run's
 * settings, read from train_state.safetensors) would silently ignore. */
static const char *const SHAPE_FLAGS[] = {"--dim", "--layers", "--heads", "--kv-heads", "--hidden", "--vocab-size",
                                          "--head-dim", "--max-pos", "--pos", "--tied", "--qk-norm", "--qkv-bias",
                                          "--rope-theta", NULL};
static const char *const RUN_FLAGS[] = {"--steps", "--batch", "--seq", "--accum", "--lr", "--warmup", "--min-lr-frac",
                                        "--weight-decay", "--beta1", "--beta2", "--grad-clip", "--seed", "--eval-every",
                                        "--eval-windows", "--save-every", "--val-frac", "--dtype", "--eps", "--init",
                                        NULL};

static int in_list(const char *f, const char *const *list) {
  for (int i = 0; list[i]; i++)
    if (!strcmp(f, list[i])) return 1;
  return 0;
}

static int cmd_train(int argc, char **argv) {
  const char *ignored_shape = NULL, *ignored_run = NULL;
  duet_train_opts o;
  duet_train_opts_defaults(&o);
  o.progress = 1;
  shape_defaults(&o.shape);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout), 0;
    if (!ignored_shape && in_list(argv[i], SHAPE_FLAGS)) ignored_shape = argv[i];
    if (!ignored_run && in_list(argv[i], RUN_FLAGS)) ignored_run = argv[i];
    if (parse_flag(&o, argc, argv, &i) < 0) {
      fprintf(stderr, "duet-train: %s\n", duet_last_error());
      return 2;
    }
  }
  if (o.resume && (ignored_shape || ignored_run)) {
    fprintf(stderr, "duet-train: --resume continues the run in %s with its own shape and settings; %s cannot be "
            "changed\n", o.resume, ignored_shape ? ignored_shape : ignored_run);
    return 2;
  }
  if (o.shape.qk_norm && o.shape.qkv_bias) {
    fprintf(stderr, "duet-train: --qk-norm (Qwen3) and --qkv-bias (Qwen2) are two architectures; give one\n");
    return 2;
  }
  if (o.init && ignored_shape) {
    fprintf(stderr, "duet-train: --init %s takes the model shape from its config.json; %s would be ignored\n", o.init,
            ignored_shape);
    return 2;
  }
  o.hp.total_steps = o.steps;
  if (check_out_file("--val-text", o.val_text_out) < 0) {
    fprintf(stderr, "duet-train: %s\n", duet_last_error());
    return 2;
  }
  if (o.n_data == 0) {
    fprintf(stderr, "duet-train: no --data file given\n");
    usage(stderr);
    return 2;
  }
  if (!o.init && !o.resume && (o.shape.dim <= 0 || o.shape.n_layers <= 0 || o.shape.n_heads <= 0 || o.shape.hidden <= 0)) {
    fprintf(stderr, "duet-train: give --init DIR, --resume DIR, or the shape (--dim --layers --heads --hidden)\n");
    return 2;
  }
  duet_train_result res;
  int rc = parallel_spec ? duet_parallel_train(parallel_spec, &o, &res) : duet_train_run(&o, &res);
  duet_train_result_free(&res);
  if (rc < 0) {
    if (!parallel_spec) fprintf(stderr, "\nduet-train: %s\n", duet_last_error()); /* else printed on its rank */
    return 1;
  }
  return 0;
}

/* "1,2,3" -> ids; returns count or a negative error. */
static int parse_ids(const char *flag, const char *s, int **out) {
  int n = 0, cap = 0;
  *out = NULL;
  while (s && *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || (*end && *end != ',') || errno || v < -1 || v > 0x7fffffff) {
      free(*out);
      return duet_error(DUET_EINVAL, "%s: expected comma-separated ids (integers in [-1, 2^31)) near \"%.20s\"", flag, s);
    }
    if (n == cap) *out = realloc(*out, sizeof(int) * (cap = cap ? 2 * cap : 64));
    (*out)[n++] = (int)v;
    s = *end ? end + 1 : end;
  }
  return n > 0 ? n : duet_error(DUET_EINVAL, "%s: no token ids", flag);
}

static int write_grads(const duet_llama_train *m, float loss, const char *path) {
  duet_st_tensor *ts = calloc((size_t)m->n_info + 1, sizeof *ts);
  if (!ts) return duet_error(DUET_ENOMEM, "grads: out of memory");
  ts[0] = (duet_st_tensor){.name = "loss", .dtype = DUET_F32, .ndim = 1, .shape = {1}, .data = &loss};
  for (int i = 0; i < m->n_info; i++) {
    const duet_train_param *p = &m->info[i];
    duet_st_tensor *t = &ts[i + 1];
    t->name = p->name;
    t->dtype = DUET_F32;
    t->ndim = p->t->ndim;
    for (int d = 0; d < t->ndim; d++) t->shape[d] = p->t->shape[d];
    t->data = m->grads + p->offset;
  }
  int rc = duet_safetensors_write(path, ts, m->n_info + 1, NULL);
  free(ts);
  return rc;
}

static int grads_run(const char *model, const char *tok_s, const char *tgt_s, int B, const char *out) {
  int *tok = NULL, *tgt = NULL, rc;
  int n = parse_ids("--tokens", tok_s, &tok), nt = parse_ids("--targets", tgt_s, &tgt);
  duet_llama_train *m = NULL;
  duet_tape t = {0};
  if ((rc = n < 0 ? n : nt) < 0 || (rc = check_out_file("--out", out)) < 0) goto done;
  if (n != nt || n % B != 0) {
    rc = duet_error(DUET_EINVAL, "%d tokens and %d targets must be equal and a multiple of --batch %d", n, nt, B);
    goto done;
  }
  if ((rc = duet_llama_train_load(model, &m)) < 0) goto done;
  if (n / B > m->cfg.max_pos) {
    rc = duet_error(DUET_EINVAL, "%d tokens per row exceed max_position_embeddings %d", n / B, m->cfg.max_pos);
    goto done;
  }
  rc = duet_tape_init(&t, duet_llama_train_arena_bytes(&m->cfg, B, n / B), duet_llama_train_max_nodes(&m->cfg));
  float loss = 0;
  if (rc >= 0) rc = duet_llama_train_grad(m, &t, tok, tgt, B, n / B, 1.0f, 0, &loss);
  if (rc >= 0) rc = write_grads(m, loss, out);
  if (rc >= 0) printf("loss %.7f, %d parameter gradients -> %s\n", loss, m->n_info, out);
done:
  duet_tape_free(&t);
  duet_llama_train_free(m);
  free(tok);
  free(tgt);
  return rc;
}

static int cmd_grads(int argc, char **argv) {
  const char *model = NULL, *tok = NULL, *tgt = NULL, *out = NULL;
  long B = 1;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout), 0;
    else if (!strcmp(argv[i], "--model")) model = v, i++;
    else if (!strcmp(argv[i], "--tokens")) tok = v, i++;
    else if (!strcmp(argv[i], "--targets")) tgt = v, i++;
    else if (!strcmp(argv[i], "--out")) out = v, i++;
    else if (!strcmp(argv[i], "--batch") && parse_long("--batch", v, 1, 1 << 20, &B) == 0) i++;
    else {
      fprintf(stderr, "duet-train grads: bad option %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (!model || !tok || !tgt || !out) {
    fprintf(stderr, "duet-train grads: --model, --tokens, --targets and --out are required\n");
    return 2;
  }
  if (grads_run(model, tok, tgt, (int)B, out) < 0) {
    fprintf(stderr, "duet-train grads: %s\n", duet_last_error());
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  duet_threads_init(argv);
  if (argc >= 2 && !strcmp(argv[1], "tokenizer")) return duet_bpe_train_cli(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "grads")) return cmd_grads(argc - 1, argv + 1);
  return cmd_train(argc, argv);
}
