/* engine/ops/attention (+ softmax and the causal mask it uses): blocked
 * sgemm fast path vs the plain reference (MHA, GQA, MQA; T across the row
 * block), the chunked-prefill variant vs the full forward, and dq/dk/dv
 * (summed over the q heads of a kv head) against central differences. */
#include "engine/error.h"
#include "engine/ops/attention.h"
#include "engine/ops/softmax.h"
#include "tests/unit/test_ops_check.h"

static void test_forward(int B, int T, int nh, int nkv, int hd) {
  long nq = (long)B * T * nh * hd, nk = (long)B * T * nkv * hd, na = (long)B * nh * T * T;
  float *q = rand_buf(nq, 1), *k = rand_buf(nk, 1), *v = rand_buf(nk, 1);
  float *o1 = malloc(nq * 4), *o2 = malloc(nq * 4), *o3 = malloc(nq * 4), *a1 = malloc(na * 4), *a2 = malloc(na * 4);
  CHECK(duet_attention_forward_ref(o1, a1, q, k, v, B, T, nh, nkv, hd) == 0, "ref rc");
  CHECK(duet_attention_forward(o2, a2, q, k, v, B, T, nh, nkv, hd) == 0, "fast rc");
  CHECK(rel_err(o2, o1, nq, 1) < 1e-5, "B=%d T=%d nh=%d nkv=%d hd=%d: out %.3g", B, T, nh, nkv, hd,
        rel_err(o2, o1, nq, 1));
  CHECK(rel_err(a2, a1, na, 1) < 1e-5, "probabilities %.3g", rel_err(a2, a1, na, 1));
  int causal = 1;
  for (long bh = 0; bh < (long)B * nh; bh++)
    for (int i = 0; i < T; i++)
      for (int j = i + 1; j < T; j++) causal &= a2[(bh * T + i) * T + j] == 0.0f;
  CHECK(causal, "saved probabilities are 0 above the diagonal");
  CHECK(duet_attention_forward(o3, NULL, q, k, v, B, T, nh, nkv, hd) == 0 && rel_err(o3, o2, nq, 1) == 0,
        "att NULL (inference) gives the same output");
  free(q), free(k), free(v), free(o1), free(o2), free(o3), free(a1), free(a2);
}

/* The last Tq queries of a T-token sequence against all T keys equal the
 * last Tq rows of the full causal forward. */
static void test_chunk(int T, int Tq, int nh, int nkv, int hd) {
  long nq = (long)T * nh * hd, nk = (long)T * nkv * hd;
  float *q = rand_buf(nq, 1), *k = rand_buf(nk, 1), *v = rand_buf(nk, 1);
  float *full = malloc(nq * 4), *chunk = malloc((long)Tq * nh * hd * 4);
  duet_attention_forward(full, NULL, q, k, v, 1, T, nh, nkv, hd);
  long skip = (long)(T - Tq) * nh * hd;
  CHECK(duet_attention_chunk_forward(chunk, q + skip, Tq, k, v, T, nh, nkv, hd) == 0, "chunk rc");
  CHECK(rel_err(chunk, full + skip, (long)Tq * nh * hd, 1) < 1e-6, "chunk T=%d Tq=%d: %.3g", T, Tq,
        rel_err(chunk, full + skip, (long)Tq * nh * hd, 1));
  free(q), free(k), free(v), free(full), free(chunk);
}

typedef struct {
  const float *q, *k, *v;
  int B, T, nh, nkv, hd;
} att_ctx;

static void att_run(void *c, float *out) {
  att_ctx *a = c;
  duet_attention_forward(out, NULL, a->q, a->k, a->v, a->B, a->T, a->nh, a->nkv, a->hd);
}

static void test_backward(int B, int T, int nh, int nkv, int hd, long step) {
  long nq = (long)B * T * nh * hd, nk = (long)B * T * nkv * hd;
  float *q = rand_buf(nq, 1), *k = rand_buf(nk, 1), *v = rand_buf(nk, 1), *r = rand_buf(nq, 1);
  float *out = malloc(nq * 4), *att = malloc((long)B * nh * T * T * 4);
  float *dq = const_buf(nq, 0.5f), *dk = const_buf(nk, 0.5f), *dv = const_buf(nk, 0.5f);
  duet_attention_forward(out, att, q, k, v, B, T, nh, nkv, hd);
  CHECK(duet_attention_backward(dq, dk, dv, r, q, k, v, att, B, T, nh, nkv, hd) == 0, "backward rc");
  att_ctx c = {q, k, v, B, T, nh, nkv, hd};
  loss_fn f = {att_run, &c, out, r, nq};
  check_grad_step("attention dq", &f, q, nq, step, dq, 0.5f, 1e-2f, 3e-3);
  check_grad_step("attention dk", &f, k, nk, step, dk, 0.5f, 1e-2f, 3e-3);
  check_grad_step("attention dv", &f, v, nk, step, dv, 0.5f, 1e-2f, 3e-3);
  free(q), free(k), free(v), free(r), free(out), free(att), free(dq), free(dk), free(dv);
}

typedef struct {
  const float *x;
  int N, C;
} sm_ctx;

static void sm_run(void *c, float *out) {
  sm_ctx *s = c;
  duet_softmax_forward(out, s->x, s->N, s->C);
}

static void test_softmax(void) {
  int N = 5, C = 37;
  float *x = rand_buf(N * C, 20), *a = malloc(N * C * 4), *b = malloc(N * C * 4);
  x[3] = 1e30f; /* huge logit: max subtraction keeps it finite */
  duet_softmax_forward_ref(a, x, N, C);
  duet_softmax_forward(b, x, N, C);
  CHECK(rel_err(b, a, N * C, 1) < 1e-6 && b[3] == 1.0f, "softmax fast vs ref %.3g", rel_err(b, a, N * C, 1));
  float big[40000];
  for (int i = 0; i < 40000; i++) big[i] = frand() * 5;
  float *pb = malloc(sizeof big), *pr = malloc(sizeof big);
  duet_softmax_forward(pb, big, 4, 10000); /* the OpenMP path */
  duet_softmax_forward_ref(pr, big, 4, 10000);
  CHECK(rel_err(pb, pr, 40000, 1e-3) < 1e-5, "softmax large %.3g", rel_err(pb, pr, 40000, 1e-3));
  /* mask: 2 rows of a chunk at offset 1 over 4 keys, then softmax */
  float s[2 * 4] = {1, 2, 3, 4, 5, 6, 7, 8}, m[8];
  duet_causal_mask_forward(s, 1, 2, 4, 1);
  CHECK(isinf(s[2]) && isinf(s[3]) && s[1] == 2 && isinf(s[7]) && s[6] == 7, "causal mask");
  float allmasked[3] = {-INFINITY, -INFINITY, -INFINITY};
  duet_softmax_forward(m, allmasked, 1, 3);
  CHECK(m[0] == 0 && m[1] == 0 && m[2] == 0, "fully masked row gives zeros, not NaN");
  float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1}, d[8] = {0};
  duet_causal_mask_backward(d, ones, 1, 2, 4, 1);
  CHECK(d[0] == 1 && d[1] == 1 && d[2] == 0 && d[6] == 1 && d[7] == 0, "mask backward");
  /* backward against finite differences */
  float *r = rand_buf(N * C, 1), *dx = const_buf(N * C, 0.5f);
  for (int i = 0; i < N * C; i++) x[i] = frand() * 3;
  duet_softmax_forward(b, x, N, C);
  duet_softmax_backward(dx, r, b, N, C);
  sm_ctx c = {x, N, C};
  loss_fn f = {sm_run, &c, a, r, N * C};
  check_grad("softmax dx", &f, x, N * C, dx, 0.5f, 1e-2f, 3e-3);
  free(x), free(a), free(b), free(r), free(dx), free(pb), free(pr);
}

int main(void) {
  test_forward(2, 5, 4, 2, 8);
  test_forward(1, 1, 2, 2, 4);
  test_forward(2, 33, 6, 1, 16);
  test_forward(1, 130, 4, 2, 16);
  test_forward(1, 7, 1, 1, 8); /* one head: the serial path */
  test_chunk(9, 4, 4, 2, 8);
  test_chunk(140, 135, 2, 1, 8);
  test_chunk(5, 5, 2, 2, 8);
  test_backward(2, 4, 4, 2, 3, 1);
  test_backward(1, 6, 3, 3, 4, 1);
  test_backward(1, 131, 2, 1, 4, 37);
  test_backward(1, 5, 1, 1, 4, 1);
  test_softmax();
  float o[8], a[8];
  CHECK(duet_attention_forward(o, a, o, o, o, 1, 1, 3, 2, 4) == DUET_EINVAL, "n_heads not a multiple of n_kv_heads");
  CHECK(duet_attention_chunk_forward(o, o, 3, o, o, 2, 1, 1, 2) == DUET_EINVAL, "Tq > Tk refused");
  return finish();
}
