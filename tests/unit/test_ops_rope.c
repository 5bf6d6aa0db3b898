/* engine/ops/rope: known rotations in both conventions, frequencies with
 * linear and llama3 scaling against the Hugging Face formulas (in double),
 * fast path vs reference with per-row positions, in-place use, and the
 * backward (rotation by -angle) against central differences. */
#include "engine/error.h"
#include "engine/ops/rope.h"
#include "tests/unit/test_ops_check.h"

static void test_known(void) {
  duet_rope r;
  float x[4] = {1, 0, 0, 0}, o[4];
  int pos = 1;
  CHECK(duet_rope_init(&r, 4, 0, 10000, DUET_ROPE_SCALING_NONE, 0, 0, 0, 0) == 0, "init");
  CHECK(r.inv_freq[0] == 1.0f && fabsf(r.inv_freq[1] - 0.01f) < 1e-9f, "inv_freq theta^(-2i/d)");
  duet_rope_forward(o, x, &r, &pos, 1, 1);
  CHECK(fabsf(o[0] - cosf(1)) < 1e-7f && fabsf(o[2] - sinf(1)) < 1e-7f && o[1] == 0 && o[3] == 0,
        "NeoX pairs (i, i+d/2): %g %g %g %g", o[0], o[1], o[2], o[3]);
  r.gptj = 1;
  duet_rope_forward(o, x, &r, &pos, 1, 1);
  CHECK(fabsf(o[0] - cosf(1)) < 1e-7f && fabsf(o[1] - sinf(1)) < 1e-7f && o[2] == 0 && o[3] == 0,
        "GPT-J pairs (2i, 2i+1): %g %g %g %g", o[0], o[1], o[2], o[3]);
}

static void test_scaling(void) {
  duet_rope base, lin, l3;
  int hd = 128;
  double theta = 500000, factor = 8, lo = 1, hi = 4, L = 8192;
  duet_rope_init(&base, hd, 0, (float)theta, DUET_ROPE_SCALING_NONE, 0, 0, 0, 0);
  CHECK(duet_rope_init(&lin, hd, 0, (float)theta, DUET_ROPE_SCALING_LINEAR, 4, 0, 0, 0) == 0, "linear init");
  CHECK(duet_rope_init(&l3, hd, 1, (float)theta, DUET_ROPE_SCALING_LLAMA3, 8, 1, 4, 8192) == 0, "llama3 init");
  int kept = 0, divided = 0, blended = 0;
  double worst_lin = 0, worst_l3 = 0;
  for (int i = 0; i < hd / 2; i++) {
    double f = pow(theta, -2.0 * i / hd), w = 2 * M_PI / f, want;
    worst_lin = fmax(worst_lin, fabs(lin.inv_freq[i] - f / 4) / (f / 4));
    if (w < L / hi) want = f, kept++;
    else if (w > L / lo) want = f / factor, divided++;
    else {
      double s = (L / w - lo) / (hi - lo);
      want = (1 - s) * f / factor + s * f, blended++;
    }
    worst_l3 = fmax(worst_l3, fabs(l3.inv_freq[i] - want) / want);
  }
  CHECK(worst_lin < 1e-6, "linear scaling divides inv_freq by factor: %.3g", worst_lin);
  CHECK(worst_l3 < 1e-5, "llama3 frequencies vs the formula in double: %.3g", worst_l3);
  CHECK(kept && divided && blended, "llama3 test covers all three bands (%d %d %d)", kept, divided, blended);
  CHECK(duet_rope_init(&l3, 7, 0, 1e4f, DUET_ROPE_SCALING_NONE, 0, 0, 0, 0) == DUET_EINVAL, "odd head_dim refused");
  CHECK(duet_rope_init(&l3, 8, 0, 1e4f, DUET_ROPE_SCALING_LLAMA3, 8, 4, 1, 8192) == DUET_EINVAL,
        "llama3 with high <= low refused");
  CHECK(strstr(duet_last_error(), "high_freq_factor") != NULL, "message names the key: %s", duet_last_error());
  CHECK(duet_rope_init(&l3, 8, 0, -1, DUET_ROPE_SCALING_NONE, 0, 0, 0, 0) == DUET_EINVAL, "theta <= 0 refused");
}

typedef struct {
  const duet_rope *r;
  const float *x;
  const int *pos;
  int N, nh;
} rope_ctx;

static void rope_run(void *c, float *out) {
  rope_ctx *a = c;
  duet_rope_forward(out, a->x, a->r, a->pos, a->N, a->nh);
}

static void test_convention(int gptj, duet_rope_scaling_kind sc) {
  duet_rope r;
  int N = 4, nh = 3, hd = 16, pos[4] = {0, 5, 1000, 77};
  long n = (long)N * nh * hd;
  duet_rope_init(&r, hd, gptj, 10000, sc, 4, 1, 4, 64);
  float *x = rand_buf(n, 1), *a = malloc(n * 4), *b = malloc(n * 4), *c = malloc(n * 4);
  duet_rope_forward_ref(a, x, &r, pos, N, nh);
  duet_rope_forward(b, x, &r, pos, N, nh);
  CHECK(rel_err(b, a, n, 1) < 1e-6, "gptj=%d scaling=%d fast vs ref %.3g", gptj, (int)sc, rel_err(b, a, n, 1));
  memcpy(c, x, n * 4);
  duet_rope_forward(c, c, &r, pos, N, nh);
  CHECK(rel_err(c, b, n, 1) == 0, "in place equals out of place");
  double n0 = 0, n1 = 0;
  for (long i = 0; i < n; i++) n0 += (double)x[i] * x[i], n1 += (double)b[i] * b[i];
  CHECK(fabs(n0 - n1) < 1e-5 * n0, "rotation keeps the norm");
  float *r_ = rand_buf(n, 1), *dx = const_buf(n, 0.5f);
  duet_rope_backward(dx, r_, &r, pos, N, nh);
  rope_ctx ctx = {&r, x, pos, N, nh};
  loss_fn f = {rope_run, &ctx, c, r_, n};
  check_grad(gptj ? "rope gptj dx" : "rope neox dx", &f, x, n, dx, 0.5f, 1e-2f, 2e-3);
  /* backward of forward is the identity: the inverse rotation */
  float *id = const_buf(n, 0);
  duet_rope_backward(id, b, &r, pos, N, nh);
  CHECK(rel_err(id, x, n, 1) < 1e-6, "backward(forward(x)) == x: %.3g", rel_err(id, x, n, 1));
  free(x), free(a), free(b), free(c), free(r_), free(dx), free(id);
}

int main(void) {
  test_known();
  test_scaling();
  for (int gptj = 0; gptj < 2; gptj++) {
    test_convention(gptj, DUET_ROPE_SCALING_NONE);
    test_convention(gptj, DUET_ROPE_SCALING_LINEAR);
    test_convention(gptj, DUET_ROPE_SCALING_LLAMA3);
  }
  duet_config cfg = {.head_dim = 8, .rope_theta = 10000, .pos = DUET_POS_SINUSOIDAL};
  duet_rope r;
  CHECK(duet_rope_init_config(&r, &cfg) == DUET_EINVAL, "sinusoidal config is not RoPE");
  cfg.pos = DUET_POS_ROPE_GPTJ;
  CHECK(duet_rope_init_config(&r, &cfg) == 0 && r.gptj == 1 && r.head_dim == 8, "config init");
  return finish();
}
