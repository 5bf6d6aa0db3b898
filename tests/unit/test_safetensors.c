// safetensors reader and writer, and the dtype conversions against torch.
// Hostile files (truncated, lying header lengths, bad JSON, bad dtypes,
// shapes, offsets, overlaps, bad indexes, random byte flips) must each be
// refused with the right code and a message naming the problem; this test
// also runs under ASan, which turns any out-of-bounds read into a failure.
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

#include "engine/dtype.h"
#include "engine/safetensors.h"
#include "tests/unit/loader_util.h"

static const char *dir;
static char tmp_path[512];

/* ---------------------------------------------- dtype against torch */

static int same_bits_or_both_nan16(uint16_t a, uint16_t b, int bf16) {
  int an = bf16 ? ((a & 0x7f80) == 0x7f80 && (a & 0x7f)) : ((a & 0x7c00) == 0x7c00 && (a & 0x3ff));
  int bn = bf16 ? ((b & 0x7f80) == 0x7f80 && (b & 0x7f)) : ((b & 0x7c00) == 0x7c00 && (b & 0x3ff));
  return an || bn ? an && bn : a == b;
}

static void test_torch_fixture(void) {
  duet_st_file *f;
  CHECK_OK(duet_safetensors_open("fixtures/loader/dtypes.safetensors", &f));
  if (!f) return;
  CHECK(duet_safetensors_count(f) == 5, "count %d", duet_safetensors_count(f));
  const char *note = duet_safetensors_metadata(f, "note");
  CHECK(note && !strcmp(note, "duet loader fixture"), "metadata note");
  CHECK(duet_safetensors_metadata(f, "absent") == NULL, "absent metadata");
  const duet_st_tensor *src = duet_safetensors_find(f, "src"), *bf = duet_safetensors_find(f, "bf16"),
                       *hf = duet_safetensors_find(f, "f16"), *e = duet_safetensors_find(f, "empty"),
                       *s = duet_safetensors_find(f, "scalar");
  CHECK(src && bf && hf && e && s, "fixture tensors present");
  if (!(src && bf && hf && e && s)) goto out;
  CHECK(e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 3 && e->nbytes == 0, "empty tensor");
  float sc;
  duet_to_f32(s->dtype, s->data, &sc, 1);
  CHECK(s->ndim == 0 && sc == 2.5f, "scalar");
  long n = (long)src->shape[0];
  CHECK(bf->dtype == DUET_BF16 && hf->dtype == DUET_F16 && bf->shape[0] == n && hf->shape[0] == n, "dtypes");
  float *x = malloc((size_t)n * 4), *back = malloc((size_t)n * 4);
  uint16_t *h = malloc((size_t)n * 2), *want = malloc((size_t)n * 2);
  duet_to_f32(DUET_F32, src->data, x, (size_t)n);
  for (int pass = 0; pass < 2; pass++) {
    const duet_st_tensor *t = pass ? hf : bf;
    duet_from_f32(t->dtype, x, h, (size_t)n);
    memcpy(want, t->data, (size_t)n * 2);
    int bad = 0;
    for (long i = 0; i < n; i++)
      if (!same_bits_or_both_nan16(h[i], want[i], !pass)) {
        if (bad++ < 5) fprintf(stderr, "  %s[%ld]: %.9g -> %04x, torch %04x\n", pass ? "f16" : "bf16", i, x[i], h[i], want[i]);
      }
    CHECK(bad == 0, "%s rounding differs from torch at %d of %ld values", pass ? "f16" : "bf16", bad, n);
    duet_to_f32(t->dtype, t->data, back, (size_t)n);
    bad = 0;
    for (long i = 0; i < n; i++) {
      float w = pass ? duet_f16_to_f32(want[i]) : duet_bf16_to_f32(want[i]);
      if (!(back[i] == w || (isnan(back[i]) && isnan(w))) || signbit(back[i]) != signbit(w)) bad++;
    }
    CHECK(bad == 0, "%s widening wrong at %d values", pass ? "f16" : "bf16", bad);
  }
  free(x), free(back), free(h), free(want);
out:
  duet_safetensors_close(f);
}

/* Every 16-bit pattern survives widening and narrowing (NaNs stay NaN). */
static void test_roundtrip_all_16bit(void) {
  int bad_bf = 0, bad_h = 0;
  for (uint32_t i = 0; i < 65536; i++) {
    uint16_t b = (uint16_t)i;
    if (!same_bits_or_both_nan16(duet_f32_to_bf16(duet_bf16_to_f32(b)), b, 1)) bad_bf++;
    if (!same_bits_or_both_nan16(duet_f32_to_f16(duet_f16_to_f32(b)), b, 0)) bad_h++;
  }
  CHECK(bad_bf == 0 && bad_h == 0, "16-bit round trips: %d bf16, %d f16 wrong", bad_bf, bad_h);
  unsigned char buf[9];
  uint16_t one = 0x3f80; /* bf16 1.0 at an odd address */
  memcpy(buf + 1, &one, 2);
  float v;
  duet_to_f32(DUET_BF16, buf + 1, &v, 1);
  CHECK(v == 1.0f, "unaligned widening");
}

/* ---------------------------------------------------------- the writer */

static void test_writer_roundtrip(void) {
  float a[6] = {1, -2, 3.5f, 0, -0.25f, 1e30f}, sc = 7;
  uint16_t b[5], hh[8];
  float bsrc[5] = {1, 2, 3, 4, 5}, hsrc[8] = {-1, -0.5f, 0, 0.5f, 1, 2, 4, 65504};
  duet_from_f32(DUET_BF16, bsrc, b, 5);
  duet_from_f32(DUET_F16, hsrc, hh, 8);
  duet_st_tensor ts[] = {{.name = "zeta.weight", .dtype = DUET_F32, .ndim = 2, .shape = {2, 3}, .data = a},
                         {.name = "alpha", .dtype = DUET_BF16, .ndim = 1, .shape = {5}, .data = b, .nbytes = 10},
                         {.name = "mid", .dtype = DUET_F16, .ndim = 3, .shape = {2, 2, 2}, .data = hh},
                         {.name = "scalar", .dtype = DUET_F32, .ndim = 0, .data = &sc},
                         {.name = "empty", .dtype = DUET_F32, .ndim = 2, .shape = {0, 4}}};
  path_in(tmp_path, sizeof tmp_path, dir, "w.safetensors");
  CHECK_OK(duet_safetensors_write(tmp_path, ts, 5, "{\"step\": \"12\"}"));
  CHECK_OK(duet_safetensors_write(tmp_path, ts, 5, "{\"step\": \"12\"}")); /* replaces atomically */
  FILE *fp = fopen(tmp_path, "rb");
  unsigned char le[8] = {0};
  CHECK(fp && fread(le, 1, 8, fp) == 8, "read header length");
  if (fp) fclose(fp);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | le[i];
  CHECK(hlen % 8 == 0, "header padded to 8 bytes (%llu)", (unsigned long long)hlen);
  struct stat st;
  CHECK(stat(tmp_path, &st) == 0 && (uint64_t)st.st_size == 8 + hlen + 24 + 10 + 16 + 4, "file size is header + data");
  duet_st_file *f;
  CHECK_OK(duet_safetensors_open(tmp_path, &f));
  if (!f) return;
  CHECK(duet_safetensors_count(f) == 5, "count");
  for (int i = 0; i < duet_safetensors_count(f); i++) {
    const duet_st_tensor *t = duet_safetensors_tensor(f, i);
    CHECK((uintptr_t)t->data % duet_dtype_size(t->dtype) == 0, "%s aligned", t->name);
  }
  CHECK(!strcmp(duet_safetensors_tensor(f, 0)->name, "alpha"), "tensors listed by name");
  CHECK(!strcmp(duet_safetensors_metadata(f, "step"), "12") && !strcmp(duet_safetensors_metadata(f, "format"), "pt"),
        "metadata kept and format pt added");
  const size_t nbytes[5] = {24, 10, 16, 4, 0};
  for (int i = 0; i < 5; i++) {
    const duet_st_tensor *t = duet_safetensors_find(f, ts[i].name);
    int ok = t && t->dtype == ts[i].dtype && t->ndim == ts[i].ndim && t->nbytes == nbytes[i];
    for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == ts[i].shape[d];
    ok = ok && (!t->nbytes || !memcmp(t->data, ts[i].data, t->nbytes));
    CHECK(ok, "tensor %s round trip", ts[i].name);
  }
  duet_safetensors_close(f);
  /* what an interrupted write would leave behind is gone */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls '%s' | grep -c tmp >/dev/null", dir);
  CHECK(system(cmd) != 0, "no temp file left in %s", dir);
}

static void test_writer_refusals(void) {
  float a[2] = {1, 2};
  duet_st_tensor dup[] = {{.name = "x", .dtype = DUET_F32, .ndim = 1, .shape = {2}, .data = a},
                          {.name = "x", .dtype = DUET_F32, .ndim = 1, .shape = {1}, .data = a}};
  path_in(tmp_path, sizeof tmp_path, dir, "bad.safetensors");
  CHECK_ERR(duet_safetensors_write(tmp_path, dup, 2, NULL), DUET_EINVAL, "'x' appears twice");
  duet_st_tensor t = {.name = "y", .dtype = (duet_dtype)7, .ndim = 1, .shape = {2}, .data = a};
  CHECK_ERR(duet_safetensors_write(tmp_path, &t, 1, NULL), DUET_EINVAL, "'y'", "dtype");
  t.dtype = DUET_F32, t.nbytes = 4;
  CHECK_ERR(duet_safetensors_write(tmp_path, &t, 1, NULL), DUET_EINVAL, "'y'", "nbytes");
  t.nbytes = 0, t.shape[0] = -1;
  CHECK_ERR(duet_safetensors_write(tmp_path, &t, 1, NULL), DUET_EINVAL, "'y'", "shape");
  t.shape[0] = 2, t.data = NULL;
  CHECK_ERR(duet_safetensors_write(tmp_path, &t, 1, NULL), DUET_EINVAL, "'y'", "no data");
  t.data = a, t.name = "__metadata__";
  CHECK_ERR(duet_safetensors_write(tmp_path, &t, 1, NULL), DUET_EINVAL, "name");
  t.name = "y";
  CHECK_ERR(duet_safetensors_write(tmp_path, &t, 1, "[1]"), DUET_EINVAL, "metadata");
  CHECK_ERR(duet_safetensors_write(tmp_path, &t, 1, "{\"k\": 3}"), DUET_EINVAL, "'k'");
  CHECK_ERR(duet_safetensors_write("/nonexistent-dir/x.safetensors", &t, 1, NULL), DUET_EIO, "nonexistent-dir");
  CHECK(access(tmp_path, F_OK) != 0, "nothing written on refusal");
  /* a FIFO (like a device such as /dev/null) would be replaced by a plain
   * file by the rename: refused, and left as it was */
  path_in(tmp_path, sizeof tmp_path, dir, "fifo");
  CHECK(mkfifo(tmp_path, 0600) == 0, "mkfifo");
  CHECK_ERR(duet_safetensors_write(tmp_path, &t, 1, NULL), DUET_EINVAL, "not a regular file");
  struct stat st;
  CHECK(stat(tmp_path, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO is still there");
  unlink(tmp_path);
}

/* ------------------------------------------------------- hostile files */

/* le64(header length) + header + data_len bytes of data. */
static const char *craft(const char *header, size_t data_len) {
  size_t hl = strlen(header), n = 8 + hl + data_len;
  unsigned char *buf = calloc(1, n);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(buf + 8, header, hl);
  for (size_t i = 0; i < data_len; i++) buf[8 + hl + i] = (unsigned char)i;
  path_in(tmp_path, sizeof tmp_path, dir, "h.safetensors");
  if (write_bytes(tmp_path, buf, n) != 0) perror(tmp_path);
  free(buf);
  return tmp_path;
}

static int open_crafted(const char *header, size_t data_len) {
  duet_st_file *f = NULL;
  int rc = duet_safetensors_open(craft(header, data_len), &f);
  CHECK(rc == DUET_OK ? f != NULL : f == NULL, "out pointer set only on success");
  duet_safetensors_close(f);
  return rc;
}

#define T1(body) "{\"w\":{" body "}}"
/* A header, its data length, and the code and message parts it must give. */
typedef struct {
  const char *header;
  size_t data_len;
  int rc;
  const char *says[3];
} crafted;

static const crafted HEADERS[] = {
  {T1("\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]"), 16, DUET_OK, {NULL, NULL, NULL}},
  {"{\"__metadata__\":{\"a\":\"b\"}}", 0, DUET_OK, {NULL, NULL, NULL}},
  {"{}", 0, DUET_OK, {NULL, NULL, NULL}},
  {"", 0, DUET_EFORMAT, {"not valid JSON", NULL, NULL}},
  {"{", 0, DUET_EFORMAT, {"not valid JSON", NULL, NULL}},
  {"[1,2]", 0, DUET_EFORMAT, {"not a JSON object", NULL, NULL}},
  {"{\"a\":1,\"a\":2}", 0, DUET_EFORMAT, {"not valid JSON", "duplicate", NULL}},
  {"{\"w\":3}", 0, DUET_EFORMAT, {"'w'", "not an object", NULL}},
  {"{\"\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, DUET_EFORMAT, {"empty name", NULL, NULL}},
  {"{\"__metadata__\":[1]}", 0, DUET_EFORMAT, {"__metadata__", NULL, NULL}},
  {"{\"__metadata__\":{\"k\":1}}", 0, DUET_EFORMAT, {"'k'", "not a string", NULL}},
  {T1("\"dtype\":\"XYZ\",\"shape\":[1],\"data_offsets\":[0,4]"), 4, DUET_EFORMAT, {"'w'", "unknown dtype 'XYZ'", NULL}},
  {T1("\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]"), 8, DUET_EUNSUPPORTED, {"'w'", "I64", NULL}},
  {T1("\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]"), 8, DUET_EUNSUPPORTED, {"'w'", "F64", NULL}},
  {T1("\"shape\":[1],\"data_offsets\":[0,4]"), 4, DUET_EFORMAT, {"'w'", "dtype", NULL}},
  {T1("\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]"), 4, DUET_EFORMAT, {"'w'", "dtype", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 4, DUET_EFORMAT, {"'w'", "shape[0]", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]"), 4, DUET_EFORMAT, {"'w'", "shape[0]", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,4]"), 4, DUET_EFORMAT, {"'w'", "shape", NULL}},
  {T1("\"dtype\":\"F32\",\"data_offsets\":[0,4]"), 4, DUET_EFORMAT, {"'w'", "shape", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]"), 4, DUET_EUNSUPPORTED, {"'w'", "9 dimensions", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]"), 4, DUET_EFORMAT, {"'w'", "overflow", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]"), 4, DUET_EFORMAT, {"'w'", "overflow", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]"), 4, DUET_EFORMAT, {"not valid JSON", NULL, NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[2]"), 8, DUET_EFORMAT, {"'w'", "data_offsets", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]"), 8, DUET_EFORMAT, {"'w'", "data_offsets", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]"), 8, DUET_EFORMAT, {"'w'", "data_offsets", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]"), 8, DUET_EFORMAT, {"'w'", "end before begin", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 7, DUET_EFORMAT, {"'w'", "outside the data region", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]"), 8, DUET_EFORMAT, {"'w'", "outside", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9223372036854775807]"), 8, DUET_EFORMAT, {"'w'", "outside", NULL}},
  {T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]"), 12, DUET_EFORMAT, {"'w'", "12 bytes", "needs 8"}},
  /* a header length cut by its trailing padding still parses, and shifts every tensor */
  {T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 11, DUET_EFORMAT, {"cover 8 bytes", "11-byte", NULL}},
  {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, DUET_EFORMAT, {"gap", NULL, NULL}},
  {T1("\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,4]"), 8, DUET_EFORMAT, {"'w'", "needs 6", NULL}},
  {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, DUET_EFORMAT, {"'a'", "'b'", "overlap"}},
  {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, DUET_EFORMAT, {"overlap", NULL, NULL}},
  {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
   "\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 8, DUET_OK, {NULL, NULL, NULL}},
};

static void test_hostile_headers(void) {
  for (size_t i = 0; i < sizeof HEADERS / sizeof HEADERS[0]; i++) {
    const crafted *c = &HEADERS[i];
    int rc = open_crafted(c->header, c->data_len), ok = rc == c->rc;
    for (int k = 0; ok && k < 3 && c->says[k]; k++) ok = strstr(duet_last_error(), c->says[k]) != NULL;
    CHECK(ok, "header %s: got %d \"%s\", want %d", c->header, rc, rc ? duet_last_error() : "", c->rc);
  }
}

static void test_hostile_lengths(void) {
  unsigned char small[7] = {0};
  path_in(tmp_path, sizeof tmp_path, dir, "s.safetensors");
  duet_st_file *f = NULL;
  write_bytes(tmp_path, small, 0);
  CHECK_ERR(duet_safetensors_open(tmp_path, &f), DUET_EFORMAT, "too short");
  write_bytes(tmp_path, small, 7);
  CHECK_ERR(duet_safetensors_open(tmp_path, &f), DUET_EFORMAT, "too short");
  uint64_t lens[] = {UINT64_MAX, 1ull << 63, 1ull << 40, 100};
  for (int k = 0; k < 4; k++) {
    unsigned char b[64] = "........{}";
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(lens[k] >> (8 * i));
    write_bytes(tmp_path, b, sizeof b);
    CHECK_ERR(duet_safetensors_open(tmp_path, &f), DUET_EFORMAT, "exceeds the file size");
  }
  /* a sparse file with a 101 MB "header": refused before parsing */
  FILE *fp = fopen(tmp_path, "wb");
  unsigned char le[8];
  uint64_t big = 101ull << 20;
  for (int i = 0; i < 8; i++) le[i] = (unsigned char)(big >> (8 * i));
  CHECK(fp && fwrite(le, 1, 8, fp) == 8 && ftruncate(fileno(fp), (off_t)(big + 8)) == 0, "sparse file");
  if (fp) fclose(fp);
  CHECK_ERR(duet_safetensors_open(tmp_path, &f), DUET_EFORMAT, "100 MB");
  CHECK_ERR(duet_safetensors_open("/nonexistent/x.safetensors", &f), DUET_ENOENT, "/nonexistent/x.safetensors");
  CHECK_ERR(duet_safetensors_open(dir, &f), DUET_EIO, "not a regular file");
  path_in(tmp_path, sizeof tmp_path, dir, "fifo.safetensors");
  CHECK(mkfifo(tmp_path, 0600) == 0, "mkfifo");
  CHECK_ERR(duet_safetensors_open(tmp_path, &f), DUET_EIO, "not a regular file"); /* without blocking */
  unlink(tmp_path);
  CHECK(f == NULL, "no file handed out");
}

/* Reads every byte a successfully opened file hands out (ASan checks). */
static unsigned touch_all(const duet_st_file *f) {
  unsigned sum = 0;
  for (int i = 0; i < duet_safetensors_count(f); i++) {
    const duet_st_tensor *t = duet_safetensors_tensor(f, i);
    for (size_t b = 0; b < t->nbytes; b++) sum += ((const unsigned char *)t->data)[b];
  }
  return sum;
}

static unsigned char *read_all(const char *path, size_t *n) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  fseek(fp, 0, SEEK_END);
  *n = (size_t)ftell(fp);
  fseek(fp, 0, SEEK_SET);
  unsigned char *b = malloc(*n);
  if (fread(b, 1, *n, fp) != *n) *n = 0;
  fclose(fp);
  return b;
}

/* A good file cut at every length, and with random bytes flipped: each
 * either opens (and then every handed-out byte is inside the file) or is
 * refused with a format error; nothing crashes. */
static void test_truncation_and_flips(void) {
  float a[12];
  uint16_t b[8];
  for (int i = 0; i < 12; i++) a[i] = (float)i;
  for (int i = 0; i < 8; i++) b[i] = (uint16_t)(0x3f80 + i);
  duet_st_tensor ts[] = {{.name = "model.a", .dtype = DUET_F32, .ndim = 2, .shape = {3, 4}, .data = a},
                         {.name = "model.b", .dtype = DUET_BF16, .ndim = 1, .shape = {8}, .data = b}};
  char good[512];
  path_in(good, sizeof good, dir, "good.safetensors");
  CHECK_OK(duet_safetensors_write(good, ts, 2, NULL));
  size_t n = 0;
  unsigned char *bytes = read_all(good, &n);
  CHECK(bytes && n > 64, "read back %zu bytes", n);
  if (!bytes) return;
  path_in(tmp_path, sizeof tmp_path, dir, "t.safetensors");
  int refused = 0, wrong_code = 0;
  for (size_t len = 0; len < n; len++) {
    write_bytes(tmp_path, bytes, len);
    duet_st_file *f = NULL;
    int rc = duet_safetensors_open(tmp_path, &f);
    refused += rc < 0;
    wrong_code += rc != DUET_EFORMAT;
    if (f) touch_all(f);
    duet_safetensors_close(f);
  }
  CHECK(refused == (int)n && wrong_code == 0, "%d of %zu truncations refused (%d with another code)", refused, n,
        wrong_code);
  uint64_t rng = 0x1234567;
  int opened = 0, clean = 0;
  for (int iter = 0; iter < 400; iter++) {
    unsigned char *m = malloc(n);
    memcpy(m, bytes, n);
    for (int k = 0; k < 1 + iter % 4; k++) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      size_t at = (size_t)(rng >> 33) % (iter % 2 ? 40 : n); /* half the flips hit the length and header start */
      m[at] ^= (unsigned char)(1u << ((rng >> 20) & 7));
    }
    write_bytes(tmp_path, m, n);
    free(m);
    duet_st_file *f = NULL;
    int rc = duet_safetensors_open(tmp_path, &f);
    if (rc == DUET_OK) opened++, touch_all(f);
    else clean += rc == DUET_EFORMAT || rc == DUET_EUNSUPPORTED;
    duet_safetensors_close(f);
  }
  CHECK(opened + clean == 400, "flipped files: %d opened, %d refused cleanly of 400", opened, clean);
  free(bytes);
}

/* ---------------------------------------------- sharded directories */

static void test_sharded_fixture(void) {
  duet_st_set *s;
  CHECK_OK(duet_safetensors_open_dir("fixtures/loader/tiny_qwen2", &s));
  if (!s) return;
  const char *names[] = {"model.embed_tokens.weight", "lm_head.weight", "model.layers.1.mlp.down_proj.weight",
                         "model.layers.0.self_attn.q_proj.bias", "model.norm.weight"};
  for (int k = 0; k < 5; k++) {
    const duet_st_tensor *t = duet_st_set_find(s, names[k]);
    CHECK(t && t->dtype == DUET_BF16, "%s present as BF16", names[k]);
    if (!t) continue;
    size_t n = t->nbytes / 2;
    float *v = malloc(n * 4);
    duet_to_f32(t->dtype, t->data, v, n);
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += v[i] != weight_value(names[k], (long)i);
    CHECK(bad == 0, "%s: %d values differ from the generator's formula", names[k], bad);
    free(v);
  }
  CHECK(duet_st_set_find(s, "model.layers.9.mlp.up_proj.weight") == NULL, "absent tensor");
  CHECK(duet_st_set_data_bytes(s) > 10000, "data bytes %zu", duet_st_set_data_bytes(s));
  duet_st_set_close(s);
}

static int open_index(const char *index_json) {
  char p[600];
  write_bytes(path_in(p, sizeof p, dir, "model.safetensors.index.json"), index_json, strlen(index_json));
  duet_st_set *s = NULL;
  int rc = duet_safetensors_open_dir(dir, &s);
  duet_st_set_close(s);
  return rc;
}

static void test_hostile_index(void) {
  float a[2] = {1, 2};
  duet_st_tensor t = {.name = "w", .dtype = DUET_F32, .ndim = 1, .shape = {2}, .data = a};
  char p[600];
  CHECK_OK(duet_safetensors_write(path_in(p, sizeof p, dir, "part-1.safetensors"), &t, 1, NULL));
  duet_st_set *s = NULL;
  CHECK_ERR(duet_safetensors_open_dir(dir, &s), DUET_ENOENT, "no model.safetensors");
  CHECK_OK(open_index("{\"weight_map\": {\"w\": \"part-1.safetensors\"}}"));
  CHECK_ERR(open_index("{\"weight_map\": {\"w\": \"../part-1.safetensors\"}}"), DUET_EFORMAT, "'w'", "plain file name");
  CHECK_ERR(open_index("{\"weight_map\": {\"w\": \"/etc/passwd\"}}"), DUET_EFORMAT, "plain file name");
  CHECK_ERR(open_index("{\"weight_map\": {\"w\": \"..\"}}"), DUET_EFORMAT, "plain file name");
  CHECK_ERR(open_index("{\"weight_map\": {\"w\": 3}}"), DUET_EFORMAT, "'w'");
  CHECK_ERR(open_index("{\"weight_map\": {\"w\": \"part-2.safetensors\"}}"), DUET_ENOENT, "part-2.safetensors");
  CHECK_ERR(open_index("{\"weight_map\": {\"v\": \"part-1.safetensors\"}}"), DUET_ENOENT, "'v'", "does not contain");
  CHECK_ERR(open_index("{\"weight_map\": [1]}"), DUET_EFORMAT, "weight_map");
  CHECK_ERR(open_index("{\"metadata\": {}}"), DUET_EFORMAT, "weight_map");
  CHECK_ERR(open_index("{\"weight_map\": {"), DUET_EFORMAT, "not valid JSON");
  unlink(path_in(p, sizeof p, dir, "model.safetensors.index.json"));
  CHECK(mkdir(p, 0700) == 0, "mkdir");
  CHECK_ERR(duet_safetensors_open_dir(dir, &s), DUET_EIO, "index.json", "not a regular file");
  rmdir(p);
  /* a shard that is itself broken is reported by its own name */
  write_bytes(path_in(p, sizeof p, dir, "part-3.safetensors"), "\x02\0\0\0\0\0\0\0{}", 9);
  CHECK_ERR(open_index("{\"weight_map\": {\"w\": \"part-3.safetensors\"}}"), DUET_EFORMAT, "part-3.safetensors");
  unlink(path_in(p, sizeof p, dir, "model.safetensors.index.json"));
}

int main(void) {
  dir = scratch_make("st");
  test_torch_fixture();
  test_roundtrip_all_16bit();
  test_writer_roundtrip();
  test_writer_refusals();
  test_hostile_headers();
  test_hostile_lengths();
  test_truncation_and_flips();
  test_sharded_fixture();
  test_hostile_index();
  scratch_remove();
  return finish();
}
