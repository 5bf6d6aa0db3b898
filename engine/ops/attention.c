#include "engine/ops/attention.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/error.h"
#include "engine/ops/blas_threads.h"
#include "engine/ops/softmax.h"

/* Query rows are processed in blocks of ROW_BLOCK so that a block only
 * multiplies against the keys it can see (causal): about half the FLOPs of
 * a full T x T product, still in sgemm-sized pieces. Heads are spread over
 * OpenMP threads, each calling single-threaded OpenBLAS (blas_threads.h:
 * 5x faster here than one head at a time on OpenBLAS's threads). */
#define ROW_BLOCK 64

static int check(int B, int Tq, int Tk, int nh, int nkv, int hd) {
  if (B < 0 || Tq < 0 || Tk < Tq || nh <= 0 || nkv <= 0 || hd <= 0 || nh % nkv)
    return duet_error(DUET_EINVAL,
                      "attention: bad shape B=%d Tq=%d Tk=%d n_heads=%d n_kv_heads=%d head_dim=%d (need n_heads a "
                      "multiple of n_kv_heads, Tq <= Tk)",
                      B, Tq, Tk, nh, nkv, hd);
  return DUET_OK;
}

int duet_attention_forward_ref(float *out, float *att, const float *q, const float *k, const float *v, int B, int T,
                               int nh, int nkv, int hd) {
  int rc = check(B, T, T, nh, nkv, hd);
  if (rc) return rc;
  float *row = malloc(((size_t)T + 1) * sizeof(float));
  if (!row) return duet_error(DUET_ENOMEM, "attention: no memory for a row of %d scores", T);
  double scale = 1.0 / sqrt((double)hd);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < nh; h++) {
      int g = h / (nh / nkv);
      for (int i = 0; i < T; i++) {
        const float *qi = q + (((long)b * T + i) * nh + h) * hd;
        for (int j = 0; j < T; j++) {
          const float *kj = k + (((long)b * T + j) * nkv + g) * hd;
          double s = 0;
          for (int d = 0; d < hd; d++) s += (double)qi[d] * kj[d];
          row[j] = j <= i ? (float)(s * scale) : -INFINITY;
        }
        duet_softmax_forward_ref(row, row, 1, T);
        float *oi = out + (((long)b * T + i) * nh + h) * hd;
        for (int d = 0; d < hd; d++) {
          double s = 0;
          for (int j = 0; j <= i; j++) s += (double)row[j] * v[(((long)b * T + j) * nkv + g) * hd + d];
          oi[d] = (float)s;
        }
        if (att) memcpy(att + (((long)b * nh + h) * T + i) * T, row, (size_t)T * sizeof(float));
      }
    }
  free(row);
  return DUET_OK;
}

/* One (sequence, q head): q rows of Tq queries (stride ldq) at key
 * positions off..off+Tq-1, keys/values Tk rows (stride ldk), probabilities
 * into p (Tq, Tk) (row stride Tk; masked entries become 0), out rows of
 * stride ldq. */
static void head_forward(float *out, float *p, const float *q, const float *k, const float *v, int Tq, int Tk,
                         int off, int ldq, int ldk, int hd) {
  float scale = 1.0f / sqrtf((float)hd);
  for (int r0 = 0; r0 < Tq; r0 += ROW_BLOCK) {
    int rb = Tq - r0 < ROW_BLOCK ? Tq - r0 : ROW_BLOCK;
    int kv = off + r0 + rb; /* keys visible to the block's last row */
    float *pb = p + (long)r0 * Tk;
    /* S (rb, kv) = scale * Q[r0:r0+rb] K[0:kv]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rb, kv, hd, scale, q + (long)r0 * ldq, ldq, k, ldk, 0.0f,
                pb, Tk);
    for (int i = 0; i < rb; i++) {
      int len = off + r0 + i + 1; /* causal: keys 0 .. off+r0+i */
      float *row = pb + (long)i * Tk;
      duet_softmax_forward(row, row, 1, len);
      memset(row + len, 0, (size_t)(Tk - len) * sizeof(float));
    }
    /* O[r0:r0+rb] (rb, hd) = P (rb, kv) V[0:kv] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rb, hd, kv, 1.0f, pb, Tk, v, ldk, 0.0f,
                out + (long)r0 * ldq, ldq);
  }
}

/* Spread tasks over OpenMP threads (single-threaded OpenBLAS in each) only
 * when there are enough to keep every thread busy; otherwise run them one
 * after another on OpenBLAS's threads. */
static int use_threads(long tasks) {
#ifdef _OPENMP
  return tasks > 1 && tasks >= omp_get_max_threads();
#else
  (void)tasks;
  return 0;
#endif
}

/* Every (sequence, head) of q (B,Tq,nh,hd) against k/v (B,Tk,nkv,hd), one
 * per OpenMP task; probabilities into att (B,nh,Tq,Tk) or, when att is
 * NULL, into per-thread scratch. */
static int heads_forward(float *out, float *att, const float *q, const float *k, const float *v, int B, int Tq,
                         int Tk, int nh, int nkv, int hd) {
  int ldq = nh * hd, ldk = nkv * hd, err = 0;
  long tasks = (long)B * nh;
  int split = use_threads(tasks);
  int saved = split ? duet_blas_serial_begin() : 1;
#pragma omp parallel if (split)
  {
    float *scratch = att ? NULL : malloc((size_t)Tq * (size_t)Tk * sizeof(float));
#pragma omp for schedule(dynamic, 1)
    for (long bh = 0; bh < tasks; bh++) {
      int b = (int)(bh / nh), h = (int)(bh % nh);
      float *p = att ? att + bh * Tq * Tk : scratch;
      if (!p) {
#pragma omp atomic write
        err = 1;
        continue;
      }
      long qo = (long)b * Tq * ldq + (long)h * hd, ko = (long)b * Tk * ldk + (long)(h / (nh / nkv)) * hd;
      head_forward(out + qo, p, q + qo, k + ko, v + ko, Tq, Tk, Tk - Tq, ldq, ldk, hd);
    }
    free(scratch);
  }
  if (split) duet_blas_serial_end(saved);
  if (err) return duet_error(DUET_ENOMEM, "attention: no memory for %dx%d scores", Tq, Tk);
  return DUET_OK;
}

int duet_attention_forward(float *out, float *att, const float *q, const float *k, const float *v, int B, int T,
                           int nh, int nkv, int hd) {
  int rc = check(B, T, T, nh, nkv, hd);
  if (rc || !B || !T) return rc;
  return heads_forward(out, att, q, k, v, B, T, T, nh, nkv, hd);
}

int duet_attention_chunk_forward(float *out, const float *q, int Tq, const float *k, const float *v, int Tk, int nh,
                                 int nkv, int hd) {
  int rc = check(1, Tq, Tk, nh, nkv, hd);
  if (rc || !Tq) return rc;
  return heads_forward(out, NULL, q, k, v, 1, Tq, Tk, nh, nkv, hd);
}

/* One (sequence, q head) backward, T queries over T keys. ds is (T,T)
 * scratch. With P the probabilities and S the scaled scores:
 *   dV += P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)),
 *   dQ += scale dS K,  dK += scale dS^T Q. */
static void head_backward(float *dq, float *dk, float *dv, float *ds, const float *dout, const float *q,
                          const float *k, const float *v, const float *p, int T, int ldq, int ldk, int hd) {
  float scale = 1.0f / sqrtf((float)hd);
  for (int r0 = 0; r0 < T; r0 += ROW_BLOCK) {
    int rb = T - r0 < ROW_BLOCK ? T - r0 : ROW_BLOCK;
    int kv = r0 + rb;
    const float *pb = p + (long)r0 * T, *dob = dout + (long)r0 * ldq;
    float *db = ds + (long)r0 * T;
    /* dV[0:kv] += P[r0:r0+rb, 0:kv]^T dO[r0:r0+rb] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kv, hd, rb, 1.0f, pb, T, dob, ldq, 1.0f, dv, ldk);
    /* dP (rb, kv) = dO[r0:r0+rb] V[0:kv]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rb, kv, hd, 1.0f, dob, ldq, v, ldk, 0.0f, db, T);
    for (int i = 0; i < rb; i++) {
      const float *pr = pb + (long)i * T;
      float *dr = db + (long)i * T, dot = 0;
      int len = r0 + i + 1;
#pragma omp simd reduction(+ : dot)
      for (int j = 0; j < len; j++) dot += dr[j] * pr[j];
#pragma omp simd
      for (int j = 0; j < len; j++) dr[j] = pr[j] * (dr[j] - dot);
      memset(dr + len, 0, (size_t)(kv - len) * sizeof(float));
    }
    /* dQ[r0:r0+rb] += scale dS (rb, kv) K[0:kv];  dK[0:kv] += scale dS^T Q[r0:r0+rb] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rb, hd, kv, scale, db, T, k, ldk, 1.0f,
                dq + (long)r0 * ldq, ldq);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kv, hd, rb, scale, db, T, q + (long)r0 * ldq, ldq, 1.0f, dk,
                ldk);
  }
}

/* Tasks are (sequence, kv head): the q heads sharing a kv head run in
 * order inside one task, so their dk/dv sums never race. */
int duet_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                            const float *v, const float *att, int B, int T, int nh, int nkv, int hd) {
  int rc = check(B, T, T, nh, nkv, hd);
  if (rc || !B || !T) return rc;
  int ldq = nh * hd, ldk = nkv * hd, group = nh / nkv, err = 0;
  long tasks = (long)B * nkv;
  int split = use_threads(tasks);
  int saved = split ? duet_blas_serial_begin() : 1;
#pragma omp parallel if (split)
  {
    float *ds = malloc((size_t)T * (size_t)T * sizeof(float));
#pragma omp for schedule(dynamic, 1)
    for (long bg = 0; bg < tasks; bg++) {
      if (!ds) {
#pragma omp atomic write
        err = 1;
        continue;
      }
      int b = (int)(bg / nkv), g = (int)(bg % nkv);
      long ko = (long)b * T * ldk + (long)g * hd;
      for (int h = g * group; h < (g + 1) * group; h++) {
        long qo = (long)b * T * ldq + (long)h * hd;
        head_backward(dq + qo, dk + ko, dv + ko, ds, dout + qo, q + qo, k + ko, v + ko,
                      att + ((long)b * nh + h) * T * T, T, ldq, ldk, hd);
      }
    }
    free(ds);
  }
  if (split) duet_blas_serial_end(saved);
  if (err) return duet_error(DUET_ENOMEM, "attention backward: no memory for %dx%d scratch", T, T);
  return DUET_OK;
}
