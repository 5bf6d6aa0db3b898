/* The training loop end to end on a tiny model and a generated corpus:
 *  - the same seed gives the same run bit for bit (losses and weights);
 *  - a run stopped at step 5 and resumed with --resume gives exactly the
 *    losses of the uninterrupted run;
 *  - gradient accumulation (batch 2 x accum 2) equals batch 4;
 *  - the checkpoint is a Hugging Face directory duet_model_load reads;
 *  - bad input is refused before any work, with a message naming it. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/error.h"
#include "engine/model.h"
#include "engine/train/llama_train.h"
#include "engine/train/trainer.h"
#include "tests/unit/unit_check.h"


static char tmp[256], data_path[320];
static const char *data_files[1] = {data_path};

/* ~24 KB of pseudo-English from a fixed word list and a fixed LCG. */
static void write_corpus(const char *path) {
  static const char *words[] = {"the", "and", "of", "that", "he", "in", "unto", "shall", "lord", "his",
                                "them", "they", "be", "is", "him", "not", "said", "all", "thou", "for"};
  FILE *f = fopen(path, "w");
  unsigned s = 42;
  for (int line = 0; line < 600; line++) {
    int n = 4 + line % 7;
    for (int w = 0; w < n; w++) {
      s = s * 1103515245u + 12345u;
      fprintf(f, "%s%s", w ? " " : "", words[(s >> 16) % 20]);
    }
    fprintf(f, ".\n");
  }
  fclose(f);
}

static duet_train_opts base_opts(const char *out) {
  duet_train_opts o;
  duet_train_opts_defaults(&o);
  o.data = data_files;
  o.n_data = 1;
  o.out = out;
  o.tokenizer = "fixtures/train/tok";
  memset(&o.shape, 0, sizeof o.shape);
  snprintf(o.shape.arch, sizeof o.shape.arch, "llama");
  o.shape.dim = 32, o.shape.n_layers = 2, o.shape.n_heads = 4, o.shape.n_kv_heads = 2, o.shape.hidden = 64;
  o.shape.norm_eps = 1e-5f, o.shape.rope_theta = 10000.0f;
  o.steps = 12, o.batch = 4, o.seq = 32, o.eval_every = 4, o.eval_windows = 4;
  o.hp.lr = 1e-2f, o.hp.warmup = 2, o.hp.total_steps = o.steps;
  return o;
}

static int run(duet_train_opts o, duet_train_result *r) {
  int rc = duet_train_run(&o, r);
  if (rc < 0) printf("train %s: %s\n", o.out, duet_last_error());
  return rc;
}

static int same_losses(const duet_train_result *a, const duet_train_result *b) {
  return a->n == b->n && !memcmp(a->loss, b->loss, sizeof(float) * a->n) &&
         !memcmp(a->val, b->val, sizeof(float) * a->n) && a->val_loss == b->val_loss;
}

static int same_params(const char *da, const char *db) {
  duet_llama_train *a = NULL, *b = NULL;
  int same = duet_llama_train_load(da, &a) == 0 && duet_llama_train_load(db, &b) == 0 && a->n_params == b->n_params &&
             !memcmp(a->params, b->params, sizeof(float) * a->n_params);
  duet_llama_train_free(a);
  duet_llama_train_free(b);
  return same;
}

static void test_reproducible_and_resume(void) {
  char a[300], b[300], c[300];
  snprintf(a, sizeof a, "%s/a", tmp), snprintf(b, sizeof b, "%s/b", tmp), snprintf(c, sizeof c, "%s/c", tmp);
  duet_train_result ra, rb, rc;
  CHECK(run(base_opts(a), &ra) == 0, "uninterrupted run");
  CHECK(ra.n == 12 && ra.loss[11] < ra.loss[0], "loss falls: %.4f -> %.4f", ra.loss[0], ra.loss[ra.n ? ra.n - 1 : 0]);
  CHECK(isfinite(ra.val[4]) && isnan(ra.val[5]) && ra.val_bpb > 0, "validation every 4 steps, bpb %.3f", ra.val_bpb);
  CHECK(run(base_opts(c), &rc) == 0 && same_losses(&ra, &rc), "same seed, same losses bit for bit");
  CHECK(same_params(a, c), "same seed, same weights bit for bit");
  duet_train_opts ob = base_opts(b);
  ob.stop_after = 5;
  CHECK(run(ob, &rb) == 0 && rb.n == 5, "stopped after 5 steps");
  duet_train_result_free(&rb);
  duet_train_opts orr = base_opts(NULL);
  orr.resume = b;
  orr.hp.lr = 1; /* ignored: the checkpoint's hyper-parameters win */
  CHECK(run(orr, &rb) == 0 && same_losses(&ra, &rb), "resumed run equals the uninterrupted one");
  CHECK(same_params(a, b), "resumed weights equal the uninterrupted ones");
  duet_model *m = NULL;
  duet_load_opts lo = {.to_f32 = 1};
  CHECK(duet_model_load(a, &lo, &m) == 0, "checkpoint loads with duet_model_load: %s", duet_last_error());
  duet_model_free(m);
  char svg[320];
  snprintf(svg, sizeof svg, "%s/loss.svg", a);
  CHECK(access(svg, R_OK) == 0, "loss curve written");
  duet_train_result_free(&ra), duet_train_result_free(&rb), duet_train_result_free(&rc);
}

static void test_accumulation(void) {
  char a[300], b[300];
  snprintf(a, sizeof a, "%s/acc1", tmp), snprintf(b, sizeof b, "%s/acc2", tmp);
  duet_train_opts o1 = base_opts(a), o2 = base_opts(b);
  o1.steps = o2.steps = o1.hp.total_steps = o2.hp.total_steps = 4;
  o2.batch = 2, o2.accum = 2;
  duet_train_result r1 = {0}, r2 = {0};
  CHECK(run(o1, &r1) == 0 && run(o2, &r2) == 0, "accumulation runs");
  double worst = 0;
  for (int i = 0; i < r1.n && i < r2.n; i++) worst = fmax(worst, fabs(r1.loss[i] - r2.loss[i]) / r1.loss[i]);
  CHECK(r1.n == 4 && r2.n == 4 && worst < 1e-5, "batch 4 vs 2 x accum 2: worst relative loss difference %.3g", worst);
  duet_train_result_free(&r1), duet_train_result_free(&r2);
}

/* Two data-parallel "ranks" as threads, summing through a shared buffer
 * (the role MPI_Allreduce plays under mpirun): batch 2 on each must equal
 * batch 4 in one process. */
typedef struct {
  pthread_barrier_t bar;
  float *slot[2];
} fake_group;

typedef struct {
  fake_group *g;
  int rank, rc;
  duet_train_opts o;
  duet_train_result res;
} fake_rank;

static void fake_allreduce(float *buf, long n, void *ctx) {
  fake_rank *r = ctx;
  r->g->slot[r->rank] = buf;
  pthread_barrier_wait(&r->g->bar);
  float *sum = malloc(sizeof(float) * n);
  for (long i = 0; i < n; i++) sum[i] = r->g->slot[0][i] + r->g->slot[1][i];
  pthread_barrier_wait(&r->g->bar); /* both have read both before either writes */
  memcpy(buf, sum, sizeof(float) * n);
  free(sum);
}

static void *fake_rank_main(void *arg) {
  fake_rank *r = arg;
  r->rc = duet_train_run(&r->o, &r->res);
  return NULL;
}

static void test_data_parallel_hook(void) {
  char a[300], b[300];
  snprintf(a, sizeof a, "%s/dp1", tmp), snprintf(b, sizeof b, "%s/dp2", tmp);
  duet_train_opts o1 = base_opts(a);
  o1.steps = o1.hp.total_steps = 4;
  duet_train_result r1 = {0};
  CHECK(run(o1, &r1) == 0, "single-process run");
  fake_group g = {0};
  pthread_barrier_init(&g.bar, NULL, 2);
  fake_rank ranks[2];
  pthread_t th[2];
  for (int i = 0; i < 2; i++) {
    ranks[i] = (fake_rank){.g = &g, .rank = i, .o = o1};
    ranks[i].o.out = b, ranks[i].o.batch = 2;
    ranks[i].o.dp_rank = i, ranks[i].o.dp_size = 2;
    ranks[i].o.allreduce_sum = fake_allreduce, ranks[i].o.allreduce_ctx = &ranks[i];
    pthread_create(&th[i], NULL, fake_rank_main, &ranks[i]);
  }
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  double worst = 0;
  for (int i = 0; i < r1.n && i < ranks[0].res.n; i++)
    worst = fmax(worst, fabs(r1.loss[i] - ranks[0].res.loss[i]) / r1.loss[i]);
  CHECK(ranks[0].rc == 0 && ranks[1].rc == 0 && ranks[0].res.n == 4 && worst < 1e-5,
        "2 ranks x batch 2 vs batch 4: worst relative loss difference %.3g", worst);
  CHECK(ranks[1].res.n == 4 && !memcmp(ranks[0].res.loss, ranks[1].res.loss, 4 * sizeof(float)),
        "both ranks report the same losses");
  for (int i = 0; i < 2; i++) duet_train_result_free(&ranks[i].res);
  duet_train_result_free(&r1);
  pthread_barrier_destroy(&g.bar);
}

static void expect_error(duet_train_opts o, int code, const char *needle) {
  duet_train_result r;
  int rc = duet_train_run(&o, &r);
  duet_train_result_free(&r);
  CHECK(rc == code && strstr(duet_last_error(), needle), "want error %d mentioning \"%s\", got %d: %s", code, needle,
        rc, duet_last_error());
}

static void test_bad_input(void) {
  char out[300], empty[320];
  snprintf(out, sizeof out, "%s/bad", tmp);
  duet_train_opts o = base_opts(out);
  const char *missing[1] = {"/nonexistent/data.txt"};
  o.data = missing;
  expect_error(o, DUET_ENOENT, "/nonexistent/data.txt");
  snprintf(empty, sizeof empty, "%s/empty.txt", tmp);
  fclose(fopen(empty, "w"));
  const char *e[1] = {empty};
  o.data = e;
  expect_error(o, DUET_EINVAL, "no text");
  o = base_opts(out);
  o.shape.n_heads = 5;
  expect_error(o, DUET_EINVAL, "heads");
  o = base_opts(out);
  o.shape.n_kv_heads = 3;
  expect_error(o, DUET_EINVAL, "key_value_heads");
  o = base_opts(out);
  o.shape.dim = 1 << 16, o.shape.n_heads = 64, o.shape.n_layers = 200, o.shape.hidden = 1 << 17;
  expect_error(o, DUET_ENOMEM, "too big for memory");
  o = base_opts(out);
  o.seq = 100000;
  expect_error(o, DUET_EINVAL, "seq + 1");
  struct stat st;
  CHECK(stat(out, &st) != 0, "no output written for bad input");
}

int main(void) {
  snprintf(tmp, sizeof tmp, "/tmp/duet-test-train-XXXXXX");
  if (!mkdtemp(tmp)) return 1;
  snprintf(data_path, sizeof data_path, "%s/corpus.txt", tmp);
  write_corpus(data_path);
  test_reproducible_and_resume();
  test_accumulation();
  test_data_parallel_hook();
  test_bad_input();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
  if (system(cmd) != 0) printf("could not remove %s\n", tmp);
  return finish();
}
