/* duet: command-line client for duetd (or any OpenAI-compatible server).
 *
 *   duet complete "prompt" [options]   one completion, streamed as it comes
 *   duet chat [options]                interactive chat that keeps the
 *                                      conversation; Ctrl-C stops the current
 *                                      answer, Ctrl-D (or /quit) leaves
 *
 * Speaks HTTP/2 (prior knowledge) by default, --http1 for HTTP/1.1. */

#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "engine/cli_number.h"
#include "clients/openai_stream.h"
#include "engine/error.h"

typedef struct {
  const char *url, *api_key, *model, *system;
  int http1, json_out, no_stream;
  json_t *params; /* sampling parameters, copied into every request */
} options;

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

static void usage(void) {
  fprintf(stderr,
          "usage: duet complete PROMPT [options]\n"
          "       duet chat [options]\n"
          "options:\n"
          "  --url URL             server (default http://127.0.0.1:8000)\n"
          "  --api-key KEY         sent as Authorization: Bearer KEY\n"
          "  --model NAME          model name (default: the server's)\n"
          "  --system TEXT         system prompt (chat)\n"
          "  -n, --max-tokens N    tokens to generate (default 128)\n"
          "  --temperature T  --top-p P  --top-k K  --min-p P  --seed S\n"
          "  --presence-penalty X  --frequency-penalty X  --stop STR (repeatable)\n"
          "  --json                print the server's raw JSON (events or body)\n"
          "  --no-stream           wait for the whole answer\n"
          "  --http1               HTTP/1.1 instead of HTTP/2\n");
}

/* ---- one request on a private loop -------------------------------------- */

/* A growing text buffer: an answer is appended piece by piece as it
 * streams, without copying what came before. */
typedef struct {
  char *buf;
  size_t len, cap;
} duet_text;

static void text_append(duet_text *t, const char *s, size_t n) {
  if (t->len + n + 1 > t->cap) {
    size_t cap = (t->len + n + 1) * 2;
    char *nb = realloc(t->buf, cap);
    if (!nb) return; /* the history misses this piece; the screen does not */
    t->buf = nb;
    t->cap = cap;
  }
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  t->buf[t->len] = 0;
}

typedef struct {
  duet_oai_call call;
  uv_timer_t poll; /* watches the Ctrl-C flag while the request runs */
  duet_text *collected; /* chat: the assistant's text so far, or NULL */
  int done, err;
} run_state;

static void on_text(duet_oai_call *call, const char *text, size_t len) {
  run_state *st = call->user;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  if (st->collected && !call->print_raw) text_append(st->collected, text, len);
}

static void on_done(duet_oai_call *call, int err) {
  run_state *st = call->user;
  st->done = 1;
  st->err = err;
  uv_timer_stop(&st->poll);
}

static void on_poll(uv_timer_t *t) {
  run_state *st = t->data;
  if (interrupted) {
    interrupted = 0;
    duet_oai_cancel(&st->call);
  }
}

/* Send one request and stream its answer to stdout. Returns 0 on success,
 * 1 on an error (printed), 130 when interrupted; with collected (chat), 2
 * when the server refused the conversation as longer than its context
 * (not printed: the caller may shorten it and ask again). */
#define CONTEXT_FULL 2
static int run_request(const options *o, int chat, json_t *body, duet_text *collected) {
  char host[256], prefix[256];
  int port;
  if (duet_http_parse_url(o->url, host, sizeof host, &port, prefix, sizeof prefix) != 0) {
    fprintf(stderr, "duet: %s\n", duet_last_error());
    return 1;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  duet_http_conn *conn;
  if (duet_http_connect(&loop, host, port, o->http1 ? DUET_HTTP_1 : DUET_HTTP_2, &conn) != 0) {
    fprintf(stderr, "duet: %s\n", duet_last_error());
    uv_loop_close(&loop);
    return 1;
  }
  run_state st = {.collected = collected};
  st.call.chat = chat;
  st.call.stream = !o->no_stream;
  st.call.print_raw = o->json_out;
  st.call.user = &st;
  uv_timer_init(&loop, &st.poll);
  st.poll.data = &st;
  uv_timer_start(&st.poll, on_poll, 50, 50);
  duet_oai_callbacks cb = {on_text, on_done};
  int rv = duet_oai_start(&st.call, conn, prefix, o->api_key, body, &cb);
  if (rv != 0) {
    fprintf(stderr, "duet: %s\n", duet_last_error());
    uv_timer_stop(&st.poll);
  } else {
    while (!st.done) uv_run(&loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&st.poll, NULL);
  duet_http_close(conn);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (rv != 0) return 1;
  if (st.err == DUET_ECANCELED) {
    fprintf(stderr, "\n[stopped]\n");
    return 130;
  }
  if (st.err && collected && st.call.status == 400 && strstr(st.call.error, "maximum context length")) return CONTEXT_FULL;
  if (st.err) {
    fprintf(stderr, "\nduet: %s\n", st.call.error);
    return 1;
  }
  if (!o->json_out || o->no_stream) printf("\n"); /* a raw body has no newline of its own */
  return 0;
}

static json_t *base_request(const options *o) {
  json_t *req = json_deep_copy(o->params);
  if (o->model) json_object_set_new(req, "model", json_string(o->model));
  return req;
}

static int cmd_complete(const options *o, const char *prompt) {
  json_t *req = base_request(o);
  json_object_set_new(req, "prompt", json_string(prompt));
  int rv = run_request(o, 0, req, NULL);
  json_decref(req);
  return rv;
}

/* Drops the oldest exchange (a user message and its answer) after any
 * system message, as chat front ends do when a conversation outgrows the
 * context; 0 when only the newest question is left. */
static int forget_oldest(json_t *messages) {
  size_t i = 0, n = json_array_size(messages);
  while (i < n && !strcmp(json_string_value(json_object_get(json_array_get(messages, i), "role")), "system")) i++;
  if (i + 1 >= n) return 0;
  json_array_remove(messages, i);
  if (i + 1 < n - 1 && !strcmp(json_string_value(json_object_get(json_array_get(messages, i), "role")), "assistant"))
    json_array_remove(messages, i);
  return 1;
}

static int cmd_chat(const options *o) {
  json_t *messages = json_array();
  if (o->system)
    json_array_append_new(messages, json_pack("{s:s,s:s}", "role", "system", "content", o->system));
  int tty = isatty(0);
  char line[8192];
  for (;;) {
    if (tty) { printf("> "); fflush(stdout); }
    interrupted = 0;
    if (!fgets(line, sizeof line, stdin)) {
      if (errno == EINTR && interrupted) { clearerr(stdin); errno = 0; printf("\n"); continue; }
      break;
    }
    line[strcspn(line, "\n")] = 0;
    if (!line[0]) continue;
    if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) break;
    json_array_append_new(messages, json_pack("{s:s,s:s}", "role", "user", "content", line));
    json_t *req = base_request(o);
    json_object_set(req, "messages", messages);
    duet_text answer = {0};
    int rv, forgot = 0;
    json_t *before = json_deep_copy(messages); /* kept if even the question alone cannot fit */
    while ((rv = run_request(o, 1, req, &answer)) == CONTEXT_FULL && forget_oldest(messages)) forgot++;
    if (rv == CONTEXT_FULL) {
      fprintf(stderr, "duet: the question alone does not fit the model's context (fewer --max-tokens?)\n");
      json_array_clear(messages);
      json_array_extend(messages, before);
      rv = 1;
    } else if (forgot) {
      fprintf(stderr, "[%d oldest exchange%s forgotten to fit the model's context]\n", forgot, forgot > 1 ? "s" : "");
    }
    json_decref(before);
    json_decref(req);
    if (rv == 1) { /* failed: forget the question, keep the conversation */
      json_array_remove(messages, json_array_size(messages) - 1);
    } else { /* answered or stopped: the (partial) answer is part of the history */
      json_array_append_new(messages, json_pack("{s:s,s:s%}", "role", "assistant", "content",
                                                answer.buf ? answer.buf : "", answer.len));
    }
    free(answer.buf);
  }
  json_decref(messages);
  return 0;
}

/* "--top-p" -> request key "top_p". */
static int set_param(options *o, const char *flag, json_t *value) {
  char key[32];
  snprintf(key, sizeof key, "%s", flag + 2);
  for (char *p = key; *p; p++)
    if (*p == '-') *p = '_';
  json_object_set_new(o->params, key, value);
  return 1;
}

/* "--top-k 40" -> "top_k": 40; -1 (message printed) when v is not a number:
 * the server checks the ranges. */
static int set_number(options *o, const char *flag, const char *v, int is_int) {
  long long n = 0;
  double x = 0;
  int rc = is_int ? duet_cli_int(flag, v, LLONG_MIN, LLONG_MAX, &n) : duet_cli_double(flag, v, &x);
  if (rc < 0) {
    fprintf(stderr, "duet: %s\n", duet_last_error());
    return -1;
  }
  return set_param(o, flag, is_int ? json_integer(n) : json_real(x));
}

static int in_list(const char *a, const char *const *list) {
  for (int k = 0; list[k]; k++)
    if (!strcmp(a, list[k])) return 1;
  return 0;
}

static int parse_args(int argc, char **argv, int first, options *o, const char **positional) {
  static const char *strings[] = {"-n", "--url", "--api-key", "--model", "--system", "--stop", NULL};
  static const char *floats[] = {"--temperature", "--top-p", "--min-p", "--presence-penalty",
                                 "--frequency-penalty", NULL};
  static const char *ints[] = {"--max-tokens", "--top-k", "--seed", NULL};
  for (int i = first; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--json")) { o->json_out = 1; continue; }
    if (!strcmp(a, "--no-stream")) { o->no_stream = 1; continue; }
    if (!strcmp(a, "--http1")) { o->http1 = 1; continue; }
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); exit(0); }
    if (a[0] != '-') {
      if (*positional) { fprintf(stderr, "duet: unexpected argument %s\n", a); return -1; }
      *positional = a;
      continue;
    }
    /* an unknown option is named as such, not as one that "needs a value" */
    if (!in_list(a, strings) && !in_list(a, floats) && !in_list(a, ints)) {
      fprintf(stderr, "duet: unknown option %s\n", a);
      return -1;
    }
    if (!v) { fprintf(stderr, "duet: %s needs a value\n", a); return -1; }
    i++;
    if (!strcmp(a, "-n")) a = "--max-tokens";
    int matched = 1;
    if (!strcmp(a, "--url")) o->url = v;
    else if (!strcmp(a, "--api-key")) o->api_key = v;
    else if (!strcmp(a, "--model")) o->model = v;
    else if (!strcmp(a, "--system")) o->system = v;
    else if (!strcmp(a, "--stop")) {
      json_t *stop = json_object_get(o->params, "stop");
      if (!stop) json_object_set_new(o->params, "stop", stop = json_array());
      json_array_append_new(stop, json_string(v));
    } else matched = set_number(o, a, v, in_list(a, ints));
    if (matched < 0) return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) { usage(); return 2; }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) { usage(); return 0; }
  options o = {.url = "http://127.0.0.1:8000", .params = json_object()};
  json_object_set_new(o.params, "max_tokens", json_integer(128));
  const char *positional = NULL;
  if (parse_args(argc, argv, 2, &o, &positional) != 0) { usage(); return 2; }
  /* No SA_RESTART: Ctrl-C must interrupt a blocking read of the next line. */
  struct sigaction sa = {.sa_handler = on_sigint};
  sigaction(SIGINT, &sa, NULL);
  int rv;
  if (!strcmp(argv[1], "complete")) {
    if (!positional) { fprintf(stderr, "duet complete: missing PROMPT\n"); return 2; }
    rv = cmd_complete(&o, positional);
  } else if (!strcmp(argv[1], "chat")) {
    if (positional) { fprintf(stderr, "duet chat: unexpected argument '%s' (questions come on standard input)\n", positional); return 2; }
    rv = cmd_chat(&o);
  } else {
    usage();
    rv = 2;
  }
  json_decref(o.params);
  return rv;
}
