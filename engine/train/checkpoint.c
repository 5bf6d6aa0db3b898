#include "engine/train/checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/safetensors.h"
#include "engine/svg_plot.h"

#define STATE_FILE "train_state.safetensors"

/* ---- tokenizer files: copied byte for byte ---- */

static int copy_file(const char *src_dir, const char *dst_dir, const char *name, int required) {
  char src[PATH_MAX], dst[PATH_MAX], rs[PATH_MAX], rd[PATH_MAX];
  snprintf(src, sizeof src, "%s/%s", src_dir, name);
  snprintf(dst, sizeof dst, "%s/%s", dst_dir, name);
  if (realpath(src, rs) && realpath(dst, rd) && strcmp(rs, rd) == 0) return DUET_OK; /* same file */
  FILE *f = fopen(src, "rb");
  if (!f) return required ? duet_error(DUET_ENOENT, "tokenizer file %s: %s", src, strerror(errno)) : DUET_OK;
  char *buf = NULL;
  size_t len = 0, cap = 0, n;
  int rc = DUET_OK;
  do {
    if (len == cap) {
      char *nb = realloc(buf, cap = cap ? 2 * cap : 1 << 16);
      if (!nb) {
        rc = duet_error(DUET_ENOMEM, "copying %s: out of memory", src);
        break;
      }
      buf = nb;
    }
    n = fread(buf + len, 1, cap - len, f);
    len += n;
  } while (n > 0);
  fclose(f);
  if (rc == DUET_OK) rc = duet_write_file_atomic(dst, buf, len);
  free(buf);
  return rc;
}

/* ---- metadata: every value a string (the safetensors rule) ---- */

static void set_num(json_t *o, const char *key, double v) {
  char s[64];
  snprintf(s, sizeof s, "%.17g", v);
  json_object_set_new(o, key, json_string(s));
}

static char *loss_log(const duet_train_result *res) {
  size_t cap = (size_t)res->n * 40 + 1;
  char *s = malloc(cap), *p = s;
  if (!s) return NULL;
  *p = '\0';
  for (int i = 0; i < res->n; i++) p += snprintf(p, cap - (p - s), "%.9g,%.9g;", res->loss[i], res->val[i]);
  return s;
}

static char *state_metadata(const duet_rng *rng, int step, uint64_t fp, const duet_train_opts *o,
                            const duet_train_result *res) {
  json_t *j = json_object();
  char s[32];
  snprintf(s, sizeof s, "%llu", (unsigned long long)rng->s);
  json_object_set_new(j, "rng", json_string(s));
  snprintf(s, sizeof s, "%llu", (unsigned long long)fp);
  json_object_set_new(j, "data_fingerprint", json_string(s));
  snprintf(s, sizeof s, "%llu", (unsigned long long)o->seed);
  json_object_set_new(j, "seed", json_string(s));
  set_num(j, "step", step);
  set_num(j, "steps", o->steps);
  set_num(j, "batch", (double)o->batch * o->dp_size); /* global: resumable with another data-parallel size */
  set_num(j, "seq", o->seq);
  set_num(j, "accum", o->accum);
  set_num(j, "eval_every", o->eval_every);
  set_num(j, "eval_windows", o->eval_windows);
  set_num(j, "save_every", o->save_every);
  set_num(j, "lr", o->hp.lr);
  set_num(j, "beta1", o->hp.beta1);
  set_num(j, "beta2", o->hp.beta2);
  set_num(j, "eps", o->hp.eps);
  set_num(j, "weight_decay", o->hp.weight_decay);
  set_num(j, "warmup", o->hp.warmup);
  set_num(j, "min_lr_frac", o->hp.min_lr_frac);
  set_num(j, "grad_clip", o->grad_clip);
  set_num(j, "val_frac", o->val_frac);
  set_num(j, "save_dtype", o->save_dtype);
  char *log = loss_log(res);
  json_object_set_new(j, "loss_log", json_string(log ? log : ""));
  free(log);
  char *out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(j);
  return out;
}

static int checkpoint_save(const char *dir, const char *tokenizer_dir, const duet_llama_train *m, const duet_adamw *opt,
                           const duet_rng *rng, int step, uint64_t fingerprint, const duet_train_opts *o,
                           const duet_train_result *res);

/* The files of one checkpoint (config.json, model.safetensors, the
 * tokenizer, train_state.safetensors) are each replaced atomically; an
 * interrupt (Ctrl-C, SIGTERM, SIGHUP) between two of them would leave
 * model.safetensors a step ahead of train_state.safetensors, and a
 * temporary file behind. Such a signal is held until the set is written,
 * then raised with the disposition it had before. A handler, not a
 * blocked mask: any thread of the process (the compute pool) may be the
 * one it is delivered to. (Under mpirun only the saving rank holds it.) */
static volatile sig_atomic_t held;
static const int save_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define N_SAVE_SIGNALS (int)(sizeof save_signals / sizeof *save_signals)

static void hold_signal(int sig) { held = sig; }

int duet_checkpoint_save(const char *dir, const char *tokenizer_dir, const duet_llama_train *m, const duet_adamw *opt,
                         const duet_rng *rng, int step, uint64_t fingerprint, const duet_train_opts *o,
                         const duet_train_result *res) {
  struct sigaction sa, old[N_SAVE_SIGNALS];
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = hold_signal;
  sa.sa_flags = SA_RESTART; /* a held signal must not fail a write with EINTR */
  sigemptyset(&sa.sa_mask);
  held = 0;
  for (int i = 0; i < N_SAVE_SIGNALS; i++) sigaction(save_signals[i], &sa, &old[i]);
  int rc = checkpoint_save(dir, tokenizer_dir, m, opt, rng, step, fingerprint, o, res);
  for (int i = 0; i < N_SAVE_SIGNALS; i++) sigaction(save_signals[i], &old[i], NULL);
  if (held) raise(held); /* with the previous disposition (ignored stays ignored) */
  return rc;
}

static int checkpoint_save(const char *dir, const char *tokenizer_dir, const duet_llama_train *m, const duet_adamw *opt,
                           const duet_rng *rng, int step, uint64_t fingerprint, const duet_train_opts *o,
                           const duet_train_result *res) {
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) return duet_error(DUET_EIO, "checkpoint %s: %s", dir, strerror(errno));
  int rc = duet_llama_train_save(m, dir, o->save_dtype);
  if (rc >= 0) rc = copy_file(tokenizer_dir, dir, "tokenizer.json", 1);
  if (rc >= 0) rc = copy_file(tokenizer_dir, dir, "tokenizer_config.json", 0);
  if (rc < 0) return rc;
  char *meta = state_metadata(rng, step, fingerprint, o, res);
  if (!meta) return duet_error(DUET_ENOMEM, "checkpoint: out of memory");
  duet_st_tensor ts[3] = {{.name = "adamw.m", .data = opt->m},
                          {.name = "adamw.v", .data = opt->v},
                          {.name = "params", .data = m->params}};
  for (int i = 0; i < 3; i++) {
    ts[i].dtype = DUET_F32;
    ts[i].ndim = 1;
    ts[i].shape[0] = m->n_params;
  }
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/" STATE_FILE, dir);
  rc = duet_safetensors_write(path, ts, 3, meta);
  free(meta);
  return rc;
}

/* ---- reading the state back ---- */

static int meta_num(const duet_st_file *f, const char *key, double *v) {
  const char *s = duet_safetensors_metadata(f, key);
  char *end;
  if (!s) return duet_error(DUET_EFORMAT, STATE_FILE ": metadata %s is missing", key);
  *v = strtod(s, &end);
  if (end == s || *end) return duet_error(DUET_EFORMAT, STATE_FILE ": metadata %s is not a number", key);
  return DUET_OK;
}

static int meta_u64(const duet_st_file *f, const char *key, uint64_t *v) {
  const char *s = duet_safetensors_metadata(f, key);
  if (!s) return duet_error(DUET_EFORMAT, STATE_FILE ": metadata %s is missing", key);
  *v = strtoull(s, NULL, 10);
  return DUET_OK;
}

static int open_state(const char *dir, duet_st_file **f) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/" STATE_FILE, dir);
  return duet_safetensors_open(path, f);
}

int duet_checkpoint_read_opts(const char *dir, duet_train_opts *o) {
  duet_st_file *f = NULL;
  int rc = open_state(dir, &f);
  if (rc < 0) return rc;
  static const char *keys[] = {"steps", "batch", "seq", "accum", "eval_every", "eval_windows", "save_every", "lr",
                               "beta1", "beta2", "eps", "weight_decay", "warmup", "min_lr_frac", "grad_clip",
                               "val_frac", "save_dtype"};
  double v[sizeof keys / sizeof *keys];
  for (size_t i = 0; rc >= 0 && i < sizeof keys / sizeof *keys; i++) rc = meta_num(f, keys[i], &v[i]);
  if (rc >= 0) rc = meta_u64(f, "seed", &o->seed);
  duet_safetensors_close(f);
  if (rc < 0) return rc;
  o->steps = (int)v[0], o->batch = (int)v[1], o->seq = (int)v[2], o->accum = (int)v[3];
  o->eval_every = (int)v[4], o->eval_windows = (int)v[5], o->save_every = (int)v[6];
  o->hp.lr = (float)v[7], o->hp.beta1 = (float)v[8], o->hp.beta2 = (float)v[9], o->hp.eps = (float)v[10];
  o->hp.weight_decay = (float)v[11], o->hp.warmup = (int)v[12], o->hp.min_lr_frac = (float)v[13];
  o->grad_clip = (float)v[14], o->val_frac = v[15], o->save_dtype = (duet_dtype)(int)v[16];
  o->hp.total_steps = o->steps;
  return DUET_OK;
}

static int read_vector(const duet_st_file *f, const char *name, float *dst, long n) {
  const duet_st_tensor *t = duet_safetensors_find(f, name);
  if (!t || t->dtype != DUET_F32 || t->nbytes != (size_t)n * sizeof(float))
    return duet_error(DUET_EFORMAT, STATE_FILE ": %s is missing or not %ld float32 values", name, n);
  memcpy(dst, t->data, t->nbytes);
  return DUET_OK;
}

static int read_log(const duet_st_file *f, int step, duet_train_result *res) {
  const char *s = duet_safetensors_metadata(f, "loss_log");
  if (!s) return duet_error(DUET_EFORMAT, STATE_FILE ": metadata loss_log is missing");
  for (int i = 0; i < step; i++) {
    char *end;
    res->loss[i] = strtof(s, &end);
    if (*end != ',') return duet_error(DUET_EFORMAT, STATE_FILE ": loss_log entry %d is malformed", i);
    res->val[i] = strtof(end + 1, &end);
    if (*end != ';') return duet_error(DUET_EFORMAT, STATE_FILE ": loss_log entry %d is malformed", i);
    s = end + 1;
  }
  res->n = step;
  return DUET_OK;
}

int duet_checkpoint_read_state(const char *dir, duet_llama_train *m, duet_adamw *opt, duet_rng *rng, int *step,
                               uint64_t fingerprint, int max_steps, duet_train_result *res) {
  duet_st_file *f = NULL;
  int rc = open_state(dir, &f);
  if (rc < 0) return rc;
  double st = 0;
  uint64_t fp = 0;
  if ((rc = meta_num(f, "step", &st)) >= 0 && (rc = meta_u64(f, "data_fingerprint", &fp)) >= 0 && fp != fingerprint)
    rc = duet_error(DUET_EINVAL, "--resume %s: the training data differ from the run that wrote it", dir);
  if (rc >= 0 && (st < 0 || st > max_steps))
    rc = duet_error(DUET_EFORMAT, STATE_FILE ": step %g is outside [0, %d]", st, max_steps);
  if (rc >= 0) rc = meta_u64(f, "rng", &rng->s);
  if (rc >= 0) rc = read_vector(f, "params", m->params, m->n_params);
  if (rc >= 0) rc = read_vector(f, "adamw.m", opt->m, opt->n);
  if (rc >= 0) rc = read_vector(f, "adamw.v", opt->v, opt->n);
  if (rc >= 0) {
    *step = (int)st;
    opt->step = *step;
    rc = read_log(f, *step, res);
  }
  duet_safetensors_close(f);
  return rc;
}

int duet_checkpoint_plot(const char *dir, const duet_train_result *res) {
  duet_plot *p = duet_plot_new("duet-train loss", "step", "loss (nats per token)");
  double *x = malloc(sizeof(double) * (res->n + 1)), *y = malloc(sizeof(double) * (res->n + 1));
  int rc = p && x && y ? DUET_OK : duet_error(DUET_ENOMEM, "loss plot: out of memory");
  for (int i = 0; rc >= 0 && i < res->n; i++) x[i] = i + 1, y[i] = res->loss[i];
  if (rc >= 0) rc = duet_plot_add(p, "train", x, y, res->n, DUET_PLOT_LINE);
  int nv = 0;
  for (int i = 0; rc >= 0 && i < res->n; i++)
    if (isfinite(res->val[i])) x[nv] = i, y[nv++] = res->val[i];
  if (rc >= 0 && isfinite(res->val_loss)) x[nv] = res->n, y[nv++] = res->val_loss;
  if (rc >= 0) rc = duet_plot_add(p, "validation", x, y, nv, DUET_PLOT_LINE_POINTS);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/loss.svg", dir);
  if (rc >= 0) rc = duet_plot_save(p, path);
  duet_plot_free(p);
  free(x);
  free(y);
  return rc;
}
