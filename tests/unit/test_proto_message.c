/* proto/message.c and proto/kv_wire.c: round trips of every message kind,
 * and rejection of wrong magic, version, kind, truncated, oversized and
 * trailing payloads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "proto/kv_wire.h"
#include "proto/message.h"

#include "tests/unit/unit_check.h"


static void test_request(void) {
  int32_t prompt[5] = {1, 2, 3, 31999, 0};
  duet_request_msg q = {0};
  q.sampling.temperature = 0.7f;
  q.sampling.top_k = 40;
  q.sampling.top_p = 0.9f;
  q.sampling.seed = 0x123456789abcdefULL;
  q.sampling.n_logprobs = 3;
  q.sampling.min_tokens = 4;
  q.sampling.n_bias = 2;
  q.sampling.bias_ids[0] = 5, q.sampling.bias[0] = -1.5f;
  q.sampling.bias_ids[1] = 31999, q.sampling.bias[1] = 100.f;
  q.max_tokens = 17;
  q.n_stop_ids = 2;
  q.stop_ids[0] = 7;
  q.stop_ids[1] = 9;
  q.n_prompt = 5;
  q.prompt = prompt;
  q.prompt_logprobs = 1;
  uint8_t *buf;
  size_t len;
  CHECK(duet_msg_encode_request(42, &q, &buf, &len) == 0);
  duet_msg_header h;
  CHECK(duet_msg_header_decode(buf, len, &h) == 0);
  CHECK(h.kind == DUET_MSG_REQUEST && h.request_id == 42 && h.payload_len == len - DUET_MSG_HEADER_SIZE);
  duet_request_msg d;
  CHECK(duet_msg_decode_request(buf + DUET_MSG_HEADER_SIZE, h.payload_len, &d) == 0);
  CHECK(d.sampling.temperature == 0.7f && d.sampling.top_k == 40 && d.sampling.seed == q.sampling.seed);
  CHECK(d.sampling.min_tokens == 4 && d.sampling.n_bias == 2 && d.sampling.bias_ids[1] == 31999 &&
        d.sampling.bias[0] == -1.5f && d.sampling.bias[1] == 100.f);
  CHECK(d.max_tokens == 17 && d.n_stop_ids == 2 && d.stop_ids[1] == 9 && d.n_prompt == 5);
  CHECK(d.prompt && memcmp(d.prompt, prompt, sizeof prompt) == 0 && d.prompt_logprobs == 1);
  /* Every truncation is refused, never read past. */
  int all_refused = 1;
  for (size_t cut = 0; cut < h.payload_len; cut++) {
    uint8_t *copy = malloc(cut ? cut : 1);
    memcpy(copy, buf + DUET_MSG_HEADER_SIZE, cut);
    if (duet_msg_decode_request(copy, cut, &d) != DUET_EPROTO) all_refused = 0;
    free(copy);
  }
  CHECK(all_refused);
  /* The sampling fields: 9 words, min_tokens, n_bias, then (id, bias) pairs. */
  const size_t sampling = 40 + 8 + 2 * 8;
  uint8_t *payload = buf + DUET_MSG_HEADER_SIZE;
  /* A prompt count larger than the payload. */
  int32_t bogus = 1000000, saved;
  memcpy(&saved, payload + sampling + 12 + 8, 4);
  memcpy(payload + sampling + 12 + 8, &bogus, 4);
  CHECK(duet_msg_decode_request(payload, h.payload_len, &d) == DUET_EPROTO);
  memcpy(payload + sampling + 12 + 8, &saved, 4);
  /* Too many stop ids. */
  int32_t stops = DUET_MAX_STOP_IDS + 1;
  memcpy(&saved, payload + sampling + 8, 4);
  memcpy(payload + sampling + 8, &stops, 4);
  CHECK(duet_msg_decode_request(payload, h.payload_len, &d) == DUET_EPROTO);
  memcpy(payload + sampling + 8, &saved, 4);
  /* A logit-bias count out of range (negative; more than the limit). */
  int32_t biases[2] = {-1, DUET_MAX_LOGIT_BIAS + 1};
  for (int i = 0; i < 2; i++) {
    memcpy(payload + 44, &biases[i], 4);
    CHECK(duet_msg_decode_request(payload, h.payload_len, &d) == DUET_EPROTO);
  }
  free(buf);
  q.n_stop_ids = 99;
  CHECK(duet_msg_encode_request(1, &q, &buf, &len) == DUET_EINVAL);
  q.n_stop_ids = 0, q.sampling.n_bias = DUET_MAX_LOGIT_BIAS + 1;
  CHECK(duet_msg_encode_request(1, &q, &buf, &len) == DUET_EINVAL);
}

static void test_header(void) {
  uint8_t *buf;
  size_t len;
  CHECK(duet_msg_encode_empty(DUET_MSG_CANCEL, 7, &buf, &len) == 0);
  CHECK(len == DUET_MSG_HEADER_SIZE);
  duet_msg_header h;
  CHECK(duet_msg_header_decode(buf, len, &h) == 0 && h.kind == DUET_MSG_CANCEL && h.request_id == 7);
  CHECK(duet_msg_header_decode(buf, len - 1, &h) == DUET_EPROTO);
  CHECK(duet_msg_header_decode(NULL, 0, &h) == DUET_EPROTO);
  buf[0] ^= 1; /* magic */
  CHECK(duet_msg_header_decode(buf, len, &h) == DUET_EPROTO);
  CHECK(strstr(duet_last_error(), "magic") != NULL);
  buf[0] ^= 1;
  buf[4] = 9; /* version */
  CHECK(duet_msg_header_decode(buf, len, &h) == DUET_EPROTO);
  CHECK(strstr(duet_last_error(), "version") != NULL);
  buf[4] = DUET_PROTO_VERSION;
  buf[6] = 20; /* kind */
  CHECK(duet_msg_header_decode(buf, len, &h) == DUET_EPROTO);
  buf[6] = DUET_MSG_INTERNAL_FIRST;
  CHECK(duet_msg_header_decode(buf, len, &h) == 0 && duet_msg_kind_internal(h.kind));
  buf[6] = DUET_MSG_CANCEL;
  uint32_t big = DUET_MSG_MAX_PAYLOAD + 1; /* oversized */
  memcpy(buf + 16, &big, 4);
  CHECK(duet_msg_header_decode(buf, len, &h) == DUET_EPROTO);
  free(buf);
}

static void test_tokens_finish_stats(void) {
  int32_t ids[3] = {5, 6, 7};
  duet_token_logprobs lp[3] = {0};
  for (int i = 0; i < 3; i++) {
    lp[i].logprob = -0.5f * i;
    lp[i].n_top = 2;
    lp[i].top_ids[1] = 100 + i;
    lp[i].top_logprobs[1] = -3.0f;
  }
  duet_tokens_msg t = {3, ids, lp, 0, NULL}, d;
  uint8_t *buf;
  size_t len;
  CHECK(duet_msg_encode_tokens(9, &t, &buf, &len) == 0);
  CHECK(duet_msg_decode_tokens(buf + 24, len - 24, &d) == 0);
  CHECK(d.n == 3 && d.ids[2] == 7 && d.logprobs && d.logprobs[2].top_ids[1] == 102 && d.logprobs[1].logprob == -0.5f);
  CHECK(duet_msg_decode_tokens(buf + 24, len - 25, &d) == DUET_EPROTO);
  free(buf);
  t.logprobs = NULL;
  CHECK(duet_msg_encode_tokens(9, &t, &buf, &len) == 0);
  CHECK(duet_msg_decode_tokens(buf + 24, len - 24, &d) == 0 && d.logprobs == NULL && d.n == 3);
  uint8_t extra[64];
  memcpy(extra, buf + 24, len - 24);
  CHECK(duet_msg_decode_tokens(extra, len - 24 + 4, &d) == DUET_EPROTO); /* trailing bytes */
  free(buf);
  /* prefill's first message with the prompt's logprobs */
  t.n = 1, t.n_prompt_lp = 2, t.prompt_lp = lp + 1;
  CHECK(duet_msg_encode_tokens(9, &t, &buf, &len) == 0);
  CHECK(duet_msg_decode_tokens(buf + 24, len - 24, &d) == 0 && d.n == 1 && d.n_prompt_lp == 2 &&
        d.prompt_lp[1].top_ids[1] == 102 && d.prompt_lp[0].logprob == -0.5f);
  CHECK(duet_msg_decode_tokens(buf + 24, len - 28, &d) == DUET_EPROTO); /* an entry cut short */
  int32_t bad_top = DUET_MAX_LOGPROBS + 1;
  memcpy(buf + 24 + 20, &bad_top, 4); /* n, has_lp, 1 id, n_prompt_lp, logprob: the first n_top */
  CHECK(duet_msg_decode_tokens(buf + 24, len - 24, &d) == DUET_EPROTO);
  int32_t bad_n = -1;
  memcpy(buf + 24 + 12, &bad_n, 4); /* n_prompt_lp */
  CHECK(duet_msg_decode_tokens(buf + 24, len - 24, &d) == DUET_EPROTO);
  free(buf);
  t.prompt_lp = NULL;
  CHECK(duet_msg_encode_tokens(9, &t, &buf, &len) == DUET_EINVAL);

  duet_finish_msg f = {DUET_FINISH_ERROR, 12, 3, "worker lost"}, g;
  CHECK(duet_msg_encode_finish(3, &f, &buf, &len) == 0);
  CHECK(duet_msg_decode_finish(buf + 24, len - 24, &g) == 0);
  CHECK(g.reason == DUET_FINISH_ERROR && g.prompt_tokens == 12 && strcmp(g.message, "worker lost") == 0);
  CHECK(duet_msg_decode_finish(buf + 24, len - 26, &g) == DUET_EPROTO);
  buf[24] = 77;
  CHECK(duet_msg_decode_finish(buf + 24, len - 24, &g) == DUET_EPROTO);
  free(buf);

  duet_stats_msg s = {0}, u;
  s.n_prefill_groups = 2;
  s.n_decode_groups = 1;
  s.kv_blocks_free[0] = 1234;
  s.kv_bytes_moved = 1ull << 40;
  s.decode_step_seconds = 1.5;
  CHECK(duet_msg_encode_stats(&s, &buf, &len) == 0);
  CHECK(duet_msg_decode_stats(buf + 24, len - 24, &u) == 0);
  CHECK(memcmp(&s, &u, sizeof s) == 0);
  CHECK(duet_msg_decode_stats(buf + 24, len - 32, &u) == DUET_EPROTO);
  free(buf);
}

static void test_kv_wire(void) {
  float data[64];
  for (int i = 0; i < 64; i++) data[i] = (float)i * 0.25f;
  duet_kv_wire h = {0, 77, 3, 1, 5, 16, 0, 1, sizeof data}, d;
  uint8_t hb[DUET_KV_WIRE_SIZE];
  duet_kv_wire_encode(&h, hb);
  CHECK(duet_kv_wire_decode(hb, sizeof hb, 1 << 20, &d) == 0);
  CHECK(d.request_id == 77 && d.layer_first == 3 && d.layer_count == 1 && d.block_index == 5 && d.n_tokens == 16 &&
        d.shard == 1 && d.data_bytes == sizeof data && d.flags == 0);
  CHECK(duet_kv_wire_decode(hb, sizeof hb, 100, &d) == DUET_EPROTO); /* over the caller's limit */
  CHECK(duet_kv_wire_decode(hb, sizeof hb - 1, 1 << 20, &d) == DUET_EPROTO);
  hb[0] ^= 0xff;
  CHECK(duet_kv_wire_decode(hb, sizeof hb, 1 << 20, &d) == DUET_EPROTO);
  uint8_t *buf;
  size_t len;
  const uint8_t *p;
  CHECK(duet_kv_wire_pack(&h, data, &buf, &len) == 0);
  CHECK(len == DUET_MSG_HEADER_SIZE + DUET_KV_WIRE_SIZE + sizeof data);
  CHECK(duet_kv_wire_unpack(buf + 24, len - 24, &d, &p) == 0 && memcmp(p, data, sizeof data) == 0);
  CHECK(duet_kv_wire_unpack(buf + 24, len - 28, &d, &p) == DUET_EPROTO);
  free(buf);
  duet_kv_wire end = {DUET_KV_END, 77, 0, 0, 0, 0, 0, 0, 8};
  duet_kv_wire_encode(&end, hb);
  CHECK(duet_kv_wire_decode(hb, sizeof hb, 1 << 20, &d) == DUET_EPROTO); /* END with data */
}

int main(void) {
  test_header();
  test_request();
  test_tokens_finish_stats();
  test_kv_wire();
  return finish();
}
