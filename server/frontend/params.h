#ifndef DUET_FRONTEND_PARAMS_H
#define DUET_FRONTEND_PARAMS_H

/* The request parameters shared by /v1/completions and
 * /v1/chat/completions, read from the JSON body and checked one by one so
 * a bad value gets a 400 naming it (OpenAI's names). Unknown keys are
 * ignored, as OpenAI-compatible servers do; known features duet lacks
 * (suffix, best_of > 1, JSON response_format, tools) get a 400 too. */

#include <jansson.h>

#include "engine/sampler.h"

#define DUET_MAX_STOP 16

typedef struct {
  duet_sampling_params sp;
  int max_tokens;      /* 0: not given (the endpoint picks a default) */
  int n;
  int stream, include_usage;
  int logprobs;        /* top-N per token; -1: none */
  int echo;            /* completions only */
  int ignore_eos;      /* vLLM's extension */
  int tokens_as_ids;   /* vLLM's return_tokens_as_token_ids: logprob tokens as "token_id:N" */
  int n_stop_ids;      /* vLLM's stop_token_ids */
  int stop_ids[DUET_MAX_STOP];
  int n_stop;
  const char *stop[DUET_MAX_STOP]; /* point into the JSON body */
  size_t stop_max_len;
} duet_params;

typedef struct {
  const char *param;   /* the offending parameter */
  char msg[256];
} duet_param_error;

/* chat: read logprobs as a boolean plus top_logprobs (and accept
 * max_completion_tokens); else logprobs is an integer and echo exists.
 * max_tokens_cap: --max-tokens; max_n: --max-n; vocab: the model's (token
 * ids in logit_bias and stop_token_ids). Returns 0 or -1 with e. */
int duet_params_parse(const json_t *body, int chat, int max_tokens_cap, int max_n, int vocab, duet_params *p,
                      duet_param_error *e);

#endif
