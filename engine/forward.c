#include "engine/forward.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/ops/attention.h"
#include "engine/ops/embedding.h"
#include "engine/ops/linear.h"
#include "engine/ops/residual.h"
#include "engine/ops/rmsnorm.h"
#include "engine/ops/rope.h"
#include "engine/ops/sinusoidal.h"
#include "engine/ops/swiglu.h"
#include "engine/paged_attention.h"

/* Every buffer a forward call needs, sized once for max_tokens rows, so a
 * call allocates nothing (the context buffers only grow, rarely, when a
 * sequence gets longer than any before it). */
struct duet_workspace {
  int max_tokens;
  int dim, nh, nkv, hd, hidden; /* this shard's heads and hidden units */
  int use_rope;
  duet_rope rope;
  float *x;          /* (N, dim) residual stream */
  float *xb;         /* (N, dim) normed input of a block */
  float *q, *k, *v;  /* (N, nh*hd), (N, nkv*hd) x2 */
  float *att;        /* (N, nh*hd) attention output */
  float *proj;       /* (N, dim) o_proj / down_proj output (allreduced) */
  float *gate, *up;  /* (N, hidden) */
  int *pos;          /* (N) position of each row */
  duet_kv_seq **one; /* (1) the prefill sequence as a batch of one */
  float *kctx, *vctx; /* (ctx_cap, nkv*hd) a sequence's gathered K/V */
  int ctx_cap;
  float *scores;     /* (threads, nh, scores_cap) decode attention scores */
  int scores_cap, threads;
};

void duet_workspace_free(duet_workspace *ws) {
  if (!ws) return;
  float *bufs[] = {ws->x, ws->xb, ws->q, ws->k, ws->v, ws->att, ws->proj, ws->gate, ws->up, ws->kctx, ws->vctx, ws->scores};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
  free(ws->pos);
  free(ws->one);
  free(ws);
}

static float *fbuf(size_t rows, size_t cols) { return malloc(rows * cols * sizeof(float) + 64); }

int duet_workspace_new(const duet_model *m, int max_tokens, duet_workspace **out) {
  *out = NULL;
  const duet_config *c = &m->cfg;
  if (max_tokens <= 0 || max_tokens > (1 << 20)) return duet_error(DUET_EINVAL, "workspace: max_tokens %d", max_tokens);
  if (m->n_heads_local <= 0 || m->n_kv_heads_local <= 0 || m->n_heads_local % m->n_kv_heads_local)
    return duet_error(DUET_EINVAL, "workspace: %d query heads not a multiple of %d kv heads", m->n_heads_local,
                      m->n_kv_heads_local);
  duet_workspace *ws = calloc(1, sizeof *ws);
  if (!ws) return duet_error(DUET_ENOMEM, "workspace");
  ws->max_tokens = max_tokens, ws->dim = c->dim, ws->hd = c->head_dim;
  ws->nh = m->n_heads_local, ws->nkv = m->n_kv_heads_local, ws->hidden = m->hidden_local;
  ws->use_rope = c->pos != DUET_POS_SINUSOIDAL;
  if (ws->use_rope) {
    int rc = duet_rope_init_config(&ws->rope, c);
    if (rc < 0) {
      free(ws);
      return rc;
    }
  }
  size_t N = (size_t)max_tokens;
  ws->x = fbuf(N, c->dim), ws->xb = fbuf(N, c->dim), ws->proj = fbuf(N, c->dim);
  ws->q = fbuf(N, (size_t)ws->nh * ws->hd), ws->att = fbuf(N, (size_t)ws->nh * ws->hd);
  ws->k = fbuf(N, (size_t)ws->nkv * ws->hd), ws->v = fbuf(N, (size_t)ws->nkv * ws->hd);
  ws->gate = fbuf(N, ws->hidden), ws->up = fbuf(N, ws->hidden);
  ws->pos = malloc(N * sizeof(int));
  ws->one = malloc(sizeof(duet_kv_seq *));
  ws->threads = omp_get_max_threads();
  if (!ws->x || !ws->xb || !ws->proj || !ws->q || !ws->att || !ws->k || !ws->v || !ws->gate || !ws->up || !ws->pos ||
      !ws->one) {
    duet_workspace_free(ws);
    return duet_error(DUET_ENOMEM, "workspace for %d tokens", max_tokens);
  }
  *out = ws;
  return DUET_OK;
}

// Grow a float buffer of `cap` rows of `row` floats to hold `need` rows.
static int grow(float **buf, int *cap, int need, size_t row, const char *what) {
  if (need <= *cap) return DUET_OK;
  int ncap = *cap ? *cap : 256;
  while (ncap < need) ncap *= 2;
  float *nb = realloc(*buf, (size_t)ncap * row * sizeof(float));
  if (!nb) return duet_error(DUET_ENOMEM, "workspace %s for %d positions", what, ncap);
  *buf = nb;
  *cap = ncap;
  return DUET_OK;
}

/* Where a layer's attention reads and writes KV: one sequence's chunk at
 * positions p0.. (prefill) or one token for each of seqs (decode). */
typedef struct {
  duet_kv_pool *pool;
  duet_kv_seq **seqs;
  int n_seqs; /* 1 for prefill */
  int prefill, p0;
} kv_target;

// (N, nh*hd) q with (N, nkv*hd) k, v of the current rows -> ws->att
static int attention(duet_workspace *ws, const kv_target *t, int layer, int N) {
  int nkv = ws->nkv, hd = ws->hd;
  if (t->prefill) {
    duet_kv_seq *seq = t->seqs[0];
    duet_kv_write(t->pool, seq, layer, t->p0, N, ws->k, ws->v, nkv, hd);
    if (t->p0 == 0) // first chunk: the fresh K/V are the whole context
      return duet_attention_chunk_forward(ws->att, ws->q, N, ws->k, ws->v, N, ws->nh, nkv, hd);
    int Tk = t->p0 + N, cap = ws->ctx_cap, rc;
    if ((rc = grow(&ws->kctx, &cap, Tk, (size_t)nkv * hd, "keys")) < 0) return rc;
    cap = ws->ctx_cap;
    if ((rc = grow(&ws->vctx, &cap, Tk, (size_t)nkv * hd, "values")) < 0) return rc;
    ws->ctx_cap = cap;
    duet_kv_gather(t->pool, seq, layer, Tk, ws->kctx, ws->vctx, nkv, hd);
    return duet_attention_chunk_forward(ws->att, ws->q, N, ws->kctx, ws->vctx, Tk, ws->nh, nkv, hd);
  }
  size_t row = (size_t)nkv * hd;
  for (int i = 0; i < N; i++)
    duet_kv_write(t->pool, t->seqs[i], layer, t->seqs[i]->n_tokens - 1, 1, ws->k + i * row, ws->v + i * row, nkv, hd);
  duet_paged_attention_decode(ws->att, ws->q, t->pool, t->seqs, N, layer, ws->nh, nkv, hd, ws->scores, ws->threads,
                              ws->scores_cap);
  return DUET_OK;
}

static void allreduce(const duet_forward_hooks *h, float *buf, size_t n) {
  if (h && h->allreduce) h->allreduce(buf, n, h->allreduce_ctx);
}

// Attention half of a layer: x (N,dim) += o_proj(attention(rmsnorm(x)))
static int attention_block(const duet_model *m, const duet_layer *L, duet_workspace *ws, const kv_target *t, int layer,
                           int N, const duet_forward_hooks *hooks) {
  const duet_config *c = &m->cfg;
  int rc;
  duet_rmsnorm_forward(ws->xb, NULL, ws->x, L->attn_norm, N, c->dim, c->norm_eps);
  // (N,dim) -> (N,nh*hd), (N,nkv*hd), (N,nkv*hd)
  if ((rc = duet_linear_forward(ws->q, ws->xb, &L->wq, L->bq, N)) < 0) return rc;
  if ((rc = duet_linear_forward(ws->k, ws->xb, &L->wk, L->bk, N)) < 0) return rc;
  if ((rc = duet_linear_forward(ws->v, ws->xb, &L->wv, L->bv, N)) < 0) return rc;
  if (L->q_norm) duet_rmsnorm_forward(ws->q, NULL, ws->q, L->q_norm, N * ws->nh, ws->hd, c->norm_eps);
  if (L->k_norm) duet_rmsnorm_forward(ws->k, NULL, ws->k, L->k_norm, N * ws->nkv, ws->hd, c->norm_eps);
  if (ws->use_rope) {
    duet_rope_forward(ws->q, ws->q, &ws->rope, ws->pos, N, ws->nh);
    duet_rope_forward(ws->k, ws->k, &ws->rope, ws->pos, N, ws->nkv);
  }
  if ((rc = attention(ws, t, layer, N)) < 0) return rc;
  if ((rc = duet_linear_forward(ws->proj, ws->att, &L->wo, NULL, N)) < 0) return rc; // (N,nh*hd) -> (N,dim)
  allreduce(hooks, ws->proj, (size_t)N * c->dim);
  duet_residual_forward(ws->x, ws->x, ws->proj, (long)N * c->dim);
  return DUET_OK;
}

// MLP half: x (N,dim) += down(silu(gate(rmsnorm(x))) * up(rmsnorm(x)))
static int mlp_block(const duet_model *m, const duet_layer *L, duet_workspace *ws, int N, const duet_forward_hooks *hooks) {
  const duet_config *c = &m->cfg;
  int rc;
  duet_rmsnorm_forward(ws->xb, NULL, ws->x, L->mlp_norm, N, c->dim, c->norm_eps);
  if ((rc = duet_linear_forward(ws->gate, ws->xb, &L->w_gate, NULL, N)) < 0) return rc; // (N,dim) -> (N,hidden)
  if ((rc = duet_linear_forward(ws->up, ws->xb, &L->w_up, NULL, N)) < 0) return rc;
  duet_swiglu_forward(ws->gate, ws->gate, ws->up, (long)N * ws->hidden);
  if ((rc = duet_linear_forward(ws->proj, ws->gate, &L->w_down, NULL, N)) < 0) return rc; // (N,hidden) -> (N,dim)
  allreduce(hooks, ws->proj, (size_t)N * c->dim);
  duet_residual_forward(ws->x, ws->x, ws->proj, (long)N * c->dim);
  return DUET_OK;
}

/* The shared body of prefill and decode: embed N tokens at ws->pos, run
 * every layer, then the LM head on rows [first_logit, N) into logits. */
static int run(const duet_model *m, duet_workspace *ws, const kv_target *t, const int *tokens, int N, float *logits,
               int first_logit, const duet_forward_hooks *hooks) {
  const duet_config *c = &m->cfg;
  int rc = duet_embedding_forward(ws->x, tokens, &m->embed, N); // (N) -> (N,dim)
  if (rc < 0) return rc;
  if (c->pos == DUET_POS_SINUSOIDAL) duet_sinusoidal_forward(ws->x, ws->x, ws->pos, N, c->dim, 10000.f);
  for (int l = 0; l < c->n_layers; l++) {
    const duet_layer *L = &m->layers[l];
    if ((rc = attention_block(m, L, ws, t, l, N, hooks)) < 0) return rc;
    if (t->prefill && hooks && hooks->layer_done) hooks->layer_done(l, t->p0, N, hooks->layer_done_ctx);
    if ((rc = mlp_block(m, L, ws, N, hooks)) < 0) return rc;
  }
  if (!logits) return DUET_OK;
  int n_out = N - first_logit;
  float *xl = ws->x + (size_t)first_logit * c->dim;
  duet_rmsnorm_forward(xl, NULL, xl, m->final_norm, n_out, c->dim, c->norm_eps);
  return duet_linear_forward(logits, xl, &m->lm_head, NULL, n_out); // (n_out,dim) -> (n_out,vocab)
}

// The workspace and the pool must have been made for this model (shard):
// their sizes are what every write below trusts.
static int check_shapes(const duet_model *m, duet_kv_pool *pool, const duet_workspace *ws) {
  const duet_config *c = &m->cfg;
  if (ws->dim != c->dim || ws->hd != c->head_dim || ws->nh != m->n_heads_local || ws->nkv != m->n_kv_heads_local ||
      ws->hidden != m->hidden_local)
    return duet_error(DUET_EINVAL, "forward: the workspace was made for another model shape");
  size_t want = 2 * (size_t)duet_kv_block_size(pool) * (size_t)m->n_kv_heads_local * (size_t)c->head_dim;
  if (duet_kv_layer_floats(pool) != want || !duet_kv_layer_data(pool, 0, c->n_layers - 1))
    return duet_error(DUET_EINVAL, "forward: the KV pool's layers, kv heads or head_dim do not match the model");
  return DUET_OK;
}

static int check_tokens(const duet_model *m, const int *tokens, int n) {
  for (int i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= m->cfg.vocab)
      return duet_error(DUET_ERANGE, "token %d at index %d outside the vocabulary [0, %d)", tokens[i], i, m->cfg.vocab);
  return DUET_OK;
}

int duet_prefill(const duet_model *m, duet_kv_pool *pool, duet_kv_seq *seq, const int *tokens, int n, float *logits,
                 int all_logits, duet_workspace *ws, const duet_forward_hooks *hooks) {
  if (n <= 0 || n > ws->max_tokens)
    return duet_error(DUET_EINVAL, "prefill of %d tokens (workspace holds 1..%d)", n, ws->max_tokens);
  int rc = check_shapes(m, pool, ws);
  if (rc == DUET_OK) rc = check_tokens(m, tokens, n);
  if (rc < 0) return rc;
  int p0 = seq->n_tokens;
  if ((rc = duet_kv_seq_reserve(pool, seq, p0 + n)) < 0) return rc;
  for (int i = 0; i < n; i++) ws->pos[i] = p0 + i;
  ws->one[0] = seq;
  kv_target t = {pool, ws->one, 1, 1, p0};
  seq->n_tokens = p0 + n;
  rc = run(m, ws, &t, tokens, n, logits, all_logits ? 0 : n - 1, hooks);
  if (rc < 0) seq->n_tokens = p0; // the chunk's KV is incomplete: it does not count
  return rc;
}

// Blocks every sequence needs for one more token, and a check that no
// sequence appears twice (its KV row would be written twice).
static int decode_reserve(duet_kv_pool *pool, duet_kv_seq **seqs, int S) {
  int need = 0;
  for (int i = 0; i < S; i++) {
    for (int j = 0; j < i; j++)
      if (seqs[j] == seqs[i]) return duet_error(DUET_EINVAL, "decode: sequence %d appears twice in the batch", i);
    need += duet_kv_blocks_for(pool, seqs[i]->n_tokens + 1) - seqs[i]->n_blocks > 0;
  }
  if (need > duet_kv_free_count(pool))
    return duet_error(DUET_ENOSPC, "decode: %d sequences need a new block, %d free", need, duet_kv_free_count(pool));
  for (int i = 0; i < S; i++) {
    int rc = duet_kv_seq_reserve(pool, seqs[i], seqs[i]->n_tokens + 1);
    if (rc < 0) return rc;
  }
  return DUET_OK;
}

int duet_decode(const duet_model *m, duet_kv_pool *pool, duet_kv_seq **seqs, const int *tokens, int n_seqs,
                float *logits, duet_workspace *ws, const duet_forward_hooks *hooks) {
  if (n_seqs <= 0 || n_seqs > ws->max_tokens)
    return duet_error(DUET_EINVAL, "decode of %d sequences (workspace holds 1..%d)", n_seqs, ws->max_tokens);
  int rc = check_shapes(m, pool, ws);
  if (rc == DUET_OK) rc = check_tokens(m, tokens, n_seqs);
  if (rc < 0) return rc;
  if ((rc = decode_reserve(pool, seqs, n_seqs)) < 0) return rc;
  int max_len = 0;
  for (int i = 0; i < n_seqs; i++) {
    ws->pos[i] = seqs[i]->n_tokens;
    if (seqs[i]->n_tokens + 1 > max_len) max_len = seqs[i]->n_tokens + 1;
  }
  if ((rc = grow(&ws->scores, &ws->scores_cap, max_len, (size_t)ws->threads * ws->nh, "attention scores")) < 0) return rc;
  for (int i = 0; i < n_seqs; i++) seqs[i]->n_tokens++;
  kv_target t = {pool, seqs, n_seqs, 0, 0};
  rc = run(m, ws, &t, tokens, n_seqs, logits, 0, hooks);
  if (rc < 0)
    for (int i = 0; i < n_seqs; i++) seqs[i]->n_tokens--;
  return rc;
}
