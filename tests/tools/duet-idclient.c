/* duet-idclient: submit id prompts through server/runtime/backend.h and
 * print the generated ids, one line per request in input order:
 *   R<index> <finish reason> <id,id,...>
 * The backend is whichever the flags select, exactly as duetd would:
 *   --connect HOST:PORT           socket backend to a running coordinator
 *   --model DIR                   in-process backend (no MPI)
 *   --model DIR --prefill P --decode D [--tp T] [--worker-bin PATH]
 *                                 supervised: starts mpirun itself
 * Prompts: --prompt-ids 1,2,3 (repeatable) and/or --prompts FILE (one
 * comma-separated prompt per line). All are submitted at once.
 * -n N max tokens; --ignore-eos; --cancel-random SEED: cancel each request
 * after a random number of tokens in [0, min(N, 32)] (0 = right after
 * submit); --expect-free:
 * after the last finish, wait for stats showing every decode pool empty
 * again (exit 1 if not within 10 s); --timeout S (default 60);
 * --kill-job (supervised only): right after submitting, SIGKILL the mpirun
 * this process started and its ranks; every in-flight request must then finish with an error,
 * the backend must come back by itself, and the prompts are submitted
 * again (the printed results are the second round's). */
#include <dirent.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "engine/error.h"
#include "server/runtime/backend.h"

typedef struct {
  int32_t *prompt;
  int n_prompt;
  int32_t *out;
  int n_out, cap_out;
  int cancel_at; /* -1: never */
  int finished, reason;
  char msg[256];
} req;

typedef struct {
  uv_loop_t *loop;
  duet_backend *b;
  req *reqs;
  int n_reqs, n_done, submitted, expect_free, max_tokens, ignore_eos, failed;
  uv_timer_t timeout, free_wait;
  int free_ok, stats_seen;
  int kill_job, killed, round1_errors, round1_finished, went_down;
  duet_stats_msg last;
} app;

static const char *reason_name(int r) {
  static const char *names[] = {"stop", "length", "cancelled", "error"};
  return r >= 0 && r < 4 ? names[r] : "?";
}

static int parse_ids(const char *s, int32_t **out) {
  int n = 0, cap = 16;
  int32_t *v = malloc(sizeof(int32_t) * (size_t)cap);
  while (v && *s && *s != '\n') {
    char *end;
    long x = strtol(s, &end, 10);
    if (end == s) break;
    if (n == cap) v = realloc(v, sizeof(int32_t) * (size_t)(cap *= 2));
    if (!v) break;
    v[n++] = (int32_t)x;
    s = *end == ',' ? end + 1 : end;
  }
  *out = v;
  return n;
}

static void add_prompt(app *a, const char *ids) {
  a->reqs = realloc(a->reqs, sizeof(req) * (size_t)(a->n_reqs + 1));
  req *r = &a->reqs[a->n_reqs++];
  memset(r, 0, sizeof *r);
  r->cancel_at = -1;
  r->n_prompt = parse_ids(ids, &r->prompt);
}

static void on_closed(void *user) {
  app *a = user;
  uv_close((uv_handle_t *)&a->timeout, NULL);
  uv_close((uv_handle_t *)&a->free_wait, NULL);
}

static void finish_all(app *a) {
  for (int i = 0; i < a->n_reqs; i++) {
    req *r = &a->reqs[i];
    printf("R%d %s ", i, r->finished ? reason_name(r->reason) : "unfinished");
    for (int k = 0; k < r->n_out; k++) printf(k ? ",%d" : "%d", r->out[k]);
    printf("\n");
    if (r->finished && r->reason == 3) fprintf(stderr, "R%d error: %s\n", i, r->msg);
  }
  fflush(stdout);
  uv_timer_stop(&a->timeout);
  uv_timer_stop(&a->free_wait);
  duet_backend_close(a->b, on_closed);
}

static void check_free(app *a) {
  const duet_stats_msg *s = &a->last;
  int ok = a->stats_seen && s->n_decode_groups > 0;
  for (int g = 0; ok && g < s->n_decode_groups; g++)
    ok = s->kv_blocks_used[g] == 0 && s->decode_active[g] == 0 && s->decode_waiting[g] == 0;
  for (int g = 0; ok && g < s->n_prefill_groups; g++) ok = s->prefill_queued_tokens[g] == 0;
  if (!ok) return;
  a->free_ok = 1;
  for (int g = 0; g < s->n_decode_groups; g++)
    printf("POOL decode%d used=%d free=%d\n", g, s->kv_blocks_used[g], s->kv_blocks_free[g]);
  printf("KV_BYTES %llu\n", (unsigned long long)s->kv_bytes_moved);
  finish_all(a);
}

static void on_free_timeout(uv_timer_t *t) {
  app *a = t->data;
  fprintf(stderr, "duet-idclient: pools not back to full within 10 s (decode0 used=%d)\n", a->last.kv_blocks_used[0]);
  a->failed = 1;
  finish_all(a);
}

static void maybe_done(app *a) {
  if (a->n_done < a->n_reqs) return;
  if (a->expect_free) {
    uv_timer_start(&a->free_wait, on_free_timeout, 10000, 0);
    check_free(a);
    return;
  }
  finish_all(a);
}

/* Pids of the children of `parent` named `name` (any name when NULL). */
static int children(int parent, const char *name, int *pids, int max) {
  DIR *d = opendir("/proc");
  int n = 0;
  for (struct dirent *e; d && n < max && (e = readdir(d));) {
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    int pid, ppid;
    char comm[64], state;
    if (sscanf(buf, "%d (%63[^)]) %c %d", &pid, comm, &state, &ppid) == 4 && ppid == parent &&
        (!name || !strcmp(comm, name)))
      pids[n++] = pid;
  }
  if (d) closedir(d);
  return n;
}

static void submit_all(app *a);

static void on_tokens(uint64_t id, const duet_tokens_msg *t, void *user) {
  app *a = user;

  req *r = &a->reqs[id];
  for (int i = 0; i < t->n; i++) {
    if (r->n_out == r->cap_out) r->out = realloc(r->out, sizeof(int32_t) * (size_t)(r->cap_out = 2 * r->cap_out + 16));
    r->out[r->n_out++] = t->ids[i];
  }
  if (r->cancel_at >= 0 && r->n_out >= r->cancel_at) {
    r->cancel_at = -1;
    duet_backend_cancel(a->b, id);
  }
}

static void on_finish(uint64_t id, const duet_finish_msg *f, void *user) {
  app *a = user;
  if (a->killed && !a->went_down) { /* round 1, failed by the job's death */
    a->round1_errors += f->reason == DUET_FINISH_ERROR;
    a->round1_finished++;
    return;
  }
  req *r = &a->reqs[id];
  if (r->finished) {
    fprintf(stderr, "duet-idclient: request %llu finished twice\n", (unsigned long long)id);
    a->failed = 1;
  }
  r->finished = 1;
  r->reason = f->reason;
  snprintf(r->msg, sizeof r->msg, "%s", f->message);
  a->n_done++;
  maybe_done(a);
}

static void on_stats(const duet_stats_msg *s, void *user) {
  app *a = user;
  a->last = *s;
  a->stats_seen = 1;
  if (a->expect_free && a->n_done == a->n_reqs && !a->free_ok) check_free(a);
}

static void on_state(int ready, const char *why, void *user) {
  app *a = user;
  fprintf(stderr, "duet-idclient: workers %s (%s)\n", ready ? "ready" : "down", why);
  if (!ready && a->killed && !a->went_down) {
    a->went_down = 1;
    /* Every request of round 1 must have its one finish by now (the
     * backend fails them before reporting down), some with an error. */
    if (a->round1_finished + a->n_done != a->n_reqs || a->round1_errors == 0) {
      fprintf(stderr, "duet-idclient: when the job died %d of %d requests had finished (%d with an error)\n",
              a->round1_finished + a->n_done, a->n_reqs, a->round1_errors);
      a->failed = 1;
    }
  }
  if (!ready || (a->submitted && !(a->went_down && a->submitted == 1))) return;
  a->submitted++;
  if (a->submitted == 2) fprintf(stderr, "duet-idclient: workers back; submitting again\n");
  /* --kill-job: find mpirun and its ranks first (reading /proc takes
   * milliseconds, long enough for the tiny test model to finish), then
   * submit and kill at once, so that every request is in flight. */
  int pids[64], n = 0;
  if (a->kill_job && !a->killed) {
    int mp;
    if (children(getpid(), "mpirun", &mp, 1) == 1) {
      n = children(mp, NULL, pids, 63);
      pids[n++] = mp;
    }
  }
  submit_all(a);
  if (a->kill_job && !a->killed) {
    a->killed = 1;
    for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
    fprintf(stderr, "duet-idclient: killed the worker job (%d processes)\n", n);
  }
}

static void submit_all(app *a) {
  a->n_done = 0;
  for (int i = 0; i < a->n_reqs; i++) a->reqs[i].n_out = a->reqs[i].finished = 0;
  for (int i = 0; i < a->n_reqs; i++) {
    duet_request_msg q = {0};
    duet_sampling_defaults(&q.sampling);
    q.sampling.temperature = 0;
    q.max_tokens = a->max_tokens;
    q.ignore_eos = a->ignore_eos;
    q.n_prompt = a->reqs[i].n_prompt;
    q.prompt = a->reqs[i].prompt;
    int rc = duet_backend_submit(a->b, (uint64_t)i, &q);
    if (rc) {
      fprintf(stderr, "duet-idclient: submit R%d: %s\n", i, duet_last_error());
      a->reqs[i].finished = 1;
      a->reqs[i].reason = 3;
      a->n_done++;
      continue;
    }
    if (a->reqs[i].cancel_at == 0) {
      a->reqs[i].cancel_at = -1;
      duet_backend_cancel(a->b, (uint64_t)i);
    }
  }
  maybe_done(a);
}

static void on_timeout(uv_timer_t *t) {
  app *a = t->data;
  fprintf(stderr, "duet-idclient: timed out with %d of %d requests finished\n", a->n_done, a->n_reqs);
  a->failed = 1;
  finish_all(a);
}

static void read_prompts(app *a, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "duet-idclient: cannot open %s\n", path);
    exit(2);
  }
  char line[1 << 16];
  while (fgets(line, sizeof line, f))
    if (line[0] >= '0' && line[0] <= '9') add_prompt(a, line);
  fclose(f);
}

int main(int argc, char **argv) {
  app a = {0};
  duet_backend_opts o = {0};
  a.max_tokens = 16;
  int timeout_s = 60;
  long cancel_seed = -1;
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(k, "--connect")) o.workers_addr = v, i++;
    else if (!strcmp(k, "--model")) o.model_dir = v, i++;
    else if (!strcmp(k, "--prefill")) o.n_prefill = atoi(v), i++;
    else if (!strcmp(k, "--decode")) o.n_decode = atoi(v), i++;
    else if (!strcmp(k, "--tp")) o.tp = atoi(v), i++;
    else if (!strcmp(k, "--kv-blocks")) o.kv_blocks = atoi(v), i++;
    else if (!strcmp(k, "--worker-bin")) o.worker_bin = v, i++;
    else if (!strcmp(k, "--prompt-ids")) add_prompt(&a, v), i++;
    else if (!strcmp(k, "--prompts")) read_prompts(&a, v), i++;
    else if (!strcmp(k, "-n")) a.max_tokens = atoi(v), i++;
    else if (!strcmp(k, "--timeout")) timeout_s = atoi(v), i++;
    else if (!strcmp(k, "--cancel-random")) cancel_seed = atol(v), i++;
    else if (!strcmp(k, "--ignore-eos")) a.ignore_eos = 1;
    else if (!strcmp(k, "--expect-free")) a.expect_free = 1;
    else if (!strcmp(k, "--kill-job")) a.kill_job = 1;
    else {
      fprintf(stderr, "duet-idclient: unknown argument %s\n", k);
      return 2;
    }
  }
  if (!a.n_reqs || (!o.workers_addr && !o.model_dir)) {
    fprintf(stderr, "usage: duet-idclient (--connect HOST:PORT | --model DIR [--prefill P --decode D --tp T]) "
                    "--prompt-ids 1,2,3 [-n N] [--cancel-random SEED] [--expect-free]\n");
    return 2;
  }
  if (cancel_seed >= 0) {
    srand((unsigned)cancel_seed);
    int span = a.max_tokens < 32 ? a.max_tokens : 32; /* early enough to land before the end */
    for (int i = 0; i < a.n_reqs; i++) a.reqs[i].cancel_at = rand() % (span + 1);
  }
  a.loop = uv_default_loop();
  uv_timer_init(a.loop, &a.timeout);
  uv_timer_init(a.loop, &a.free_wait);
  a.timeout.data = a.free_wait.data = &a;
  duet_backend_callbacks cb = {on_tokens, on_finish, on_stats, on_state, &a};
  if (duet_backend_new(a.loop, &o, &cb, &a.b)) {
    fprintf(stderr, "duet-idclient: %s\n", duet_last_error());
    return 1;
  }
  uv_timer_start(&a.timeout, on_timeout, (uint64_t)timeout_s * 1000, 0);
  uv_run(a.loop, UV_RUN_DEFAULT);
  uv_loop_close(a.loop);
  int unfinished = 0;
  for (int i = 0; i < a.n_reqs; i++) {
    unfinished += !a.reqs[i].finished;
    free(a.reqs[i].prompt);
    free(a.reqs[i].out);
  }
  free(a.reqs);
  return a.failed || unfinished ? 1 : 0;
}
