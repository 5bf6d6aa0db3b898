#include "engine/paged_attention.h"

#include <math.h>
#include <omp.h>
#include <string.h>

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

// Eight independent partial sums: the compiler vectorises this (a single
// running sum it may not reorder), and hd is a multiple of 8 in practice.
static inline float dot(const float *a, const float *b, int n) {
  float acc[8] = {0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

// One query head over one sequence's keys: q (hd) -> out (hd).
static void attend_one(float *out, const float *q, duet_kv_pool *pool, const duet_kv_seq *seq, int layer, int kvh,
                       int nkv, int hd, float *scores) {
  size_t row = (size_t)nkv * (size_t)hd;
  int bs = duet_kv_block_size(pool), T = seq->n_tokens;
  float scale = 1.0f / sqrtf((float)hd), mx = -INFINITY;
  for (int p0 = 0; p0 < T; p0 += bs) {
    const float *kb = kv_row(pool, seq, layer, p0, 0, row) + (size_t)kvh * hd;
    int cnt = T - p0 < bs ? T - p0 : bs;
    for (int t = 0; t < cnt; t++) {
      float s = dot(q, kb + (size_t)t * row, hd) * scale;
      scores[p0 + t] = s;
      if (s > mx) mx = s;
    }
  }
  float sum = 0.f;
  for (int t = 0; t < T; t++) {
    scores[t] = expf(scores[t] - mx);
    sum += scores[t];
  }
  float inv = 1.0f / sum;
  for (int d = 0; d < hd; d++) out[d] = 0.f;
  for (int p0 = 0; p0 < T; p0 += bs) {
    const float *vb = kv_row(pool, seq, layer, p0, 1, row) + (size_t)kvh * hd;
    int cnt = T - p0 < bs ? T - p0 : bs;
    for (int t = 0; t < cnt; t++) {
      const float *vt = vb + (size_t)t * row;
      float w = scores[p0 + t] * inv;
      for (int d = 0; d < hd; d++) out[d] += w * vt[d];
    }
  }
}

void duet_paged_attention_decode(float *out, const float *q, duet_kv_pool *pool, duet_kv_seq *const *seqs, int S,
                                 int layer, int nh, int nkv, int hd, float *scratch, int max_len) {
  int group = nh / nkv;
  long work = 0;
  for (int i = 0; i < S; i++) work += (long)seqs[i]->n_tokens * nh * hd;
#pragma omp parallel for schedule(dynamic, 1) if (work >= MIN_PARALLEL_WORK)
  for (int ih = 0; ih < S * nh; ih++) {
    int i = ih / nh, h = ih % nh;
    float *scores = scratch + (size_t)omp_get_thread_num() * (size_t)max_len;
    size_t off = ((size_t)i * nh + h) * hd;
    attend_one(out + off, q + off, pool, seqs[i], layer, h / group, nkv, hd, scores);
  }
}
