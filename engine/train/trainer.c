#include "engine/train/trainer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/tokenizer.h"
#include "engine/train/checkpoint.h"
#include "engine/train/dataset.h"
#include "engine/train/llama_train.h"

void duet_train_opts_defaults(duet_train_opts *o) {
  memset(o, 0, sizeof *o);
  o->batch = 8;
  o->seq = 256;
  o->accum = 1;
  o->steps = 1000;
  o->eval_windows = 64;
  o->hp = duet_adamw_defaults();
  o->grad_clip = 1.0f;
  o->seed = 1337;
  o->val_frac = 0.1;
  o->save_dtype = DUET_F32;
  o->dp_size = 1;
}

void duet_train_result_free(duet_train_result *r) {
  free(r->loss);
  free(r->val);
  memset(r, 0, sizeof *r);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Everything one run holds. */
typedef struct {
  duet_train_opts o;
  duet_tokenizer *tok;
  const char *tok_dir;
  duet_dataset data;
  duet_llama_train *m;
  duet_adamw opt;
  duet_tape tape;
  duet_rng rng;
  int step; /* steps done */
  int *tokens, *targets;
  duet_train_result *res;
} run;

static long mem_available_bytes(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

/* Refuse a run that cannot fit before allocating it. */
static int check_memory(const duet_config *c, const duet_train_opts *o) {
  double need = duet_llama_train_count_params(c) * 4.0 * 6 /* params, grads, m, v, save copies */ +
                (double)duet_llama_train_arena_bytes(c, o->batch, o->seq);
  long have = mem_available_bytes();
  if (have > 0 && need > (double)have)
    return duet_error(DUET_ENOMEM, "model too big for memory: training it at batch %d x seq %d needs %.2f GB, %.2f GB "
                      "available", o->batch, o->seq, need / 1e9, have / 1e9);
  return DUET_OK;
}

static int check_opts(const duet_train_opts *o) {
  if (!o->out) return duet_error(DUET_EINVAL, "no --out directory");
  if (o->steps <= 0 || o->batch <= 0 || o->seq <= 0 || o->accum <= 0)
    return duet_error(DUET_EINVAL, "--steps %d, --batch %d, --seq %d, --accum %d must be positive", o->steps,
                      o->batch, o->seq, o->accum);
  if ((long)o->batch * o->seq > (1L << 28)) return duet_error(DUET_EINVAL, "--batch x --seq is too large");
  if (o->dp_size < 1 || o->dp_rank < 0 || o->dp_rank >= o->dp_size || (o->dp_size > 1 && !o->allreduce_sum))
    return duet_error(DUET_EINVAL, "data parallel: rank %d of %d (with an allreduce when > 1)", o->dp_rank,
                      o->dp_size);
  /* written so that NaN fails every test */
  if (!(o->hp.lr > 0 && isfinite(o->hp.lr) && o->hp.weight_decay >= 0 && isfinite(o->hp.weight_decay) &&
        o->grad_clip >= 0 && isfinite(o->grad_clip) && o->hp.eps > 0 && isfinite(o->hp.eps) && o->hp.beta1 >= 0 &&
        o->hp.beta1 < 1 && o->hp.beta2 >= 0 && o->hp.beta2 < 1 && o->hp.min_lr_frac >= 0 && o->hp.min_lr_frac <= 1))
    return duet_error(DUET_EINVAL, "--lr %g positive, --weight-decay %g and --grad-clip %g not negative, all finite; "
                      "--eps %g positive; --beta1 %g and --beta2 %g in [0, 1); --min-lr-frac %g in [0, 1]", o->hp.lr,
                      o->hp.weight_decay, o->grad_clip, o->hp.eps, o->hp.beta1, o->hp.beta2, o->hp.min_lr_frac);
  if (o->hp.warmup < 0) return duet_error(DUET_EINVAL, "--warmup %d is negative", o->hp.warmup);
  return DUET_OK;
}

/* The one rank that prints and writes files. */
static int writes(const duet_train_opts *o) { return o->dp_rank == 0 && !o->follower; }

/* The model: resumed, loaded from --init, or new from the shape flags. */
static int make_model(run *r) {
  const duet_train_opts *o = &r->o;
  int rc;
  if (o->resume || o->init) {
    const char *dir = o->resume ? o->resume : o->init;
    char path[4096];
    duet_config c;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = duet_config_load(path, &c)) < 0) return rc;
    if ((rc = check_memory(&c, o)) < 0) return rc;
    return duet_llama_train_load(dir, &r->m);
  }
  duet_config c = o->shape;
  int vocab = duet_tokenizer_vocab_size(r->tok);
  if (c.vocab <= 0) c.vocab = vocab;
  if (c.vocab < vocab)
    return duet_error(DUET_EINVAL, "--vocab-size %d is smaller than the tokenizer's %d tokens", c.vocab, vocab);
  if (c.n_heads <= 0 || (c.head_dim <= 0 && c.dim % c.n_heads != 0))
    return duet_error(DUET_EINVAL, "--dim %d does not divide into %d heads (or give --head-dim)", c.dim, c.n_heads);
  if (c.head_dim <= 0) c.head_dim = c.dim / c.n_heads;
  if (c.n_kv_heads <= 0) c.n_kv_heads = c.n_heads;
  if (c.max_pos < o->seq) c.max_pos = o->seq;
  c.bos_id = duet_tokenizer_bos_id(r->tok);
  c.eos_id = duet_tokenizer_eos_id(r->tok);
  if ((rc = duet_config_validate(&c)) < 0) return rc;
  if ((rc = check_memory(&c, o)) < 0) return rc;
  if ((rc = duet_llama_train_new(&c, &r->m)) < 0) return rc;
  duet_llama_train_init_random(r->m, o->seed);
  return DUET_OK;
}

static int setup(run *r) {
  duet_train_opts *o = &r->o;
  int rc;
  if (o->resume && (rc = duet_checkpoint_read_opts(o->resume, o)) < 0) return rc;
  if (o->resume && o->dp_size > 1) { /* the checkpoint records the global batch */
    if (o->batch % o->dp_size != 0)
      return duet_error(DUET_EINVAL, "--resume: the checkpoint's batch of %d does not divide over %d data-parallel "
                        "ranks", o->batch, o->dp_size);
    o->batch /= o->dp_size;
  }
  if ((rc = check_opts(o)) < 0) return rc;
  r->tok_dir = o->tokenizer ? o->tokenizer : o->resume ? o->resume : o->init;
  if (!r->tok_dir) return duet_error(DUET_EINVAL, "no tokenizer: give --tokenizer DIR (or --init DIR)");
  if ((rc = duet_tokenizer_load(r->tok_dir, &r->tok)) < 0) return rc;
  if ((rc = duet_dataset_build(&r->data, o->data, o->n_data, r->tok, o->val_frac, o->seq)) < 0) return rc;
  if (o->val_text_out && writes(o) &&
      (rc = duet_write_file_atomic(o->val_text_out, r->data.val_text, (size_t)r->data.val_bytes)) < 0)
    return rc;
  if ((rc = make_model(r)) < 0) return rc;
  if (duet_tokenizer_vocab_size(r->tok) > r->m->cfg.vocab)
    return duet_error(DUET_EINVAL, "the tokenizer has %d tokens, the model only %d", duet_tokenizer_vocab_size(r->tok),
                      r->m->cfg.vocab);
  if (r->m->cfg.max_pos < o->seq)
    return duet_error(DUET_EINVAL, "--seq %d exceeds the model's max_position_embeddings %d", o->seq,
                      r->m->cfg.max_pos);
  if ((rc = duet_adamw_init(&r->opt, r->m->n_params)) < 0) return rc;
  rc = duet_tape_init(&r->tape, duet_llama_train_arena_bytes(&r->m->cfg, o->batch, o->seq),
                      duet_llama_train_max_nodes(&r->m->cfg));
  if (rc < 0) return rc;
  size_t n = (size_t)o->batch * o->seq;
  r->tokens = malloc(n * sizeof(int));
  r->targets = malloc(n * sizeof(int));
  r->res->loss = calloc((size_t)o->steps, sizeof(float));
  r->res->val = calloc((size_t)o->steps, sizeof(float));
  if (!r->tokens || !r->targets || !r->res->loss || !r->res->val)
    return duet_error(DUET_ENOMEM, "trainer: out of memory");
  for (int i = 0; i < o->steps; i++) r->res->val[i] = NAN;
  duet_rng_seed(&r->rng, o->seed);
  if (o->resume && (rc = duet_checkpoint_read_state(o->resume, r->m, &r->opt, &r->rng, &r->step,
                                                   r->data.fingerprint, o->steps, r->res)) < 0)
    return rc;
  return o->strategy ? o->strategy->attach(o->strategy->ctx, &r->m, &r->opt) : DUET_OK;
}

static int forward_loss(run *r, int B, float *loss) {
  duet_tape_reset(&r->tape, 0);
  duet_tensor *l = duet_llama_train_loss(r->m, &r->tape, r->tokens, r->targets, B, r->o.seq);
  if (!l) return r->tape.err ? r->tape.err : DUET_EINVAL;
  *loss = l->data[0];
  return DUET_OK;
}

/* Mean validation loss over the first max_windows validation windows (all
 * when max_windows <= 0), batch by batch. */
static int evaluate(run *r, long max_windows, float *val_loss) {
  const duet_train_opts *o = &r->o;
  long nw = duet_dataset_val_windows(&r->data, o->seq, max_windows);
  double sum = 0;
  for (long w = 0; w < nw; w += o->batch) {
    int B = (int)(nw - w < o->batch ? nw - w : o->batch);
    for (int b = 0; b < B; b++)
      duet_dataset_val_window(&r->data, w + b, o->seq, r->tokens + (long)b * o->seq, r->targets + (long)b * o->seq);
    const duet_train_strategy *s = o->strategy;
    float l;
    int rc = s && s->eval ? s->eval(s->ctx, r->m, r->tokens, r->targets, B, o->seq, &l) : forward_loss(r, B, &l);
    if (rc < 0) return rc;
    sum += (double)l * B;
  }
  *val_loss = (float)(sum / nw);
  return DUET_OK;
}

static float bits_per_byte(const run *r, float val_loss) {
  return (float)(val_loss * (double)r->data.n_val / ((double)r->data.val_bytes * M_LN2));
}

/* Sum over the data-parallel group, then average. */
static void dp_mean(const run *r, float *buf, long n) {
  if (r->o.dp_size <= 1) return;
  r->o.allreduce_sum(buf, n, r->o.allreduce_ctx);
  duet_scale(buf, n, 1.0f / r->o.dp_size);
}

/* One optimizer step over accum micro-batches. */
static int train_step(run *r, float *loss) {
  const duet_train_opts *o = &r->o;
  double sum = 0;
  for (int a = 0; a < o->accum; a++) {
    duet_dataset_sample(&r->data, &r->rng, o->batch * o->dp_size, o->batch * o->dp_rank, o->batch, o->seq, r->tokens,
                        r->targets);
    float l = 0;
    const duet_train_strategy *s = o->strategy;
    int rc = s && s->grad ? s->grad(s->ctx, r->m, r->tokens, r->targets, o->batch, o->seq, 1.0f / o->accum, a > 0, &l)
                          : duet_llama_train_grad(r->m, &r->tape, r->tokens, r->targets, o->batch, o->seq,
                                                  1.0f / o->accum, a > 0, &l);
    if (rc < 0) return rc;
    sum += l;
  }
  *loss = (float)(sum / o->accum);
  if (!o->strategy) dp_mean(r, r->m->grads, r->m->n_params); /* a strategy reduces its own way */
  dp_mean(r, loss, 1);
  if (!isfinite(*loss)) return duet_error(DUET_ERANGE, "training diverged: loss %g at step %d", *loss, r->step + 1);
  if (o->strategy) return o->strategy->step(o->strategy->ctx, r->m, &r->opt, &o->hp, r->step, o->grad_clip);
  duet_llama_train_adamw_step(r->m, &r->opt, &o->hp, r->step, o->grad_clip);
  return DUET_OK;
}

static void progress(const run *r, float loss, float val, double t0, int step0) {
  if (!r->o.progress || !writes(&r->o)) return;
  double el = now_s() - t0;
  int done = r->step - step0, left = r->o.steps - r->step;
  double tps = el > 0 ? (double)done * r->o.batch * r->o.dp_size * r->o.seq * r->o.accum / el : 0;
  double eta = done > 0 ? el / done * left : 0;
  char vbuf[32] = "";
  if (isfinite(val)) snprintf(vbuf, sizeof vbuf, " | val %.4f", val);
  fprintf(stderr, "\rstep %d/%d | loss %.4f%s | %.0f tok/s | lr %.2e | ETA %dm%02ds   ", r->step, r->o.steps, loss,
          vbuf, tps, duet_lr_at(&r->o.hp, r->step - 1), (int)(eta / 60), (int)eta % 60);
  fflush(stderr);
}

/* Checkpoint (rank 0 only: every rank holds the same state). */
static int save(const run *r) {
  const duet_llama_train *m = r->m;
  const duet_adamw *opt = &r->opt;
  const duet_train_strategy *s = r->o.strategy;
  int rc = s ? s->gather(s->ctx, r->m, &r->opt, &m, &opt) : DUET_OK;
  if (rc < 0 || !writes(&r->o)) return rc;
  return duet_checkpoint_save(r->o.out, r->tok_dir, m, opt, &r->rng, r->step, r->data.fingerprint, &r->o, r->res);
}

static int loop(run *r) {
  const duet_train_opts *o = &r->o;
  double t0 = now_s();
  int step0 = r->step, rc;
  float val = NAN;
  while (r->step < o->steps) {
    if (o->eval_every > 0 && r->step % o->eval_every == 0) {
      if ((rc = evaluate(r, o->eval_windows, &val)) < 0) return rc;
      r->res->val[r->step] = val;
      if (o->progress && writes(o)) fprintf(stderr, "\n");
    }
    float loss;
    if ((rc = train_step(r, &loss)) < 0) return rc;
    r->res->loss[r->step++] = loss;
    r->res->n = r->step;
    progress(r, loss, val, t0, step0);
    int stop = o->stop_after > 0 && r->step >= o->stop_after && r->step < o->steps;
    if (stop || (o->save_every > 0 && r->step % o->save_every == 0 && r->step < o->steps)) {
      if ((rc = save(r)) < 0 || stop) return rc;
    }
  }
  double el = now_s() - t0;
  r->res->tokens_per_s = el > 0 ? (double)(r->step - step0) * o->batch * o->dp_size * o->seq * o->accum / el : 0;
  return DUET_OK;
}

/* The final validation covers every validation token, so bits per byte
 * describe the whole held-out text. */
static int finish(run *r) {
  int rc = evaluate(r, 0, &r->res->val_loss);
  if (rc < 0) return rc;
  r->res->val_bpb = bits_per_byte(r, r->res->val_loss);
  if ((rc = save(r)) < 0 || !writes(&r->o)) return rc;
  rc = duet_checkpoint_plot(r->o.out, r->res);
  if (r->o.progress)
    fprintf(stderr, "\ndone: %d steps, train loss %.4f, val loss %.4f, %.4f bits per byte (%ld val bytes), %.0f tok/s\n",
            r->step, r->res->n ? r->res->loss[r->res->n - 1] : NAN, r->res->val_loss, r->res->val_bpb,
            r->data.val_bytes, r->res->tokens_per_s);
  return rc;
}

/* --out: created, or an existing writable directory; checked before the
 * first step, not discovered at the first checkpoint. */
static int make_out_dir(const char *dir) {
  struct stat st;
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) return duet_error(DUET_EIO, "--out %s: %s", dir, strerror(errno));
  if (stat(dir, &st) < 0) return duet_error(DUET_EIO, "--out %s: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return duet_error(DUET_EINVAL, "--out %s: exists and is not a directory", dir);
  if (access(dir, W_OK | X_OK) < 0) return duet_error(DUET_EIO, "--out %s: %s", dir, strerror(errno));
  return DUET_OK;
}

int duet_train_run(const duet_train_opts *opts, duet_train_result *res) {
  memset(res, 0, sizeof *res);
  run r = {.o = *opts, .res = res};
  if (!r.o.out && r.o.resume) r.o.out = r.o.resume;
  int rc = setup(&r);
  if (rc >= 0 && writes(&r.o)) rc = make_out_dir(r.o.out);
  if (rc >= 0) rc = loop(&r);
  int stopped = r.o.stop_after > 0 && r.step < r.o.steps;
  if (rc >= 0 && !stopped) rc = finish(&r);
  free(r.tokens);
  free(r.targets);
  duet_tape_free(&r.tape);
  duet_adamw_free(&r.opt);
  duet_llama_train_free(r.m);
  duet_dataset_free(&r.data);
  duet_tokenizer_free(r.tok);
  return rc;
}
