#include "server/runtime/request_sampler.h"

_Static_assert(1 + DUET_MAX_EOS_IDS + DUET_MAX_STOP_IDS <= DUET_MAX_END_IDS, "every end id fits the sampler");

/* The ids that end req: the model's EOS ids unless ignore_eos, then the
 * request's stop ids. Returns how many went to end. */
static int end_ids(const duet_request_msg *req, const duet_config *c, int end[DUET_MAX_END_IDS]) {
  int n = 0;
  if (!req->ignore_eos) {
    if (c->eos_id >= 0) end[n++] = c->eos_id;
    for (int i = 0; i < c->n_eos; i++) end[n++] = c->eos_ids[i];
  }
  for (int i = 0; i < req->n_stop_ids && n < DUET_MAX_END_IDS; i++) end[n++] = req->stop_ids[i];
  return n;
}

int duet_request_is_end(const duet_request_msg *req, const duet_config *c, int tok) {
  int end[DUET_MAX_END_IDS], n = end_ids(req, c, end);
  for (int i = 0; i < n; i++)
    if (tok == end[i]) return 1;
  return 0;
}

int duet_request_sampler_new(const duet_request_msg *req, const duet_config *c, const int32_t *prompt, int n_prompt,
                             duet_sampler **out) {
  int rc = duet_sampler_new(&req->sampling, c->vocab, out);
  if (rc < 0) return rc;
  duet_sampler_add_prompt(*out, prompt, n_prompt); /* int and int32_t are the same here */
  int end[DUET_MAX_END_IDS], n = end_ids(req, c, end);
  if ((rc = duet_sampler_set_end_ids(*out, end, n)) < 0) {
    duet_sampler_free(*out);
    *out = NULL;
  }
  return rc;
}
