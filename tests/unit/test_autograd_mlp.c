/* The autograd tape used on its own: a small SwiGLU MLP built from the
 * engine ops, its gradient checked against central finite differences, then
 * trained with AdamW to fit a function. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/train/adamw.h"
#include "engine/train/autograd.h"
#include "tests/unit/unit_check.h"


enum { IN = 2, HID = 32, OUT = 1, BATCH = 64 };

typedef struct {
  float *params, *grads;
  long n;
  duet_tensor w_gate, b_gate, w_up, b_up, w_out, b_out;
} mlp;

static float frand(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return ((*s >> 8) / 16777216.0f) * 2.0f - 1.0f;
}

static duet_tensor *param(mlp *m, duet_tensor *t, long *off, int rows, int cols) {
  int shape[2] = {rows, cols};
  *t = duet_tensor_view(m->params + *off, m->grads + *off, cols ? 2 : 1, cols ? shape : &shape[0]);
  *off += t->n;
  return t;
}

static void mlp_init(mlp *m, unsigned seed) {
  m->n = (long)HID * IN * 2 + HID * 2 + OUT * HID + OUT;
  m->params = calloc(m->n, sizeof(float));
  m->grads = calloc(m->n, sizeof(float));
  long off = 0;
  param(m, &m->w_gate, &off, HID, IN);
  param(m, &m->b_gate, &off, HID, 0);
  param(m, &m->w_up, &off, HID, IN);
  param(m, &m->b_up, &off, HID, 0);
  param(m, &m->w_out, &off, OUT, HID);
  param(m, &m->b_out, &off, OUT, 0);
  for (long i = 0; i < m->n; i++) m->params[i] = 0.5f * frand(&seed);
}

/* x (BATCH, IN) -> loss of (BATCH, OUT) against y */
static duet_tensor *mlp_loss(mlp *m, duet_tape *t, float *x, const float *y) {
  int shape[2] = {BATCH, IN};
  duet_tensor *xin = duet_tape_tensor(t, 2, shape, 0);
  if (!xin) return NULL;
  memcpy(xin->data, x, sizeof(float) * BATCH * IN);
  duet_tensor *g = duet_ag_linear(t, xin, &m->w_gate, &m->b_gate);
  duet_tensor *u = duet_ag_linear(t, xin, &m->w_up, &m->b_up);
  duet_tensor *h = duet_ag_swiglu(t, g, u);
  duet_tensor *o = duet_ag_linear(t, h, &m->w_out, &m->b_out);
  return duet_ag_mse(t, o, y);
}

static void make_batch(float *x, float *y, unsigned *seed) {
  for (int i = 0; i < BATCH; i++) {
    x[i * 2] = 2.0f * frand(seed);
    x[i * 2 + 1] = 2.0f * frand(seed);
    y[i] = sinf(2.0f * x[i * 2]) * 0.5f * x[i * 2 + 1];
  }
}

static float loss_at(mlp *m, duet_tape *t, float *x, const float *y) {
  duet_tape_reset(t, 0);
  duet_tensor *l = mlp_loss(m, t, x, y);
  return l ? l->data[0] : NAN;
}

static void test_gradient(duet_tape *t) {
  mlp m;
  mlp_init(&m, 7);
  float x[BATCH * IN], y[BATCH];
  unsigned s = 3;
  make_batch(x, y, &s);
  duet_tape_reset(t, 1);
  duet_tensor *l = mlp_loss(&m, t, x, y);
  CHECK(l && duet_tape_backward(t, l, 1.0f) == DUET_OK, "backward: %s", duet_last_error());
  double worst = 0, gmax = 0;
  for (long i = 0; i < m.n; i++) gmax = fmax(gmax, fabs(m.grads[i]));
  for (long i = 0; i < m.n; i++) {
    float save = m.params[i], h = 1e-2f;
    m.params[i] = save + h;
    double lp = loss_at(&m, t, x, y);
    m.params[i] = save - h;
    double lm = loss_at(&m, t, x, y);
    m.params[i] = save;
    double fd = (lp - lm) / (2 * h);
    worst = fmax(worst, fabs(fd - m.grads[i]) / gmax);
  }
  CHECK(worst < 1e-2, "MLP gradient vs central differences: worst error %.3g of max |g| %.3g", worst, gmax);
  free(m.params);
  free(m.grads);
}

static void test_fit(duet_tape *t) {
  mlp m;
  mlp_init(&m, 11);
  duet_adamw opt;
  CHECK(duet_adamw_init(&opt, m.n) == DUET_OK, "adamw init");
  duet_adamw_hparams hp = duet_adamw_defaults();
  hp.lr = 3e-2f;
  hp.weight_decay = 0;
  hp.warmup = 10;
  hp.total_steps = 1500;
  float x[BATCH * IN], y[BATCH], first = 0, last = 0;
  unsigned s = 5;
  for (int step = 0; step < hp.total_steps; step++) {
    make_batch(x, y, &s);
    memset(m.grads, 0, sizeof(float) * m.n);
    duet_tape_reset(t, 1);
    duet_tensor *l = mlp_loss(&m, t, x, y);
    if (!l || duet_tape_backward(t, l, 1.0f) < 0) {
      CHECK(0, "step %d: %s", step, duet_last_error());
      break;
    }
    if (step == 0) first = l->data[0];
    duet_adamw_update(m.params, m.grads, opt.m, opt.v, m.n, step + 1, duet_lr_at(&hp, step), 0, &hp);
  }
  unsigned ts = 99; /* held-out points */
  make_batch(x, y, &ts);
  last = loss_at(&m, t, x, y);
  CHECK(last < 0.01f && last < first / 10, "MLP fit: mse %.4f at start, %.4f after training", first, last);
  printf("MLP fits sin(2a)*b/2: mse %.4f -> %.4f\n", first, last);
  duet_adamw_free(&opt);
  free(m.params);
  free(m.grads);
}

static void test_errors(duet_tape *t) {
  duet_tape_reset(t, 1);
  int s1[2] = {4, 3}, s2[2] = {5, 2};
  duet_tensor *a = duet_tape_tensor(t, 2, s1, 1), *w = duet_tape_tensor(t, 2, s2, 1);
  CHECK(a && w, "tensors");
  CHECK(duet_ag_linear(t, a, w, NULL) == NULL && t->err == DUET_EINVAL, "shape mismatch refused");
  CHECK(duet_ag_add(t, a, a) == NULL, "a failed tape stays failed until reset");
  duet_tape small;
  CHECK(duet_tape_init(&small, 256, 4) == DUET_OK, "small tape");
  int big[1] = {1000};
  CHECK(duet_tape_tensor(&small, 1, big, 0) == NULL && small.err == DUET_ENOMEM, "arena full is an error");
  duet_tape_free(&small);
}

int main(void) {
  duet_tape t;
  if (duet_tape_init(&t, 1 << 20, 64) < 0) return 1;
  test_gradient(&t);
  test_fit(&t);
  test_errors(&t);
  duet_tape_free(&t);
  return finish();
}
