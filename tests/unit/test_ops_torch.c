/* engine/ops against PyTorch float32 (tests/fixtures/ops/ops_torch.txt,
 * written by tests/fixtures/ops/gen_ops_fixtures.py from the Hugging Face /
 * Meta / Vaswani definitions): forward outputs and the gradients of
 * sum(out * r) for rmsnorm, swiglu, softmax, RoPE (NeoX and GPT-J, no /
 * linear / llama3 scaling), sinusoidal, GQA attention, cross-entropy and a
 * BF16 linear. Tolerance: 1e-5 of each tensor's max-abs (at least 1). */
#include <stdint.h>

#include "engine/ops/attention.h"
#include "engine/ops/crossentropy.h"
#include "engine/ops/dtype.h"
#include "engine/ops/linear.h"
#include "engine/ops/rmsnorm.h"
#include "engine/ops/rope.h"
#include "engine/ops/sinusoidal.h"
#include "engine/ops/softmax.h"
#include "engine/ops/swiglu.h"
#include "tests/unit/test_ops_check.h"

#define MAX_T 128
static struct {
  char name[64];
  long n;
  float *v;
} g_t[MAX_T];
static int g_nt;

static int load(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return fprintf(stderr, "cannot open %s\n", path), -1;
  while (g_nt < MAX_T && fscanf(f, "%63s %ld", g_t[g_nt].name, &g_t[g_nt].n) == 2) {
    if (g_t[g_nt].n <= 0 || g_t[g_nt].n > 1000000) break;
    g_t[g_nt].v = malloc((size_t)g_t[g_nt].n * sizeof(float));
    for (long i = 0; i < g_t[g_nt].n; i++)
      if (fscanf(f, "%f", &g_t[g_nt].v[i]) != 1) return fclose(f), fprintf(stderr, "short %s\n", g_t[g_nt].name), -1;
    g_nt++;
  }
  fclose(f);
  return g_nt;
}

/* The tensor called name, which must hold n values (exits otherwise: a
 * fixture that does not match the test is a broken test). */
static float *T(const char *name, long n) {
  for (int i = 0; i < g_nt; i++)
    if (!strcmp(g_t[i].name, name)) {
      if (g_t[i].n != n) fprintf(stderr, "%s: %ld values, expected %ld\n", name, g_t[i].n, n), exit(1);
      return g_t[i].v;
    }
  fprintf(stderr, "fixture has no tensor %s\n", name);
  exit(1);
}

static void near(const char *what, const float *got, const char *want, long n) {
  double e = rel_err(got, T(want, n), n, 1);
  CHECK(e < 1e-5, "%s vs torch %s: %.3g", what, want, e);
}

static void test_rows(void) {
  float out[24], rstd[3], *dx = const_buf(24, 0), *dw = const_buf(8, 0);
  duet_rmsnorm_forward(out, rstd, T("rmsnorm.x", 24), T("rmsnorm.w", 8), 3, 8, 1e-5f);
  near("rmsnorm", out, "rmsnorm.out", 24);
  duet_rmsnorm_backward(dx, dw, T("rmsnorm.r", 24), T("rmsnorm.x", 24), T("rmsnorm.w", 8), rstd, 3, 8);
  near("rmsnorm dx", dx, "rmsnorm.dx", 24), near("rmsnorm dw", dw, "rmsnorm.dw", 8);
  float s[20], *dg = const_buf(20, 0), *du = const_buf(20, 0);
  duet_swiglu_forward(s, T("swiglu.gate", 20), T("swiglu.up", 20), 20);
  near("swiglu", s, "swiglu.out", 20);
  duet_swiglu_backward(dg, du, T("swiglu.r", 20), T("swiglu.gate", 20), T("swiglu.up", 20), 20);
  near("swiglu dgate", dg, "swiglu.dgate", 20), near("swiglu dup", du, "swiglu.dup", 20);
  float p[21], *dsx = const_buf(21, 0);
  duet_softmax_forward(p, T("softmax.x", 21), 3, 7);
  near("softmax", p, "softmax.out", 21);
  duet_softmax_backward(dsx, T("softmax.r", 21), p, 3, 7);
  near("softmax dx", dsx, "softmax.dx", 21);
  free(dx), free(dw), free(dg), free(du), free(dsx);
}

static void test_rope(void) {
  const char *kinds[3] = {"none", "linear", "llama3"};
  duet_rope_scaling_kind sk[3] = {DUET_ROPE_SCALING_NONE, DUET_ROPE_SCALING_LINEAR, DUET_ROPE_SCALING_LLAMA3};
  float factor[3] = {1, 4, 8};
  int pos[4];
  for (int i = 0; i < 4; i++) pos[i] = (int)T("rope.pos", 4)[i];
  for (int k = 0; k < 3; k++)
    for (int gptj = 0; gptj < 2; gptj++) {
      duet_rope r;
      char name[64], p[48];
      CHECK(duet_rope_init(&r, 8, gptj, 10000, sk[k], factor[k], 1, 4, 1000) == 0, "rope init %s", kinds[k]);
      snprintf(name, sizeof name, "rope.%s.inv_freq", kinds[k]);
      double e = rel_err(r.inv_freq, T(name, 4), 4, 1e-9);
      CHECK(e < 1e-6, "%s inv_freq vs torch: %.3g", kinds[k], e);
      snprintf(p, sizeof p, "rope.%s.%s", kinds[k], gptj ? "gptj" : "neox");
      float out[96], *dx = const_buf(96, 0);
      snprintf(name, sizeof name, "%s.x", p);
      duet_rope_forward(out, T(name, 96), &r, pos, 4, 3);
      snprintf(name, sizeof name, "%s.out", p);
      near(p, out, name, 96);
      snprintf(name, sizeof name, "%s.r", p);
      duet_rope_backward(dx, T(name, 96), &r, pos, 4, 3);
      snprintf(name, sizeof name, "%s.dx", p);
      near(p, dx, name, 96);
      free(dx);
    }
}

static void test_attention(void) {
  int B = 2, Tn = 5, nh = 4, nkv = 2, hd = 8;
  long nq = (long)B * Tn * nh * hd, nk = (long)B * Tn * nkv * hd, na = (long)B * nh * Tn * Tn;
  float *out = malloc(nq * 4), *att = malloc(na * 4), *dq = const_buf(nq, 0), *dk = const_buf(nk, 0);
  float *dv = const_buf(nk, 0);
  const float *q = T("attention.q", nq), *k = T("attention.k", nk), *v = T("attention.v", nk);
  CHECK(duet_attention_forward(out, att, q, k, v, B, Tn, nh, nkv, hd) == 0, "attention rc");
  near("attention", out, "attention.out", nq), near("attention probs", att, "attention.att", na);
  duet_attention_backward(dq, dk, dv, T("attention.r", nq), q, k, v, att, B, Tn, nh, nkv, hd);
  near("attention dq", dq, "attention.dq", nq), near("attention dk", dk, "attention.dk", nk);
  near("attention dv", dv, "attention.dv", nk);
  free(out), free(att), free(dq), free(dk), free(dv);
}

static void test_misc(void) {
  int pos[4], tg[5];
  for (int i = 0; i < 4; i++) pos[i] = (int)T("sinusoidal.pos", 4)[i];
  float pe[40];
  duet_sinusoidal_forward(pe, T("sinusoidal.x", 40), pos, 4, 10, 10000);
  near("sinusoidal", pe, "sinusoidal.out", 40);
  for (int i = 0; i < 5; i++) tg[i] = (int)T("crossentropy.targets", 5)[i];
  float loss, *dl = const_buf(55, 0);
  const float *logits = T("crossentropy.logits", 55);
  CHECK(duet_crossentropy_forward(&loss, NULL, NULL, logits, tg, 5, 11) == 4, "cross-entropy count");
  near("cross-entropy loss", &loss, "crossentropy.loss", 1);
  duet_crossentropy_backward(dl, logits, NULL, tg, 1.0f, 5, 11);
  near("cross-entropy dlogits", dl, "crossentropy.dlogits", 55);
  /* linear: BF16 weights (exactly the torch bf16 values) on the kernel path
   * and F32 weights on both paths; backward with the F32 copy */
  const float *wf = T("linear.w_bf16", 120), *x = T("linear.x", 60), *b = T("linear.b", 6);
  uint16_t wb[120];
  for (int i = 0; i < 120; i++) wb[i] = duet_f32_to_bf16(wf[i]);
  duet_matrix mb = {DUET_BF16, 6, 20, wb}, mf = {DUET_F32, 6, 20, wf};
  float out[18], *dx = const_buf(60, 0), *dw = const_buf(120, 0), *db = const_buf(6, 0);
  duet_linear_forward(out, x, &mb, b, 3);
  near("linear bf16", out, "linear.out", 18);
  duet_linear_forward(out, x, &mf, b, 3);
  near("linear f32", out, "linear.out", 18);
  duet_linear_backward(dx, dw, db, T("linear.r", 18), x, &mf, 3);
  near("linear dx", dx, "linear.dx", 60), near("linear dW", dw, "linear.dw", 120), near("linear db", db, "linear.db", 6);
  free(dl), free(dx), free(dw), free(db);
}

int main(void) {
  if (load("fixtures/ops/ops_torch.txt") < 60) return fprintf(stderr, "fixture missing or short\n"), 1;
  test_rows();
  test_rope();
  test_attention();
  test_misc();
  for (int i = 0; i < g_nt; i++) free(g_t[i].v);
  return finish();
}
