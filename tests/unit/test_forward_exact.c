// Forward pass against the PyTorch float32 reference of every fixture model
// (tests/fixtures/gen_model_fixtures.py): logits of every position within
// 1e-4 x max(1, max|logit|), and 32 greedy tokens identical, both from one
// prefill of the whole sequence and from prefill + decode through the
// paged cache. BF16/F16 models run with their 16-bit weights as loaded and
// converted to float32 (--f32).
#include "forward_util.h"

static const char *MODELS[] = {"llama_mha",     "llama_gqa_tied",       "llama_bf16", "llama_f16",
                               "llama_gptj",    "llama_sinusoidal",     "llama3_scaling",
                               "llama_linear_scaling", "qwen2_bias", "qwen3_qknorm", "llama_odd",
                               "llama_tp_odd", "llama_wide_head"};

static void check_model(const char *name, int to_f32) {
  char dir[256];
  snprintf(dir, sizeof dir, "fixtures/models/%s", name);
  fixture f;
  if (fixture_load(dir, &f) < 0) {
    failed++;
    return;
  }
  duet_model *m = NULL;
  duet_load_opts o = {.to_f32 = to_f32};
  int rc = duet_model_load(dir, &o, &m);
  CHECK_OK(rc);
  if (rc < 0) return free(f.logits);
  runner r;
  CHECK_OK(runner_new(&r, m, 64, 16, f.n_pos));
  int V = f.vocab, ids[128];
  memcpy(ids, f.prompt, sizeof(int) * f.n_prompt);
  memcpy(ids + f.n_prompt, f.greedy, sizeof(int) * f.n_greedy);
  // 1. one prefill of prompt + greedy[:-1]: every position
  double worst = 0;
  CHECK_OK(full_recompute(&r, ids, f.n_pos, r.logits));
  for (int t = 0; t < f.n_pos; t++) worst = fmax(worst, rel_err(r.logits + (size_t)t * V, f.logits + (size_t)t * V, V));
  // 2. prefill the prompt, then greedy decode through the cache
  duet_kv_seq s;
  duet_kv_seq_init(&s);
  float *lg = r.logits;
  CHECK_OK(duet_prefill(m, r.pool, &s, f.prompt, f.n_prompt, lg, 0, r.ws, NULL));
  int same = 1;
  for (int i = 0; i < f.n_greedy; i++) {
    worst = fmax(worst, rel_err(lg, f.logits + (size_t)(f.n_prompt - 1 + i) * V, V));
    int tok = argmax(lg, V);
    same &= tok == f.greedy[i];
    duet_kv_seq *sp = &s;
    if (i + 1 < f.n_greedy) CHECK_OK(duet_decode(m, r.pool, &sp, &tok, 1, lg, r.ws, NULL));
  }
  printf("%-22s %s max rel err %.2e, greedy %s\n", name, to_f32 ? "f32 " : "disk", worst, same ? "identical" : "DIFFERENT");
  CHECK(worst < 1e-4);
  CHECK(same);
  duet_kv_seq_release(r.pool, &s);
  CHECK(duet_kv_free_count(r.pool) == 64);
  runner_free(&r);
  duet_model_free(m);
  free(f.logits);
}

int main(void) {
  for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; i++) check_model(MODELS[i], 0);
  check_model("llama_bf16", 1);
  check_model("llama_f16", 1);
  return finish();
}
