#include "engine/paged_attention.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "engine/ops/simd.h"

/* Below this many multiply-adds a thread team costs more than it saves. */
#define MIN_PARALLEL_WORK 32768

// Position p of a sequence lives in block seq->blocks[p / bs] at row p % bs;
// a layer's run is K (bs, nkv, hd) then V (bs, nkv, hd).
static float *kv_row(duet_kv_pool *pool, const duet_kv_seq *seq, int layer, int p, int is_v, size_t row) {
  int bs = duet_kv_block_size(pool);
  float *base = duet_kv_layer_data(pool, seq->blocks[p / bs], layer);
  return base + (size_t)is_v * (size_t)bs * row + (size_t)(p % bs) * row;
}

void duet_kv_write(duet_kv_pool *pool, const duet_kv_seq *seq, int layer, int p0, int n, const float *k,
                   const float *v, int nkv, int hd) {
  size_t row = (size_t)nkv * (size_t)hd;
  for (int i = 0; i < n; i++) {
    memcpy(kv_row(pool, seq, layer, p0 + i, 0, row), k + (size_t)i * row, row * sizeof(float));
    memcpy(kv_row(pool, seq, layer, p0 + i, 1, row), v + (size_t)i * row, row * sizeof(float));
  }
}

void duet_kv_gather(duet_kv_pool *pool, const duet_kv_seq *seq, int layer, int n, float *k, float *v, int nkv,
                    int hd) {
  size_t row = (size_t)nkv * (size_t)hd;
  int bs = duet_kv_block_size(pool);
  // whole runs of a block at a time: rows of one block are contiguous
  for (int p = 0; p < n; p += bs) {
    int cnt = n - p < bs ? n - p : bs;
    memcpy(k + (size_t)p * row, kv_row(pool, seq, layer, p, 0, row), (size_t)cnt * row * sizeof(float));
    memcpy(v + (size_t)p * row, kv_row(pool, seq, layer, p, 1, row), (size_t)cnt * row * sizeof(float));
  }
}

/* Query heads of kv heads [g0, g1) of one sequence over its keys:
 * q (nh, hd) -> out (nh, hd) for those heads. The K and V passes walk each
 * block's rows in order, reading the run of the head range in every row,
 * so memory is streamed rather than strided per head.
 * scores: (group * (g1-g0), T) scratch. */
static void attend_heads(float *out, const float *q, duet_kv_pool *pool, const duet_kv_seq *seq, int layer, int g0,
                         int g1, int group, int nkv, int hd, float *scores) {
  size_t row = (size_t)nkv * (size_t)hd;
  int bs = duet_kv_block_size(pool), T = seq->n_tokens, h0 = g0 * group, nq = (g1 - g0) * group;
  float scale = 1.0f / sqrtf((float)hd);
  for (int p0 = 0; p0 < T; p0 += bs) {
    const float *kb = kv_row(pool, seq, layer, p0, 0, row);
    int cnt = T - p0 < bs ? T - p0 : bs;
    for (int j = 0; j < nq; j++) { // query head h0+j reads kv head (h0+j)/group
      const float *qj = q + (size_t)(h0 + j) * hd, *kj = kb + (size_t)((h0 + j) / group) * hd;
      float *sc = scores + (size_t)j * T + p0;
      int t = 0;
      for (; t + 4 <= cnt; t += 4) duet_dot4(sc + t, qj, kj + t * row, row, hd);
      for (; t < cnt; t++) sc[t] = duet_dot(qj, kj + t * row, hd);
    }
  }
  for (int j = 0; j < nq; j++) { // softmax of each head's row, max subtracted
    float *sc = scores + (size_t)j * T;
    for (int t = 0; t < T; t++) sc[t] *= scale;
    float mx = duet_row_max(sc, T), inv = 1.0f / duet_row_exp_sum(sc, sc, T, mx);
    for (int t = 0; t < T; t++) sc[t] *= inv;
    memset(out + (size_t)(h0 + j) * hd, 0, (size_t)hd * sizeof(float));
  }
  for (int p0 = 0; p0 < T; p0 += bs) {
    const float *vb = kv_row(pool, seq, layer, p0, 1, row);
    int cnt = T - p0 < bs ? T - p0 : bs;
    for (int t = 0; t < cnt; t++)
      for (int j = 0; j < nq; j++) {
        const float *vt = vb + t * row + (size_t)((h0 + j) / group) * hd;
        duet_axpy(out + (size_t)(h0 + j) * hd, scores[(size_t)j * T + p0 + t], vt, hd);
      }
  }
}

void duet_paged_attention_decode(float *out, const float *q, duet_kv_pool *pool, duet_kv_seq *const *seqs, int S,
                                 int layer, int nh, int nkv, int hd, float *scratch, int slots, int max_len) {
  int group = nh / nkv, threads = omp_get_max_threads();
  if (threads > slots) threads = slots;
  long work = 0;
  for (int i = 0; i < S; i++) work += (long)seqs[i]->n_tokens * nh * hd;
  // few sequences: split each one's kv heads so every thread has work
  int parts = S >= threads ? 1 : (threads + S - 1) / S;
  if (parts > nkv) parts = nkv;
#pragma omp parallel for schedule(dynamic, 1) if (work >= MIN_PARALLEL_WORK) num_threads(threads)
  for (int ip = 0; ip < S * parts; ip++) {
    int i = ip / parts, part = ip % parts;
    int g0 = nkv * part / parts, g1 = nkv * (part + 1) / parts;
    float *scores = scratch + (size_t)omp_get_thread_num() * (size_t)nh * (size_t)max_len;
    size_t off = (size_t)i * nh * hd;
    attend_heads(out + off, q + off, pool, seqs[i], layer, g0, g1, group, nkv, hd, scores);
  }
}
