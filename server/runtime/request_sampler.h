#ifndef DUET_RUNTIME_REQUEST_SAMPLER_H
#define DUET_RUNTIME_REQUEST_SAMPLER_H

/* The sampler of one request, made the same way by the prefill leader
 * (which draws the first token) and the decode leader (which replays that
 * draw and goes on), so both hold the same state: the request's sampling
 * parameters, its prompt (for the repetition penalty) and the ids that end
 * it (the model's EOS ids unless ignore_eos, and the request's stop ids),
 * which min_tokens masks. */

#include "engine/model.h"
#include "engine/sampler.h"
#include "proto/message.h"

/* 1 when tok ends req (the same ids the sampler masks for min_tokens). */
int duet_request_is_end(const duet_request_msg *req, const duet_config *c, int tok);
int duet_request_sampler_new(const duet_request_msg *req, const duet_config *c, const int32_t *prompt, int n_prompt,
                             duet_sampler **out);

#endif
