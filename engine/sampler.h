#ifndef DUET_SAMPLER_H
#define DUET_SAMPLER_H

/* Turns a row of logits into the next token. Order of operations (as vLLM
 * and llama.cpp): logit bias and the min_tokens mask, penalties (repetition on prompt+output, presence and
 * frequency on output), temperature, then top-k, top-p, min-p filtering,
 * then a draw from a per-request seeded generator (temperature 0: argmax,
 * ties to the lowest id). Log-probabilities reported are those of the raw
 * (penalty-free, temperature-1) distribution, as OpenAI reports them. */

#include <stdint.h>

#define DUET_MAX_LOGIT_BIAS 1024

typedef struct {
  float temperature;        /* 0 = greedy; default 1 */
  int top_k;                /* 0 or <0 = off */
  float top_p;              /* 1 = off */
  float min_p;              /* 0 = off */
  float repetition_penalty; /* 1 = off (Hugging Face / llama.cpp semantics) */
  float presence_penalty;   /* 0 = off (OpenAI semantics) */
  float frequency_penalty;  /* 0 = off */
  uint64_t seed;            /* sampling is reproducible for a given seed */
  int n_logprobs;           /* top-N log-probs to report per token, 0 = none */
  int min_tokens;           /* the end ids (duet_sampler_set_end_ids) are
                               masked until this many tokens were drawn */
  int n_bias;               /* OpenAI logit_bias: bias[i] (-100..100) is */
  int bias_ids[DUET_MAX_LOGIT_BIAS]; /* added to logit bias_ids[i] before */
  float bias[DUET_MAX_LOGIT_BIAS];   /* penalties and sampling (distinct ids) */
} duet_sampling_params;

void duet_sampling_defaults(duet_sampling_params *p);
/* Validate ranges; returns DUET_EINVAL with duet_last_error() naming the
 * parameter (OpenAI's names: "temperature", "top_p", ...). */
int duet_sampling_validate(const duet_sampling_params *p, int vocab);

#define DUET_MAX_LOGPROBS 20
typedef struct {
  float logprob;                          /* of the chosen token */
  int n_top;
  int top_ids[DUET_MAX_LOGPROBS];
  float top_logprobs[DUET_MAX_LOGPROBS];
} duet_token_logprobs;

typedef struct duet_sampler duet_sampler;
/* A sampler belongs to one sequence: it keeps the generator state and the
 * token counts the penalties need. */
int duet_sampler_new(const duet_sampling_params *p, int vocab, duet_sampler **out);
void duet_sampler_free(duet_sampler *s);
/* Tell the sampler about prompt tokens (for the repetition penalty). */
void duet_sampler_add_prompt(duet_sampler *s, const int *ids, int n);
/* The ids that would end the sequence (EOS, stop ids): masked while fewer
 * than min_tokens were drawn. At most DUET_MAX_END_IDS; copied. */
#define DUET_MAX_END_IDS 32
int duet_sampler_set_end_ids(duet_sampler *s, const int *ids, int n);
/* Pick the next token from logits (vocab floats; may be modified). The
 * chosen token is recorded as output. lp may be NULL; its log-probs are
 * of the raw logits (before bias, masks and penalties), as vLLM's. */
int duet_sample(duet_sampler *s, float *logits, duet_token_logprobs *lp);
/* The log-probability of token under logits (vocab floats, read only) and
 * the n_top (<= DUET_MAX_LOGPROBS) best: a prompt token's, for echo. */
void duet_logprobs_of(const float *logits, int vocab, int token, int n_top, duet_token_logprobs *lp);

#endif
