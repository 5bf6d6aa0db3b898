#ifndef DUET_FRONTEND_RESPONSE_H
#define DUET_FRONTEND_RESPONSE_H

/* The JSON shapes OpenAI's API answers with, for completions
 * ("text_completion") and chat ("chat.completion" and ".chunk"): whole
 * responses, streamed chunks, the usage chunk, and log-probabilities in
 * each endpoint's format. */

#include <jansson.h>
#include <stddef.h>

#include "server/frontend/generate.h"

/* One streamed chunk for choice c: text (may be empty), logprobs (stolen,
 * may be NULL), finish (NULL while going), role: first chat chunk. */
json_t *duet_resp_chunk(const duet_job *j, const duet_choice *c, const char *text, size_t len, json_t *lp,
                        const char *finish, int role);
json_t *duet_resp_usage_chunk(const duet_job *j);
json_t *duet_resp_whole(const duet_job *j);
/* Logprobs of n tokens. Completions' text_offset: the first token's is
 * *offset; each next one adds the characters (code points) of the token
 * before, as vLLM and OpenAI count; *offset ends past the last token. */
json_t *duet_resp_logprobs(const duet_job *j, const int32_t *ids, const duet_token_logprobs *lp, int n,
                           size_t *offset);
/* Completions with echo: the prompt's n ids, the first with null
 * log-probs (nothing comes before it), then lp[0..n-1) for the others;
 * offsets from 0, *offset left past the prompt's tokens. */
json_t *duet_resp_prompt_logprobs(const duet_job *j, const int32_t *ids, int n, const duet_token_logprobs *lp,
                                  size_t *offset);
/* Appends more (stolen) to acc (same format); returns acc or more. */
json_t *duet_resp_logprobs_join(json_t *acc, json_t *more);

#endif
