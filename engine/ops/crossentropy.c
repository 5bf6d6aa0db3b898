#include "engine/ops/crossentropy.h"

#include <math.h>

#include "engine/error.h"
#include "engine/ops/simd.h"

static int check_targets(const int *targets, int N, int V) {
  int count = 0;
  for (int n = 0; n < N; n++) {
    if (targets[n] == DUET_IGNORE_INDEX) continue;
    if (targets[n] < 0 || targets[n] >= V)
      return duet_error(DUET_ERANGE, "cross-entropy: target %d at row %d is outside [0, %d) and not the ignore index -1",
                        targets[n], n, V);
    count++;
  }
  return count;
}

int duet_crossentropy_forward_ref(float *loss, float *row_loss, float *lse, const float *logits, const int *targets,
                                  int N, int V) {
  int count = check_targets(targets, N, V);
  if (count < 0) return count;
  double total = 0;
  for (int n = 0; n < N; n++) {
    const float *x = logits + (long)n * V;
    double m = -INFINITY, s = 0;
    for (int j = 0; j < V; j++) m = x[j] > m ? x[j] : m;
    for (int j = 0; j < V; j++) s += exp(x[j] - m);
    double l = m + log(s);
    double rl = targets[n] == DUET_IGNORE_INDEX ? 0 : l - x[targets[n]];
    total += rl;
    if (lse) lse[n] = (float)l;
    if (row_loss) row_loss[n] = (float)rl;
  }
  *loss = count ? (float)(total / count) : 0.0f;
  return count;
}

/* log(sum(exp(x))) of one row with the vector exp (max subtracted first). */
static float row_lse(const float *x, int V) {
  float m = duet_row_max(x, V);
  return m + logf(duet_row_exp_sum(NULL, x, V, m));
}

int duet_crossentropy_forward(float *loss, float *row_loss, float *lse, const float *logits, const int *targets,
                              int N, int V) {
  int count = check_targets(targets, N, V);
  if (count < 0) return count;
  double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total) if ((long)N * V > DUET_OMP_MIN_WORK)
  for (int n = 0; n < N; n++) {
    const float *x = logits + (long)n * V;
    float l = row_lse(x, V);
    float rl = targets[n] == DUET_IGNORE_INDEX ? 0.0f : l - x[targets[n]];
    total += rl;
    if (lse) lse[n] = l;
    if (row_loss) row_loss[n] = rl;
  }
  *loss = count ? (float)(total / count) : 0.0f;
  return count;
}

void duet_crossentropy_backward(float *dlogits, const float *logits, const float *lse, const int *targets,
                                float dloss, int N, int V) {
  int count = 0;
  for (int n = 0; n < N; n++) count += targets[n] >= 0 && targets[n] < V;
  if (!count) return;
  float scale = dloss / (float)count;
#pragma omp parallel for schedule(static) if ((long)N * V > DUET_OMP_MIN_WORK)
  for (int n = 0; n < N; n++) {
    int t = targets[n];
    if (t < 0 || t >= V) continue;
    const float *x = logits + (long)n * V;
    float *d = dlogits + (long)n * V;
    float l = lse ? lse[n] : row_lse(x, V);
    int j = 0;
#if DUET_HAVE_AVX2
    __m256 vl = _mm256_set1_ps(l), vsc = _mm256_set1_ps(scale);
    for (; j + 8 <= V; j += 8) {
      __m256 p = duet_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), vl));
      _mm256_storeu_ps(d + j, _mm256_fmadd_ps(vsc, p, _mm256_loadu_ps(d + j)));
    }
#endif
    for (; j < V; j++) d[j] += scale * expf(x[j] - l);
    d[t] -= scale;
  }
}
