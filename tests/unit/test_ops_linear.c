/* engine/ops/linear: fast path vs reference for F32/BF16/F16 across the
 * matvec (N <= DUET_LINEAR_MATVEC_MAX_N) and sgemm / panel paths, BF16/F16 against F32 on
 * the same rounded weights, backward against central differences, and the
 * refusal of bad input. */
#include <stdint.h>

#include "engine/error.h"
#include "engine/ops/dtype.h"
#include "engine/ops/linear.h"
#include "tests/unit/test_ops_check.h"

static void test_forward(int N, int O, int K, int with_bias) {
  float *x = rand_buf((long)N * K, 1), *w = rand_buf((long)O * K, 0.5f), *b = with_bias ? rand_buf(O, 1) : NULL;
  uint16_t *wb = malloc((size_t)O * K * 2), *wh = malloc((size_t)O * K * 2);
  float *wbf = malloc((size_t)O * K * 4), *whf = malloc((size_t)O * K * 4);
  for (long i = 0; i < (long)O * K; i++) {
    wb[i] = duet_f32_to_bf16(w[i]), wh[i] = duet_f32_to_f16(w[i]);
    wbf[i] = duet_bf16_to_f32(wb[i]), whf[i] = duet_f16_to_f32(wh[i]);
  }
  duet_matrix m32 = {DUET_F32, O, K, w}, mb = {DUET_BF16, O, K, wb}, mh = {DUET_F16, O, K, wh};
  duet_matrix mbf = {DUET_F32, O, K, wbf}, mhf = {DUET_F32, O, K, whf};
  float *ref = malloc((size_t)N * O * 4), *got = malloc((size_t)N * O * 4), *r2 = malloc((size_t)N * O * 4);
  double tol = 2e-5 * sqrt((double)K);
  CHECK(duet_linear_forward_ref(ref, x, &m32, b, N) == 0 && duet_linear_forward(got, x, &m32, b, N) == 0, "f32 rc");
  CHECK(rel_err(got, ref, (long)N * O, 1) < tol, "f32 N=%d O=%d K=%d: fast vs ref %.3g", N, O, K,
        rel_err(got, ref, (long)N * O, 1));
  /* BF16 / F16 fast path vs the F32 path on the same rounded weights */
  duet_linear_forward(r2, x, &mbf, b, N);
  CHECK(duet_linear_forward(got, x, &mb, b, N) == 0, "bf16 rc");
  CHECK(rel_err(got, r2, (long)N * O, 1) < tol, "bf16 N=%d O=%d K=%d vs f32 of rounded weights: %.3g", N, O, K,
        rel_err(got, r2, (long)N * O, 1));
  duet_linear_forward_ref(ref, x, &mb, b, N);
  CHECK(rel_err(got, ref, (long)N * O, 1) < tol, "bf16 fast vs ref %.3g", rel_err(got, ref, (long)N * O, 1));
  duet_linear_forward(r2, x, &mhf, b, N);
  CHECK(duet_linear_forward(got, x, &mh, b, N) == 0, "f16 rc");
  CHECK(rel_err(got, r2, (long)N * O, 1) < tol, "f16 N=%d O=%d K=%d vs f32 of rounded weights: %.3g", N, O, K,
        rel_err(got, r2, (long)N * O, 1));
  free(x), free(w), free(b), free(wb), free(wh), free(wbf), free(whf), free(ref), free(got), free(r2);
}

typedef struct {
  const float *x;
  const duet_matrix *W;
  const float *b;
  int N;
} lin_ctx;

static void lin_run(void *c, float *out) {
  lin_ctx *l = c;
  duet_linear_forward(out, l->x, l->W, l->b, l->N);
}

static void test_backward(int N, int O, int K, long step) {
  float *x = rand_buf((long)N * K, 1), *w = rand_buf((long)O * K, 1), *b = rand_buf(O, 1);
  duet_matrix W = {DUET_F32, O, K, w};
  float *r = rand_buf((long)N * O, 1), *out = malloc((size_t)N * O * 4);
  float *dx = const_buf((long)N * K, 0.5f), *dw = const_buf((long)O * K, 0.5f), *db = const_buf(O, 0.5f);
  CHECK(duet_linear_backward(dx, dw, db, r, x, &W, N) == 0, "backward rc");
  lin_ctx c = {x, &W, b, N};
  loss_fn f = {lin_run, &c, out, r, (long)N * O};
  check_grad_step("linear dx", &f, x, (long)N * K, step, dx, 0.5f, 1e-2f, 2e-3);
  check_grad_step("linear dW", &f, w, (long)O * K, step, dw, 0.5f, 1e-2f, 2e-3);
  check_grad("linear db", &f, b, O, db, 0.5f, 1e-2f, 2e-3);
  /* NULL gradients are skipped; BF16 weights cannot give dx */
  CHECK(duet_linear_backward(NULL, NULL, db, r, x, &W, N) == 0, "db only");
  uint16_t h[4] = {0};
  duet_matrix wb = {DUET_BF16, 2, 2, h};
  CHECK(duet_linear_backward(dx, NULL, NULL, r, x, &wb, 1) == DUET_EUNSUPPORTED, "bf16 dx refused");
  free(x), free(w), free(b), free(r), free(out), free(dx), free(dw), free(db);
}

static void test_errors(void) {
  float x[4] = {0}, out[4];
  duet_matrix bad = {(duet_dtype)7, 2, 2, x}, empty = {DUET_F32, 0, 2, x};
  CHECK(duet_linear_forward(out, x, &bad, NULL, 1) == DUET_EUNSUPPORTED, "bad dtype refused");
  CHECK(strstr(duet_last_error(), "dtype") != NULL, "message names the dtype: %s", duet_last_error());
  CHECK(duet_linear_forward(out, x, &empty, NULL, 1) == DUET_EINVAL, "empty matrix refused");
  CHECK(duet_linear_forward_ref(out, x, &bad, NULL, 1) == DUET_EUNSUPPORTED, "ref: bad dtype refused");
  duet_matrix ok = {DUET_F32, 2, 2, x};
  CHECK(duet_linear_forward(out, x, &ok, NULL, -1) == DUET_EINVAL, "negative N refused");
}

static void test_dtype(void) {
  /* exact values and round-to-nearest-even */
  CHECK(duet_bf16_to_f32(0x3f80) == 1.0f && duet_f16_to_f32(0x3c00) == 1.0f, "1.0");
  CHECK(duet_f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80, "bf16 tie rounds to even (down)");
  CHECK(duet_f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82, "bf16 tie rounds to even (up)");
  CHECK(duet_f32_to_f16(65504.0f) == 0x7bff && duet_f32_to_f16(65520.0f) == 0x7c00, "f16 max / overflow");
  CHECK(duet_f16_to_f32(0x0001) == ldexpf(1, -24) && duet_f32_to_f16(ldexpf(1, -24)) == 0x0001, "f16 subnormal");
  CHECK(duet_f32_to_f16(ldexpf(1, -25)) == 0 && duet_f32_to_f16(ldexpf(3, -26)) == 1, "f16 subnormal rounding");
  CHECK(duet_f32_to_f16(-2.5f) == 0xc100 && duet_f16_to_f32(0xc100) == -2.5f, "f16 -2.5");
  int round_trip = 1;
  for (uint32_t h = 0; h < 0x7c00; h++) round_trip &= duet_f32_to_f16(duet_f16_to_f32((uint16_t)h)) == h;
  CHECK(round_trip, "every finite f16 survives f16 -> f32 -> f16");
  CHECK(isnan(duet_bf16_to_f32(duet_f32_to_bf16(NAN))) && isnan(duet_f16_to_f32(duet_f32_to_f16(NAN))), "NaN");
}

int main(void) {
  test_dtype();
  int shapes[][3] = {{1, 7, 5}, {1, 33, 64}, {2, 17, 37}, {3, 40, 48}, {4, 9, 100}, {5, 19, 33}, {17, 70, 80},
                     {1, 300, 200}, {9, 13, 29}, {32, 21, 50}, {33, 1100, 40}, {17, 100, 4100}, {24, 23, 45},
                     {64, 37, 100}, {65, 30, 20}, {40, 130, 768}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    test_forward(shapes[i][0], shapes[i][1], shapes[i][2], 1);
    test_forward(shapes[i][0], shapes[i][1], shapes[i][2], 0);
  }
  test_backward(3, 5, 4, 1);
  test_backward(6, 3, 7, 1);
  test_backward(20, 50, 41, 7); /* threaded: slabs of dx columns and dW rows */
  test_errors();
  return finish();
}
