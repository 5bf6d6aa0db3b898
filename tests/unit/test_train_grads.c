/* The training model against PyTorch float32 (tests/fixtures/train, made by
 * gen_train_fixtures.py from the Hugging Face Llama definition): for each
 * tiny variant, the mean cross-entropy and every parameter's gradient
 * (within 1e-4 of each tensor's max-abs), then the losses of 10 AdamW
 * steps with clipping and warmup + cosine (within 1e-4 relative). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/dtype.h"
#include "engine/error.h"
#include "engine/safetensors.h"
#include "engine/train/llama_train.h"
#include "tests/unit/unit_check.h"


static const char *VARIANTS[] = {"llama", "gptj_tied", "qwen3", "sinusoidal", "qwen2"};

/* json [[...], ...] (B, T) -> ints; returns count */
static int read_ids(json_t *a, int *out, int cap) {
  int n = 0;
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *row = json_array_get(a, i);
    for (size_t j = 0; j < json_array_size(row) && n < cap; j++) out[n++] = (int)json_integer_value(json_array_get(row, j));
  }
  return n;
}

static double worst_grad_error(const duet_llama_train *m, const duet_st_file *exp, const char **worst_name) {
  double worst = 0;
  for (int i = 0; i < m->n_info; i++) {
    const duet_train_param *p = &m->info[i];
    const duet_st_tensor *e = duet_safetensors_find(exp, p->name);
    if (!e || (long)(e->nbytes / 4) != p->t->n) {
      *worst_name = p->name;
      return INFINITY;
    }
    float *ref = malloc(e->nbytes);
    duet_to_f32(e->dtype, e->data, ref, (size_t)p->t->n);
    double maxabs = 1e-30, err = 0;
    for (long j = 0; j < p->t->n; j++) maxabs = fmax(maxabs, fabs(ref[j]));
    for (long j = 0; j < p->t->n; j++) err = fmax(err, fabs(ref[j] - m->grads[p->offset + j]) / maxabs);
    if (err > worst) {
      worst = err;
      *worst_name = p->name;
    }
    free(ref);
  }
  return worst;
}

static void adamw_steps(duet_llama_train *m, duet_tape *t, json_t *batch, const char *dir) {
  json_t *a = json_object_get(batch, "adamw"), *steps = json_object_get(batch, "steps");
  duet_adamw_hparams hp = duet_adamw_defaults();
  hp.lr = json_number_value(json_object_get(a, "lr"));
  hp.beta1 = json_number_value(json_object_get(a, "beta1"));
  hp.beta2 = json_number_value(json_object_get(a, "beta2"));
  hp.eps = json_number_value(json_object_get(a, "eps"));
  hp.weight_decay = json_number_value(json_object_get(a, "weight_decay"));
  hp.warmup = json_integer_value(json_object_get(a, "warmup"));
  hp.total_steps = json_integer_value(json_object_get(a, "steps"));
  hp.min_lr_frac = json_number_value(json_object_get(a, "min_lr_frac"));
  float clip = json_number_value(json_object_get(a, "grad_clip"));
  char path[512];
  snprintf(path, sizeof path, "%s/adamw.json", dir);
  json_t *ref = json_load_file(path, 0, NULL);
  json_t *losses = json_object_get(ref, "losses");
  duet_adamw opt;
  CHECK(duet_adamw_init(&opt, m->n_params) == DUET_OK, "adamw init");
  double worst = 0;
  for (int s = 0; s < hp.total_steps; s++) {
    json_t *st = json_array_get(steps, s);
    int tok[64], tgt[64], B = json_array_size(json_object_get(st, "tokens"));
    int n = read_ids(json_object_get(st, "tokens"), tok, 64);
    read_ids(json_object_get(st, "targets"), tgt, 64);
    float loss = 0;
    CHECK(duet_llama_train_grad(m, t, tok, tgt, B, n / B, 1.0f, 0, &loss) == DUET_OK, "%s step %d: %s", dir, s,
          duet_last_error());
    duet_llama_train_adamw_step(m, &opt, &hp, s, clip);
    double r = json_number_value(json_array_get(losses, s));
    worst = fmax(worst, fabs(loss - r) / fabs(r));
  }
  CHECK(worst < 1e-4, "%s: 10 AdamW steps: worst loss error %.3g relative", dir, worst);
  printf("%-24s 10 AdamW step losses within %.2e relative\n", dir, worst);
  duet_adamw_free(&opt);
  json_decref(ref);
}

static void check_variant(const char *name) {
  char dir[256], path[512];
  snprintf(dir, sizeof dir, "fixtures/train/%s", name);
  duet_llama_train *m = NULL;
  int rc = duet_llama_train_load(dir, &m);
  CHECK(rc == DUET_OK, "load %s: %s", dir, duet_last_error());
  if (rc < 0) return;
  snprintf(path, sizeof path, "%s/batch.json", dir);
  json_t *batch = json_load_file(path, 0, NULL);
  CHECK(batch != NULL, "read %s", path);
  int tok[64], tgt[64], B = json_array_size(json_object_get(batch, "tokens"));
  int n = read_ids(json_object_get(batch, "tokens"), tok, 64);
  read_ids(json_object_get(batch, "targets"), tgt, 64);
  duet_tape t;
  duet_tape_init(&t, duet_llama_train_arena_bytes(&m->cfg, B, n / B), duet_llama_train_max_nodes(&m->cfg));
  float loss = 0;
  rc = duet_llama_train_grad(m, &t, tok, tgt, B, n / B, 1.0f, 0, &loss);
  CHECK(rc == DUET_OK, "%s grad: %s", name, duet_last_error());
  snprintf(path, sizeof path, "%s/expected.safetensors", dir);
  duet_st_file *exp = NULL;
  CHECK(duet_safetensors_open(path, &exp) == DUET_OK, "open %s: %s", path, duet_last_error());
  if (exp) {
    const duet_st_tensor *l = duet_safetensors_find(exp, "loss");
    float ref = 0;
    duet_to_f32(l->dtype, l->data, &ref, 1);
    double lerr = fabs(loss - ref) / fabs(ref);
    const char *wn = "";
    double gerr = worst_grad_error(m, exp, &wn);
    CHECK(lerr < 1e-5, "%s loss %.7f vs PyTorch %.7f", name, loss, ref);
    CHECK(gerr < 1e-4, "%s gradient %s: error %.3g of max-abs", name, wn, gerr);
    printf("%-24s loss error %.2e, worst gradient error %.2e of max-abs (%s)\n", dir, lerr, gerr, wn);
    duet_safetensors_close(exp);
  }
  adamw_steps(m, &t, batch, dir);
  json_decref(batch);
  duet_tape_free(&t);
  duet_llama_train_free(m);
}

/* AdamW over uneven shards of the flat buffer (what a fully-sharded rank
 * does with its slice) equals the update of the whole, bit for bit. */
static void check_sharded_adamw(void) {
  duet_llama_train *m = NULL;
  CHECK(duet_llama_train_load("fixtures/train/llama", &m) == 0, "load: %s", duet_last_error());
  if (!m) return;
  long n = m->n_params;
  float *p2 = malloc(sizeof(float) * n), *m2 = calloc(n, sizeof(float)), *v2 = calloc(n, sizeof(float));
  for (long i = 0; i < n; i++) m->grads[i] = 0.01f * (float)((i * 7919) % 201 - 100);
  memcpy(p2, m->params, sizeof(float) * n);
  duet_adamw o;
  duet_adamw_init(&o, n);
  duet_adamw_hparams hp = duet_adamw_defaults();
  duet_llama_train_adamw_range(m, m->params, m->grads, o.m, o.v, 0, n, 1, 1e-2f, &hp);
  long cuts[4] = {0, n / 3 + 5, 2 * n / 3 - 1, n};
  for (int s = 0; s < 3; s++) {
    long lo = cuts[s], hi = cuts[s + 1];
    duet_llama_train_adamw_range(m, p2 + lo, m->grads + lo, m2 + lo, v2 + lo, lo, hi, 1, 1e-2f, &hp);
  }
  CHECK(!memcmp(p2, m->params, sizeof(float) * n) && !memcmp(m2, o.m, sizeof(float) * n), "sharded AdamW == whole");
  int decayed = 0;
  for (int i = 0; i < m->n_info; i++) decayed += m->info[i].decay;
  CHECK(decayed == 1 + 2 * 7 + 1, "weight decay on the 2-D weights only (%d tensors)", decayed);
  duet_adamw_free(&o);
  free(p2), free(m2), free(v2);
  duet_llama_train_free(m);
}

/* ids "a,b,c" from a (B, T) json array */
static void ids_arg(json_t *a, char *out, size_t cap) {
  int ids[64], n = read_ids(a, ids, 64);
  size_t len = 0;
  out[0] = '\0';
  for (int i = 0; i < n && len < cap; i++) len += snprintf(out + len, cap - len, "%s%d", i ? "," : "", ids[i]);
}

/* `duet-train grads` writes the same loss and gradients (HF names). */
static void check_grads_command(void) {
  const char *bin = getenv("DUET_BIN");
  if (!bin) {
    printf("DUET_BIN unset: duet-train grads not checked\n");
    return;
  }
  char exe[512];
  snprintf(exe, sizeof exe, "%s/duet-train", bin);
  CHECK(access(exe, X_OK) == 0, "%s is not built", exe);
  json_t *batch = json_load_file("fixtures/train/llama/batch.json", 0, NULL);
  char tok[512], tgt[512], cmd[2048], out[] = "/tmp/duet-test-grads-XXXXXX";
  int fd = mkstemp(out);
  CHECK(batch && fd >= 0, "fixture batch and temp file");
  if (!batch || fd < 0) return;
  close(fd);
  ids_arg(json_object_get(batch, "tokens"), tok, sizeof tok);
  ids_arg(json_object_get(batch, "targets"), tgt, sizeof tgt);
  snprintf(cmd, sizeof cmd, "%s/duet-train grads --model fixtures/train/llama --tokens %s --targets %s --batch %d "
           "--out %s > /dev/null", bin, tok, tgt, (int)json_array_size(json_object_get(batch, "tokens")), out);
  CHECK(system(cmd) == 0, "%s", cmd);
  duet_st_file *got = NULL, *exp = NULL;
  CHECK(duet_safetensors_open(out, &got) == 0 && duet_safetensors_open("fixtures/train/llama/expected.safetensors", &exp) == 0,
        "open gradient files: %s", duet_last_error());
  for (int i = 0; got && exp && i < duet_safetensors_count(exp); i++) {
    const duet_st_tensor *e = duet_safetensors_tensor(exp, i), *g = duet_safetensors_find(got, e->name);
    double worst = 0, maxabs = 1e-30;
    for (size_t j = 0; g && g->nbytes == e->nbytes && j < e->nbytes / 4; j++) {
      float a, b;
      memcpy(&a, (const char *)e->data + 4 * j, 4), memcpy(&b, (const char *)g->data + 4 * j, 4);
      maxabs = fmax(maxabs, fabs(a)), worst = fmax(worst, fabs(a - b));
    }
    CHECK(g && g->nbytes == e->nbytes && worst / maxabs < 1e-4, "duet-train grads: %s differs (%.3g)", e->name,
          worst / maxabs);
  }
  CHECK(got && exp && duet_safetensors_count(got) == duet_safetensors_count(exp), "same tensors as the fixture");
  duet_safetensors_close(got);
  duet_safetensors_close(exp);
  unlink(out);
  json_decref(batch);
  snprintf(cmd, sizeof cmd, "%s/duet-train grads --model fixtures/train/llama --tokens 1,2 --targets 1,2,3 --out %s "
           "2>/dev/null", bin, out);
  CHECK(system(cmd) != 0 && access(out, F_OK) != 0, "mismatched tokens/targets refused, nothing written");
}

int main(void) {
  for (size_t i = 0; i < sizeof VARIANTS / sizeof *VARIANTS; i++) check_variant(VARIANTS[i]);
  check_grads_command();
  check_sharded_adamw();
  return finish();
}
