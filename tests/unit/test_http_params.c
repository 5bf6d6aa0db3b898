/* Request parameter validation (server/frontend/params.c): defaults, each
 * bad value refused naming its parameter, chat vs completions logprobs. */
#include "server/frontend/params.c"
#include "tests/unit/unit_check.h"

static json_t *parse(const char *s) {
  json_error_t e;
  return json_loads(s, JSON_ALLOW_NUL, &e); /* as duetd loads bodies */
}

/* A body, whether it goes to chat, and NULL (accepted) or the parameter
 * its refusal must name. */
typedef struct {
  const char *body;
  int chat;
  const char *param;
} param_case;

static const param_case CASES[] = {
    {"{\"temperature\":2.5}", 0, "temperature"},
    {"{\"temperature\":null}", 0, NULL},
    {"{\"top_p\":0}", 0, "top_p"},
    {"{\"top_p\":1.5}", 0, "top_p"},
    {"{\"min_p\":-0.1}", 0, "min_p"},
    {"{\"top_k\":1.5}", 0, "top_k"},
    {"{\"max_tokens\":101}", 0, "max_tokens"},
    {"{\"max_tokens\":\"5\"}", 0, "max_tokens"},
    {"{\"n\":5}", 0, "n"},
    {"{\"n\":0}", 0, "n"},
    {"{\"stop\":\"\"}", 0, "stop"},
    {"{\"stop\":[\"a\",\"\\u0000\"]}", 0, "stop"}, /* "" to the stop scan */
    {"{\"stop\":\"a\\u0000b\"}", 0, "stop"},
    {"{\"stop\":[\"a\",2]}", 0, "stop"},
    {"{\"stop\":{}}", 0, "stop"},
    {"{\"stream\":1}", 0, "stream"},
    {"{\"stream\":true,\"stream_options\":[]}", 0, "stream_options"},
    {"{\"frequency_penalty\":-3}", 0, "frequency_penalty"},
    {"{\"logprobs\":21}", 0, "logprobs"},
    {"{\"logprobs\":true}", 0, "logprobs"},
    {"{\"echo\":\"yes\"}", 0, "echo"},
    {"{\"logprobs\":true,\"top_logprobs\":3}", 1, NULL},
    {"{\"logprobs\":2}", 1, "logprobs"},
    {"{\"top_logprobs\":3}", 1, "top_logprobs"},
    {"{\"echo\":true}", 1, "echo"},
    {"{\"max_completion_tokens\":0}", 1, "max_completion_tokens"},
    {"{\"seed\":1e300}", 0, "seed"},
    {"{\"logit_bias\":null}", 0, NULL},
    {"{\"logit_bias\":[1]}", 0, "logit_bias"},
    {"{\"logit_bias\":{\"1000\":1}}", 0, "logit_bias"}, /* outside the vocabulary */
    {"{\"logit_bias\":{\"-1\":1}}", 0, "logit_bias"},
    {"{\"logit_bias\":{\"a\":1}}", 0, "logit_bias"},
    {"{\"logit_bias\":{\"1\":101}}", 0, "logit_bias"},
    {"{\"logit_bias\":{\"1\":\"5\"}}", 0, "logit_bias"},
    {"{\"logit_bias\":{\"1\":1,\"01\":2}}", 0, "logit_bias"}, /* the same token twice */
    {"{\"stop_token_ids\":[1000]}", 0, "stop_token_ids"},
    {"{\"stop_token_ids\":3}", 0, "stop_token_ids"},
    {"{\"stop_token_ids\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}", 0, "stop_token_ids"},
    {"{\"min_tokens\":-1}", 0, "min_tokens"},
    {"{\"min_tokens\":5,\"max_tokens\":4}", 0, "min_tokens"},
    {"{\"suffix\":\"x\"}", 0, "suffix"},
    {"{\"suffix\":\"\"}", 0, NULL},
    {"{\"suffix\":5}", 0, "suffix"},
    {"{\"functions\":[{\"name\":\"f\"}]}", 1, "functions"},
    {"{\"best_of\":3}", 0, "best_of"},
    {"{\"best_of\":2,\"n\":2}", 0, NULL},
    {"{\"best_of\":1}", 0, NULL},
    {"{\"response_format\":{\"type\":\"json_object\"}}", 1, "response_format"},
    {"{\"response_format\":{\"type\":\"text\"}}", 1, NULL},
    {"{\"response_format\":\"json\"}", 1, "response_format"},
    {"{\"tools\":[{\"type\":\"function\"}]}", 1, "tools"},
    {"{\"tools\":[{\"type\":\"function\"}],\"tool_choice\":\"none\"}", 1, NULL},
    {"{\"tools\":[]}", 1, NULL},
};

static void expect(const char *body, int chat, const char *param) {
  json_t *j = parse(body);
  duet_params p;
  duet_param_error e = {0};
  int rc = duet_params_parse(j, chat, 100, 4, 1000, &p, &e);
  int ok = param ? rc < 0 && e.param && !strcmp(e.param, param) && e.msg[0] : rc == 0;
  CHECK(ok, "%s (chat %d): want %s, got rc %d param %s (%s)", body, chat, param ? param : "ok", rc,
        e.param ? e.param : "-", e.msg);
  json_decref(j);
}

int main(void) {
  json_t *j = parse("{}");
  duet_params p;
  duet_param_error e;
  int rc = duet_params_parse(j, 0, 100, 4, 1000, &p, &e);
  CHECK(rc == 0 && p.sp.temperature == 1 && p.sp.top_p == 1 && p.n == 1 && p.logprobs == -1 && !p.stream &&
            p.max_tokens == 0 && p.n_stop == 0,
        "defaults");
  json_decref(j);

  j = parse("{\"stop\":[\"ab\",\"cde\"],\"logprobs\":0,\"seed\":7,\"top_k\":-1,\"stream\":true,"
            "\"stream_options\":{\"include_usage\":true},\"max_tokens\":9.0}");
  rc = duet_params_parse(j, 0, 100, 4, 1000, &p, &e);
  CHECK(rc == 0 && p.n_stop == 2 && p.stop_max_len == 3 && p.logprobs == 0 && p.sp.n_logprobs == 1 &&
            p.sp.seed == 7 && p.sp.top_k == 0 && p.include_usage && p.max_tokens == 9,
        "a full set of valid parameters");
  json_decref(j);

  j = parse("{\"max_tokens\":9,\"max_completion_tokens\":5}");
  rc = duet_params_parse(j, 1, 100, 4, 1000, &p, &e);
  CHECK(rc == 0 && p.max_tokens == 5, "chat: max_completion_tokens wins over max_tokens (got %d)", p.max_tokens);
  json_decref(j);

  j = parse("{\"logit_bias\":{\"7\":100,\"999\":-2.5},\"stop_token_ids\":[3,4],\"min_tokens\":2}");
  rc = duet_params_parse(j, 1, 100, 4, 1000, &p, &e);
  CHECK(rc == 0 && p.sp.n_bias == 2 && p.sp.bias_ids[0] == 7 && p.sp.bias[0] == 100 && p.sp.bias_ids[1] == 999 &&
            p.sp.bias[1] == -2.5f && p.n_stop_ids == 2 && p.stop_ids[1] == 4 && p.sp.min_tokens == 2,
        "logit_bias, stop_token_ids and min_tokens");
  json_decref(j);

  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) expect(CASES[i].body, CASES[i].chat, CASES[i].param);
  return finish();
}
