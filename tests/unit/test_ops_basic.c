/* The elementwise and row ops of engine/ops: rmsnorm (also as the per-head
 * q/k norm), swiglu, residual, embedding, sinusoidal encoding and
 * cross-entropy: fast vs reference, backward vs central differences, and
 * bad-input refusals. */
#include <stdint.h>

#include "engine/error.h"
#include "engine/ops/crossentropy.h"
#include "engine/ops/dtype.h"
#include "engine/ops/embedding.h"
#include "engine/ops/residual.h"
#include "engine/ops/rmsnorm.h"
#include "engine/ops/sinusoidal.h"
#include "engine/ops/swiglu.h"
#include "tests/unit/test_ops_check.h"

typedef struct {
  const float *x, *w;
  int N, C;
} norm_ctx;

static void norm_run(void *c, float *out) {
  norm_ctx *a = c;
  duet_rmsnorm_forward(out, NULL, a->x, a->w, a->N, a->C, 1e-5f);
}

static void test_rmsnorm(int N, int C, long step) {
  long n = (long)N * C;
  float *x = rand_buf(n, 2), *w = rand_buf(C, 1), *a = malloc(n * 4), *b = malloc(n * 4), *rs = malloc(N * 4);
  float *rs2 = malloc(N * 4);
  duet_rmsnorm_forward_ref(a, rs, x, w, N, C, 1e-5f);
  duet_rmsnorm_forward(b, rs2, x, w, N, C, 1e-5f);
  CHECK(rel_err(b, a, n, 1) < 1e-6 && rel_err(rs2, rs, N, 1) < 1e-6, "rmsnorm N=%d C=%d fast vs ref %.3g", N, C,
        rel_err(b, a, n, 1));
  double ss = 0;
  for (int i = 0; i < C; i++) ss += (double)x[i] * x[i];
  CHECK(fabs(a[0] - x[0] / sqrt(ss / C + 1e-5) * w[0]) < 1e-6, "rmsnorm value");
  float *r = rand_buf(n, 1), *dx = const_buf(n, 0.5f), *dw = const_buf(C, 0.5f);
  duet_rmsnorm_backward(dx, dw, r, x, w, rs2, N, C);
  norm_ctx c = {x, w, N, C};
  loss_fn f = {norm_run, &c, a, r, n};
  check_grad_step("rmsnorm dx", &f, x, n, step, dx, 0.5f, 1e-2f, 3e-3);
  check_grad("rmsnorm dw", &f, w, C, dw, 0.5f, 1e-2f, 3e-3);
  float *dw2 = const_buf(C, 0.5f);
  duet_rmsnorm_backward(NULL, dw2, r, x, w, rs2, N, C); /* input without gradient */
  CHECK(rel_err(dw2, dw, C, 1) == 0, "rmsnorm dw alone == dw with dx");
  free(dw2);
  free(x), free(w), free(a), free(b), free(rs), free(rs2), free(r), free(dx), free(dw);
}

/* Qwen3 q/k norm: (rows, heads, hd) normalised per head = N = rows*heads. */
static void test_head_norm(void) {
  int rows = 3, heads = 4, hd = 8;
  float *x = rand_buf(rows * heads * hd, 1), *w = rand_buf(hd, 1), *a = malloc(rows * heads * hd * 4);
  duet_rmsnorm_forward(a, NULL, x, w, rows * heads, hd, 1e-6f);
  const float *h = x + (2 * heads + 1) * hd; /* row 2, head 1 */
  double ss = 0;
  for (int i = 0; i < hd; i++) ss += (double)h[i] * h[i];
  CHECK(fabs(a[(2 * heads + 1) * hd + 3] - h[3] / sqrt(ss / hd + 1e-6) * w[3]) < 1e-6, "per-head norm");
  free(x), free(w), free(a);
}

typedef struct {
  const float *g, *u;
  long n;
} glu_ctx;

static void glu_run(void *c, float *out) {
  glu_ctx *a = c;
  duet_swiglu_forward(out, a->g, a->u, a->n);
}

static void test_swiglu(void) {
  long n = 45;
  float *g = rand_buf(n, 6), *u = rand_buf(n, 2), *a = malloc(n * 4), *b = malloc(n * 4);
  g[0] = -100, g[1] = 100; /* saturated ends */
  duet_swiglu_forward_ref(a, g, u, n);
  duet_swiglu_forward(b, g, u, n);
  CHECK(rel_err(b, a, n, 1) < 1e-6, "swiglu fast vs ref %.3g", rel_err(b, a, n, 1));
  CHECK(fabsf(a[1] - 100 * u[1]) < 1e-4f && fabsf(a[0]) < 1e-30f, "silu limits");
  long big = 100003;
  float *G = rand_buf(big, 8), *U = rand_buf(big, 1), *A = malloc(big * 4), *B = malloc(big * 4);
  duet_swiglu_forward_ref(A, G, U, big);
  duet_swiglu_forward(B, G, U, big);
  CHECK(rel_err(B, A, big, 1) < 1e-6, "swiglu large (OpenMP) %.3g", rel_err(B, A, big, 1));
  g[0] = 0.3f, g[1] = -2;
  float *r = rand_buf(n, 1), *dg = const_buf(n, 0.5f), *du = const_buf(n, 0.5f);
  duet_swiglu_backward(dg, du, r, g, u, n);
  glu_ctx c = {g, u, n};
  loss_fn f = {glu_run, &c, a, r, n};
  check_grad("swiglu dgate", &f, g, n, dg, 0.5f, 1e-2f, 3e-3);
  check_grad("swiglu dup", &f, u, n, du, 0.5f, 1e-2f, 3e-3);
  /* residual: trivially linear, check values and accumulation */
  duet_residual_forward(b, g, u, n);
  duet_residual_forward_ref(a, g, u, n);
  CHECK(rel_err(b, a, n, 1) == 0 && b[5] == g[5] + u[5], "residual");
  float *da = const_buf(n, 1), *db = const_buf(n, 2);
  duet_residual_backward(da, db, r, n);
  CHECK(da[7] == 1 + r[7] && db[7] == 2 + r[7], "residual backward accumulates");
  free(g), free(u), free(a), free(b), free(G), free(U), free(A), free(B), free(r), free(dg), free(du), free(da),
      free(db);
}

static void test_embedding(void) {
  int V = 11, C = 19, N = 6, tok[6] = {3, 0, 10, 3, 7, 3};
  float *t = rand_buf(V * C, 1), *a = malloc(N * C * 4), *b = malloc(N * C * 4);
  uint16_t *tb = malloc(V * C * 2);
  for (int i = 0; i < V * C; i++) tb[i] = duet_f32_to_bf16(t[i]);
  duet_matrix m = {DUET_F32, V, C, t}, mb = {DUET_BF16, V, C, tb};
  CHECK(duet_embedding_forward(b, tok, &m, N) == 0 && b[2 * C + 4] == t[10 * C + 4], "gather");
  duet_embedding_forward_ref(a, tok, &mb, N);
  duet_embedding_forward(b, tok, &mb, N);
  CHECK(rel_err(b, a, N * C, 1) == 0 && b[C] == duet_bf16_to_f32(tb[0]), "bf16 gather fast vs ref");
  int bad[2] = {1, 11};
  CHECK(duet_embedding_forward(b, bad, &m, 2) == DUET_ERANGE, "token == V refused");
  CHECK(strstr(duet_last_error(), "11") != NULL, "message names the token: %s", duet_last_error());
  bad[1] = -1;
  CHECK(duet_embedding_forward_ref(b, bad, &m, 2) == DUET_ERANGE, "negative token refused");
  float *d = rand_buf(N * C, 1), *dt = const_buf(V * C, 0.5f);
  duet_embedding_backward(dt, d, tok, N, V, C);
  CHECK(fabsf(dt[3 * C + 2] - (0.5f + d[2] + d[3 * C + 2] + d[5 * C + 2])) < 1e-6f && dt[C] == 0.5f,
        "scatter-add sums repeated tokens, leaves unused rows");
  free(t), free(a), free(b), free(tb), free(d), free(dt);
}

static void test_sinusoidal(void) {
  int N = 3, C = 10, pos[3] = {0, 1, 37};
  float *x = rand_buf(N * C, 1), *a = malloc(N * C * 4), *b = malloc(N * C * 4);
  duet_sinusoidal_forward_ref(a, x, pos, N, C, 10000);
  duet_sinusoidal_forward(b, x, pos, N, C, 10000);
  CHECK(rel_err(b, a, N * C, 1) == 0, "sinusoidal fast vs ref");
  CHECK(fabsf(a[0] - x[0]) < 1e-7f && fabsf(a[1] - (x[1] + 1)) < 1e-7f, "pos 0: sin 0 at even, cos 0 at odd");
  double f2 = pow(10000, -4.0 / C); /* i = 2 -> indices 4 (sin), 5 (cos) */
  CHECK(fabsf(a[2 * C + 4] - (x[2 * C + 4] + (float)sin(37 * f2))) < 1e-6f &&
            fabsf(a[2 * C + 5] - (x[2 * C + 5] + (float)cos(37 * f2))) < 1e-6f,
        "interleaved layout PE(p,2i)=sin, PE(p,2i+1)=cos");
  /* a batch of sequences repeating positions (the table path), odd C */
  int NB = 8, CB = 11, pb[8] = {0, 1, 2, 3, 0, 1, 2, 3};
  float *xb = rand_buf(NB * CB, 1), *rb = malloc(NB * CB * 4), *fb = malloc(NB * CB * 4);
  duet_sinusoidal_forward_ref(rb, xb, pb, NB, CB, 10000);
  duet_sinusoidal_forward(fb, xb, pb, NB, CB, 10000);
  CHECK(rel_err(fb, rb, NB * CB, 1) == 0 && fb[CB - 1] == xb[CB - 1], "sinusoidal table path == ref, odd C");
  free(xb), free(rb), free(fb);
  float *dx = const_buf(N * C, 0.5f);
  duet_sinusoidal_backward(dx, x, N, C);
  CHECK(dx[7] == 0.5f + x[7], "backward passes the gradient through");
  free(x), free(a), free(b), free(dx);
}

typedef struct {
  const float *logits;
  const int *t;
  int N, V;
} ce_ctx;

static void ce_run(void *c, float *out) {
  ce_ctx *a = c;
  duet_crossentropy_forward(out, NULL, NULL, a->logits, a->t, a->N, a->V);
}

static void test_crossentropy(void) {
  int N = 5, V = 23, t[5] = {3, -1, 22, 0, 3};
  float *x = rand_buf(N * V, 4), l1, l2, rl1[5], rl2[5], lse[5];
  CHECK(duet_crossentropy_forward_ref(&l1, rl1, NULL, x, t, N, V) == 4, "counts non-ignored rows");
  CHECK(duet_crossentropy_forward(&l2, rl2, lse, x, t, N, V) == 4, "fast count");
  CHECK(fabsf(l1 - l2) < 1e-5f * fabsf(l1) && rl2[1] == 0 && fabsf(rl1[2] - rl2[2]) < 1e-5f, "loss %g vs %g", l1,
        l2);
  double m = -1e30, s = 0;
  for (int j = 0; j < V; j++) m = fmax(m, x[2 * V + j]);
  for (int j = 0; j < V; j++) s += exp(x[2 * V + j] - m);
  CHECK(fabs(rl1[2] - (m + log(s) - x[2 * V + 22])) < 1e-5, "row loss = lse - logit[target]");
  CHECK(fabsf((rl1[0] + rl1[2] + rl1[3] + rl1[4]) / 4 - l1) < 1e-5f, "mean over counted rows");
  float dl = 1.5f, *d1 = const_buf(N * V, 0.5f), *d2 = const_buf(N * V, 0.5f), loss;
  duet_crossentropy_backward(d1, x, lse, t, dl, N, V);
  duet_crossentropy_backward(d2, x, NULL, t, dl, N, V);
  CHECK(rel_err(d1, d2, N * V, 1) < 1e-6, "saved lse == recomputed");
  CHECK(d1[V + 4] == 0.5f, "ignored row gets no gradient");
  for (int i = 0; i < N * V; i++) d1[i] = 0.5f + (d1[i] - 0.5f) / dl; /* dL/dlogits for dloss = 1 */
  float r1 = 1;
  ce_ctx c = {x, t, N, V};
  loss_fn f = {ce_run, &c, &loss, &r1, 1};
  check_grad("cross-entropy dlogits", &f, x, N * V, d1, 0.5f, 1e-2f, 3e-3);
  int bad[2] = {0, 23}, ign[2] = {-1, -1};
  CHECK(duet_crossentropy_forward(&loss, NULL, NULL, x, bad, 2, V) == DUET_ERANGE, "target == V refused");
  CHECK(duet_crossentropy_forward(&loss, NULL, NULL, x, ign, 2, V) == 0 && loss == 0, "all ignored: loss 0");
  /* large vocabulary (OpenMP path) vs the reference */
  int NB = 3, VB = 32000, tb[3] = {5, 31999, -1};
  float *xb = rand_buf((long)NB * VB, 10), lb1, lb2;
  duet_crossentropy_forward_ref(&lb1, NULL, NULL, xb, tb, NB, VB);
  duet_crossentropy_forward(&lb2, NULL, NULL, xb, tb, NB, VB);
  CHECK(fabsf(lb1 - lb2) < 1e-5f * fabsf(lb1), "large vocab %g vs %g", lb1, lb2);
  free(x), free(d1), free(d2), free(xb);
}

int main(void) {
  test_rmsnorm(3, 8, 1);
  test_rmsnorm(2, 37, 1);
  test_rmsnorm(300, 200, 997); /* the OpenMP path; sampled gradient */
  test_head_norm();
  test_swiglu();
  test_embedding();
  test_sinusoidal();
  test_crossentropy();
  return finish();
}
