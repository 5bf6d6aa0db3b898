/* duet-bench: a serving benchmark in the manner of `vllm bench serve`, for
 * duetd or any OpenAI-compatible server.
 *
 * Requests arrive as a Poisson process (--request-rate, inf = all at once),
 * at most --max-concurrency in flight, each streamed; per request it records
 * TTFT, the gaps between token events (ITL), E2E latency and the server's
 * usage counts, then prints the vLLM-style table (clients/bench_stats.h).
 *
 * Prompts: random token ids of --input-len (or A:B for a uniform range)
 * sent as an id list (exact prompt lengths, like vLLM's random dataset), or
 * lines of --prompts-file as text. --endpoint chat needs text prompts: with
 * no file, random words are used. Output length: --output-len (or A:B),
 * with ignore_eos so every request generates exactly that many tokens. */

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "clients/bench_stats.h"
#include "engine/cli_number.h"
#include "clients/openai_stream.h"
#include "engine/error.h"

typedef struct {
  const char *url, *api_key, *model, *prompts_file, *json_file, *goodput;
  int chat, http1, num_prompts, max_concurrency, connections, vocab, ignore_eos;
  int in_lo, in_hi, out_lo, out_hi;
  double rate;
  uint64_t seed;
} bench_opts;

typedef struct bench bench;

typedef struct {
  bench *b;
  int index;
  duet_oai_call call;
  duet_http_conn *conn; /* HTTP/1.1: this request's own connection */
  json_t *body;
  double start, last;
  int got_first;
  duet_bench_result res;
  int itl_cap;
} bench_req;

struct bench {
  bench_opts o;
  uv_loop_t *loop;
  uv_timer_t arrivals;
  char host[256], prefix[256];
  int port;
  duet_http_conn **h2conns;
  duet_http_conn **h1_idle; /* keep-alive connections ready for reuse */
  int n_h1_idle;
  bench_req *reqs;
  int n_arrived, n_started, in_flight, n_done, n_failures_shown;
  uint64_t rng;
  double t0;
};

/* ---- prompts ------------------------------------------------------------ */

static uint64_t next_u64(uint64_t *s) { /* splitmix64: seeded, reproducible */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double uniform01(uint64_t *s) { return (next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }
static int uniform_int(uint64_t *s, int lo, int hi) {
  return lo + (int)(next_u64(s) % (uint64_t)(hi - lo + 1));
}

static const char *words[] = {"the", "of", "and", "light", "water", "earth", "day", "night",
                              "said", "God", "man", "land", "there", "was", "unto", "them",
                              "time", "people", "house", "city", "heaven", "king", "word", "went"};

/* realloc, or exit with a message: a benchmark that lost a prompt or a
 * latency sample would report wrong figures. */
static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "duet-bench: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return q;
}

static json_t *random_prompt(bench *b, int len) {
  if (!b->o.chat) {
    json_t *ids = json_array();
    for (int i = 0; i < len; i++)
      json_array_append_new(ids, json_integer(uniform_int(&b->rng, 10, b->o.vocab - 1)));
    return ids;
  }
  size_t cap = (size_t)len * 8 + 1, n = 0;
  char *text = xrealloc(NULL, cap);
  for (int i = 0; i < len; i++)
    n += (size_t)snprintf(text + n, cap - n, "%s%s", i ? " " : "",
                          words[next_u64(&b->rng) % (sizeof words / sizeof *words)]);
  json_t *s = json_stringn(text, n);
  free(text);
  return s;
}

static int load_prompts_file(bench *b, json_t ***out, int *n_out) {
  FILE *f = fopen(b->o.prompts_file, "r");
  if (!f) return duet_error(DUET_EIO, "cannot open --prompts-file %s", b->o.prompts_file);
  json_t **lines = NULL;
  int n = 0, cap = 0;
  char *line = NULL;
  size_t lcap = 0;
  ssize_t len;
  while ((len = getline(&line, &lcap, f)) > 0) {
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (!len) continue;
    if (n == cap) lines = xrealloc(lines, sizeof *lines * (size_t)(cap = cap ? cap * 2 : 64));
    lines[n++] = json_stringn(line, (size_t)len);
  }
  free(line);
  fclose(f);
  if (!n) return duet_error(DUET_EINVAL, "--prompts-file %s has no prompts", b->o.prompts_file);
  *out = lines;
  *n_out = n;
  return DUET_OK;
}

static int build_requests(bench *b) {
  json_t **file_prompts = NULL;
  int n_file = 0;
  if (b->o.prompts_file && load_prompts_file(b, &file_prompts, &n_file) != 0) return DUET_EINVAL;
  for (int i = 0; i < b->o.num_prompts; i++) {
    bench_req *r = &b->reqs[i];
    r->b = b;
    r->index = i;
    json_t *body = json_object();
    if (b->o.model) json_object_set_new(body, "model", json_string(b->o.model));
    json_t *prompt = file_prompts ? json_incref(file_prompts[i % n_file])
                                  : random_prompt(b, uniform_int(&b->rng, b->o.in_lo, b->o.in_hi));
    if (b->o.chat)
      json_object_set_new(body, "messages",
                          json_pack("[{s:s,s:o}]", "role", "user", "content", prompt));
    else
      json_object_set_new(body, "prompt", prompt);
    json_object_set_new(body, "max_tokens", json_integer(uniform_int(&b->rng, b->o.out_lo, b->o.out_hi)));
    json_object_set_new(body, "temperature", json_real(0));
    if (b->o.ignore_eos) json_object_set_new(body, "ignore_eos", json_true());
    r->body = body;
  }
  for (int i = 0; i < n_file; i++) json_decref(file_prompts[i]);
  free(file_prompts);
  return DUET_OK;
}

/* ---- running ------------------------------------------------------------ */

static void progress(bench *b) {
  int width = 40, n = b->n_done, total = b->o.num_prompts;
  int fill = total ? n * width / total : width;
  if (!isatty(2) && n != total && n % (total / 10 ? total / 10 : 1) != 0) return;
  fprintf(stderr, "\r[%.*s%*s] %d/%d  in flight %d  %.1fs", fill,
          "########################################", width - fill, "", n, total, b->in_flight,
          duet_now() - b->t0);
  if (n == total || !isatty(2)) fprintf(stderr, "\n");
}

static void start_next(bench *b);

static void on_text(duet_oai_call *call, const char *text, size_t len) {
  (void)text, (void)len;
  bench_req *r = call->user;
  double now = duet_now();
  if (!r->got_first) {
    r->got_first = 1;
    r->res.ttft = now - r->start;
  } else {
    if (r->res.n_itl == r->itl_cap) {
      r->itl_cap = r->itl_cap ? r->itl_cap * 2 : 64;
      r->res.itl = xrealloc(r->res.itl, sizeof(double) * (size_t)r->itl_cap);
    }
    r->res.itl[r->res.n_itl++] = now - r->last;
  }
  r->last = now;
}

static void on_done(duet_oai_call *call, int err) {
  bench_req *r = call->user;
  bench *b = r->b;
  r->res.e2el = duet_now() - r->start;
  r->res.ok = err == 0 && r->got_first;
  r->res.output_tokens = call->completion_tokens >= 0 ? call->completion_tokens : call->n_events;
  r->res.prompt_tokens = call->prompt_tokens;
  if (!r->res.ok && b->n_failures_shown++ < 3) /* show the first failures, not all */
    fprintf(stderr, "\nrequest %d failed: %s\n", r->index, call->error[0] ? call->error : "no tokens");
  if (r->conn) { /* HTTP/1.1: keep the connection if it is still good */
    if (err == 0 && b->n_h1_idle < b->o.max_concurrency) b->h1_idle[b->n_h1_idle++] = r->conn;
    else duet_http_close(r->conn);
    r->conn = NULL;
  }
  b->in_flight--;
  b->n_done++;
  progress(b);
  start_next(b);
  if (b->n_done == b->o.num_prompts) uv_timer_stop(&b->arrivals);
}

static duet_http_conn *conn_for(bench *b, bench_req *r) {
  duet_http_conn *c = NULL;
  if (!b->o.http1) return b->h2conns[r->index % b->o.connections];
  if (b->n_h1_idle) c = b->h1_idle[--b->n_h1_idle];
  else if (duet_http_connect(b->loop, b->host, b->port, DUET_HTTP_1, &c) != 0) return NULL;
  r->conn = c;
  return c;
}

/* Start arrived requests while under the concurrency limit. */
static void start_next(bench *b) {
  while (b->n_started < b->n_arrived && b->in_flight < b->o.max_concurrency) {
    bench_req *r = &b->reqs[b->n_started++];
    r->call.chat = b->o.chat;
    r->call.stream = 1;
    r->call.user = r;
    r->start = duet_now();
    b->in_flight++;
    duet_oai_callbacks cb = {on_text, on_done};
    duet_http_conn *c = conn_for(b, r);
    if (!c || duet_oai_start(&r->call, c, b->prefix, b->o.api_key, r->body, &cb) != 0) {
      snprintf(r->call.error, sizeof r->call.error, "%s", duet_last_error());
      on_done(&r->call, DUET_EIO);
    }
  }
}

static void on_arrival(uv_timer_t *t) {
  bench *b = t->data;
  b->n_arrived++;
  start_next(b);
  if (b->n_arrived < b->o.num_prompts) {
    double gap = isinf(b->o.rate) ? 0 : -log(1.0 - uniform01(&b->rng)) / b->o.rate;
    uv_timer_start(&b->arrivals, on_arrival, (uint64_t)(gap * 1000.0), 0);
  }
}

/* N, or A:B for lengths uniform in [A, B]; 1 <= A <= B. */
static int parse_range(const char *opt, const char *s, int *lo, int *hi) {
  char buf[64];
  if ((size_t)snprintf(buf, sizeof buf, "%s", s) >= sizeof buf)
    return duet_error(DUET_EINVAL, "%s: '%.64s...' is too long", opt, s);
  char *colon = strchr(buf, ':');
  if (colon) *colon = 0;
  long long a, b;
  int rc = duet_cli_int(opt, buf, 1, INT_MAX, &a);
  if (rc == DUET_OK) rc = duet_cli_int(opt, colon ? colon + 1 : buf, a, INT_MAX, &b);
  if (rc < 0) return rc;
  *lo = (int)a;
  *hi = (int)b;
  return DUET_OK;
}

static int int_opt(const char *opt, const char *v, int lo, int *out) {
  long long n;
  int rc = duet_cli_int(opt, v, lo, INT_MAX, &n);
  if (rc == DUET_OK) *out = (int)n;
  return rc;
}

static void usage(void) {
  fprintf(stderr,
          "usage: duet-bench [options]\n"
          "  --url URL               server (default http://127.0.0.1:8000)\n"
          "  --api-key KEY  --model NAME\n"
          "  --endpoint completions|chat   (default completions)\n"
          "  --num-prompts N         (default 100)\n"
          "  --request-rate R        requests/s, Poisson arrivals; inf = all at once (default inf)\n"
          "  --max-concurrency N     requests in flight at most (default: num-prompts)\n"
          "  --input-len N|A:B       prompt tokens, fixed or uniform range (default 128)\n"
          "  --output-len N|A:B      tokens to generate (default 64)\n"
          "  --prompts-file FILE     one text prompt per line instead of random ids\n"
          "  --vocab-size V          random prompt ids are drawn from [10, V) (default 1000)\n"
          "  --no-ignore-eos         let requests stop at EOS (lengths then vary)\n"
          "  --seed S                (default 0)\n"
          "  --goodput 'ttft:MS tpot:MS e2el:MS'   SLOs for goodput\n"
          "  --http1                 HTTP/1.1 (one keep-alive connection per request in flight)\n"
          "  --connections N         HTTP/2 connections to spread streams over (default 1)\n"
          "  --json FILE             write the results as JSON\n");
}

static int seed_opt(const char *opt, const char *v, uint64_t *out) {
  long long n;
  int rc = duet_cli_int(opt, v, 0, LLONG_MAX, &n);
  if (rc == DUET_OK) *out = (uint64_t)n;
  return rc;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--http1")) { o->http1 = 1; continue; }
    if (!strcmp(a, "--no-ignore-eos")) { o->ignore_eos = 0; continue; }
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); exit(0); }
    if (!v) { fprintf(stderr, "duet-bench: %s needs a value\n", a); return -1; }
    i++;
    int rc = DUET_OK;
    if (!strcmp(a, "--url")) o->url = v;
    else if (!strcmp(a, "--api-key")) o->api_key = v;
    else if (!strcmp(a, "--model")) o->model = v;
    else if (!strcmp(a, "--endpoint")) {
      if (strcmp(v, "chat") && strcmp(v, "completions"))
        return fprintf(stderr, "duet-bench: --endpoint: '%s' is not completions or chat\n", v), -1;
      o->chat = !strcmp(v, "chat");
    }
    else if (!strcmp(a, "--num-prompts")) rc = int_opt(a, v, 1, &o->num_prompts);
    else if (!strcmp(a, "--request-rate") && !strcmp(v, "inf")) o->rate = INFINITY;
    else if (!strcmp(a, "--request-rate")) rc = duet_cli_double(a, v, &o->rate);
    else if (!strcmp(a, "--max-concurrency")) rc = int_opt(a, v, 0, &o->max_concurrency); /* 0: num-prompts */
    else if (!strcmp(a, "--connections")) rc = int_opt(a, v, 1, &o->connections);
    else if (!strcmp(a, "--vocab-size")) rc = int_opt(a, v, 11, &o->vocab);
    else if (!strcmp(a, "--seed")) rc = seed_opt(a, v, &o->seed);
    else if (!strcmp(a, "--prompts-file")) o->prompts_file = v;
    else if (!strcmp(a, "--json")) o->json_file = v;
    else if (!strcmp(a, "--goodput")) o->goodput = v;
    else if (!strcmp(a, "--input-len")) rc = parse_range(a, v, &o->in_lo, &o->in_hi);
    else if (!strcmp(a, "--output-len")) rc = parse_range(a, v, &o->out_lo, &o->out_hi);
    else { fprintf(stderr, "duet-bench: unknown option %s\n", a); return -1; }
    if (rc < 0) {
      fprintf(stderr, "duet-bench: %s\n", duet_last_error());
      return -1;
    }
  }
  if (o->num_prompts < 1 || o->connections < 1 || o->vocab < 11) {
    fprintf(stderr, "duet-bench: --num-prompts, --connections must be positive, --vocab-size > 10\n");
    return -1;
  }
  /* below that, the gaps between arrivals overflow the timer's milliseconds */
  if (!(o->rate >= 1e-3)) {
    fprintf(stderr, "duet-bench: --request-rate must be at least 0.001 requests/s (or inf)\n");
    return -1;
  }
  if (o->max_concurrency <= 0) o->max_concurrency = o->num_prompts;
  return 0;
}

static int write_json(const bench *b, const duet_bench_summary *s) {
  char *j = duet_bench_json(s);
  json_t *o = json_loads(j, 0, NULL);
  free(j);
  json_object_set_new(o, "config", json_pack("{s:s,s:s,s:i,s:f,s:i,s:i,s:i,s:i,s:i,s:s}", "url",
                                             b->o.url, "endpoint", b->o.chat ? "chat" : "completions",
                                             "num_prompts", b->o.num_prompts, "request_rate",
                                             isinf(b->o.rate) ? -1.0 : b->o.rate, "max_concurrency",
                                             b->o.max_concurrency, "input_len_min", b->o.in_lo,
                                             "input_len_max", b->o.in_hi, "output_len_min",
                                             b->o.out_lo, "output_len_max", b->o.out_hi,
                                             "protocol", b->o.http1 ? "http/1.1" : "h2c"));
  int rv = json_dump_file(o, b->o.json_file, JSON_INDENT(2));
  json_decref(o);
  return rv;
}

int main(int argc, char **argv) {
  bench b = {.o = {.url = "http://127.0.0.1:8000", .num_prompts = 100, .connections = 1,
                   .vocab = 1000, .ignore_eos = 1, .in_lo = 128, .in_hi = 128, .out_lo = 64,
                   .out_hi = 64, .rate = INFINITY}};
  if (parse_args(argc, argv, &b.o) != 0) { usage(); return 2; }
  duet_bench_summary summary = {0};
  if ((b.o.goodput && duet_bench_parse_goodput(b.o.goodput, &summary) != 0) ||
      duet_http_parse_url(b.o.url, b.host, sizeof b.host, &b.port, b.prefix, sizeof b.prefix) != 0) {
    fprintf(stderr, "duet-bench: %s\n", duet_last_error());
    return 2;
  }
  b.rng = b.o.seed * 0x2545f4914f6cdd1dull + 1;
  b.loop = uv_default_loop();
  b.reqs = calloc((size_t)b.o.num_prompts, sizeof *b.reqs);
  b.h1_idle = calloc((size_t)b.o.max_concurrency, sizeof *b.h1_idle);
  b.h2conns = calloc((size_t)b.o.connections, sizeof *b.h2conns);
  if (!b.reqs || !b.h1_idle || !b.h2conns) {
    fprintf(stderr, "duet-bench: out of memory for %d requests\n", b.o.num_prompts);
    return 2;
  }
  if (build_requests(&b) != 0) { fprintf(stderr, "duet-bench: %s\n", duet_last_error()); return 2; }
  for (int i = 0; !b.o.http1 && i < b.o.connections; i++)
    if (duet_http_connect(b.loop, b.host, b.port, DUET_HTTP_2, &b.h2conns[i]) != 0) {
      fprintf(stderr, "duet-bench: %s\n", duet_last_error());
      return 1;
    }
  uv_timer_init(b.loop, &b.arrivals);
  b.arrivals.data = &b;
  b.t0 = duet_now();
  uv_timer_start(&b.arrivals, on_arrival, 0, 0);
  while (b.n_done < b.o.num_prompts) uv_run(b.loop, UV_RUN_ONCE);
  double duration = duet_now() - b.t0;

  duet_bench_result *res = malloc(sizeof *res * (size_t)b.o.num_prompts);
  for (int i = 0; res && i < b.o.num_prompts; i++) res[i] = b.reqs[i].res;
  int rc = res ? duet_bench_summarize(res, b.o.num_prompts, duration, &summary) : DUET_ENOMEM;
  if (rc < 0) fprintf(stderr, "duet-bench: out of memory for the summary\n");
  else duet_bench_print(stdout, &summary);
  if (rc == DUET_OK && b.o.json_file && write_json(&b, &summary) != 0)
    fprintf(stderr, "duet-bench: cannot write %s\n", b.o.json_file);

  for (int i = 0; i < b.o.num_prompts; i++) { json_decref(b.reqs[i].body); free(b.reqs[i].res.itl); }
  for (int i = 0; !b.o.http1 && i < b.o.connections; i++) duet_http_close(b.h2conns[i]);
  for (int i = 0; i < b.n_h1_idle; i++) duet_http_close(b.h1_idle[i]);
  uv_close((uv_handle_t *)&b.arrivals, NULL);
  uv_run(b.loop, UV_RUN_DEFAULT);
  free(res), free(b.reqs), free(b.h1_idle), free(b.h2conns);
  return rc < 0 || summary.failed ? 1 : 0;
}
