#ifndef DUET_FRONTEND_GENERATE_H
#define DUET_FRONTEND_GENERATE_H

/* A generation job: one HTTP request's prompts times n choices, each a
 * request to the backend. Tokens come back as ids; here they become text
 * (streaming detokenizer: never half a UTF-8 character), stop strings are
 * cut out (and the backend told to cancel), and text goes to the client as
 * SSE chunks or one JSON body at the end.
 *
 * A job outlives its HTTP request when the client goes away: it cancels
 * every choice and waits for the backend's finishes (exactly one per
 * submitted choice) before it is freed, so KV blocks are always released
 * and ids never dangle. */

#include <jansson.h>
#include <stdint.h>

#include "server/frontend/params.h"
#include "server/frontend/server.h"

typedef struct duet_req duet_req;
typedef struct duet_detok duet_detok;

typedef struct {
  struct duet_job *job;
  int index, prompt;
  uint64_t gid;          /* backend request id */
  int alive;             /* submitted, no finish from the backend yet */
  int open;              /* still producing for the client */
  const char *finish;    /* "stop", "length" */
  duet_detok *detok;
  char *text;            /* everything generated (stop-cut) */
  size_t len, cap, emitted;
  size_t stop_from;      /* stop strings must end past here: min_tokens' text */
  int n_gen, prompt_tokens;
  double t_first, t_last;
  json_t *lp;            /* accumulated logprobs (non-streaming) */
  size_t lp_offset;      /* the next logprob token's text_offset (characters) */
} duet_choice;

struct duet_job {
  duet_server *s;
  duet_req *req;         /* NULL once answered or the client left */
  int chat;
  duet_params p;
  json_t *body;          /* owns the strings p points at */
  int n_prompts;
  int32_t **prompts;
  int *prompt_lens;
  json_t **echo;         /* completions echo text per prompt (a string: it may hold U+0000), or NULL */
  int n_choices;
  duet_choice *ch;
  int alive, open;
  int ttft_seen;
  double t0;
  char id[48];
  long long created;
};
typedef struct duet_job duet_job;

/* Takes body (a reference). */
duet_job *duet_job_new(duet_req *r, int chat, json_t *body, const duet_params *p);
/* Takes ids (malloc'd) and echo (a reference, or NULL). */
int duet_job_add_prompt(duet_job *j, int32_t *ids, int n, json_t *echo);
/* Checks lengths against the context, submits, and answers the request
 * (now on error, later on success). The job frees itself when done. */
void duet_job_run(duet_job *j);
/* For a job that was never run. */
void duet_job_free(duet_job *j);

/* Backend callbacks. */
void duet_gen_tokens(duet_server *s, uint64_t id, const duet_tokens_msg *t);
void duet_gen_finish(duet_server *s, uint64_t id, const duet_finish_msg *f);
/* Cancel every generation in flight (drain deadline). */
void duet_gen_cancel_all(duet_server *s);

#endif
