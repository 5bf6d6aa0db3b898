#include "engine/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/atomic_file.h"
#include "engine/dtype.h"
#include "engine/error.h"
#include "engine/json_file.h"

/* The Rust reference implementation refuses headers over 100 MB; so do we,
 * before asking jansson to parse them. */
#define MAX_HEADER (100u << 20)

struct duet_st_file {
  char *path;
  void *map;
  size_t map_size;
  json_t *root;            /* owns the tensor names */
  json_t *meta;            /* borrowed from root; may be NULL */
  duet_st_tensor *tensors; /* sorted by name */
  int n;
};

/* ---------------------------------------------------------------- reader */

static int parse_dtype(const char *file, const char *name, json_t *j, duet_dtype *out) {
  static const char *refused[] = {"F64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL",
                                  "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};
  const char *s = json_string_value(j);
  if (!s) return duet_error(DUET_EFORMAT, "%s: tensor '%s': \"dtype\" missing or not a string", file, name);
  if (!strcmp(s, "F32")) *out = DUET_F32;
  else if (!strcmp(s, "BF16")) *out = DUET_BF16;
  else if (!strcmp(s, "F16")) *out = DUET_F16;
  else {
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
      if (!strcmp(s, refused[i]))
        return duet_error(DUET_EUNSUPPORTED, "%s: tensor '%s': dtype %s is not supported (F32, BF16, F16 only)", file,
                          name, s);
    return duet_error(DUET_EFORMAT, "%s: tensor '%s': unknown dtype '%.32s'", file, name, s);
  }
  return DUET_OK;
}

/* Fills ndim, shape and nbytes, refusing anything whose size overflows. */
static int parse_shape(const char *file, const char *name, json_t *j, duet_st_tensor *t) {
  if (!json_is_array(j)) return duet_error(DUET_EFORMAT, "%s: tensor '%s': \"shape\" missing or not an array", file, name);
  size_t nd = json_array_size(j);
  if (nd > DUET_ST_MAX_DIMS)
    return duet_error(DUET_EUNSUPPORTED, "%s: tensor '%s': %zu dimensions (at most %d)", file, name, nd, DUET_ST_MAX_DIMS);
  uint64_t count = 1;
  for (size_t d = 0; d < nd; d++) {
    json_t *v = json_array_get(j, d);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
      return duet_error(DUET_EFORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer", file, name, d);
    t->shape[d] = json_integer_value(v);
    if (__builtin_mul_overflow(count, (uint64_t)t->shape[d], &count))
      return duet_error(DUET_EFORMAT, "%s: tensor '%s': shape product overflows", file, name);
  }
  t->ndim = (int)nd;
  uint64_t bytes;
  if (__builtin_mul_overflow(count, (uint64_t)duet_dtype_size(t->dtype), &bytes) || bytes > SIZE_MAX)
    return duet_error(DUET_EFORMAT, "%s: tensor '%s': shape product overflows", file, name);
  t->nbytes = (size_t)bytes;
  return DUET_OK;
}

static int parse_offsets(const char *file, const char *name, json_t *j, size_t data_size, uint64_t *begin,
                         uint64_t *end) {
  json_t *b = json_array_get(j, 0), *e = json_array_get(j, 1);
  if (!json_is_array(j) || json_array_size(j) != 2 || !json_is_integer(b) || !json_is_integer(e) ||
      json_integer_value(b) < 0 || json_integer_value(e) < 0)
    return duet_error(DUET_EFORMAT, "%s: tensor '%s': \"data_offsets\" is not [begin, end] of non-negative integers",
                      file, name);
  uint64_t lo = (uint64_t)json_integer_value(b), hi = (uint64_t)json_integer_value(e);
  if (lo > hi)
    return duet_error(DUET_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before begin", file, name,
                      (unsigned long long)lo, (unsigned long long)hi);
  if (hi > data_size)
    return duet_error(DUET_EFORMAT,
                      "%s: tensor '%s': data_offsets [%llu, %llu] outside the data region (%zu bytes; file truncated?)",
                      file, name, (unsigned long long)lo, (unsigned long long)hi, data_size);
  *begin = lo;
  *end = hi;
  return DUET_OK;
}

static int parse_tensor(duet_st_file *f, const char *name, json_t *info, const unsigned char *data, size_t data_size,
                        duet_st_tensor *t) {
  if (!*name) return duet_error(DUET_EFORMAT, "%s: a tensor has an empty name", f->path);
  if (!json_is_object(info)) return duet_error(DUET_EFORMAT, "%s: tensor '%s': entry is not an object", f->path, name);
  t->name = name;
  int rc = parse_dtype(f->path, name, json_object_get(info, "dtype"), &t->dtype);
  if (rc < 0) return rc;
  if ((rc = parse_shape(f->path, name, json_object_get(info, "shape"), t)) < 0) return rc;
  uint64_t begin = 0, end = 0;
  if ((rc = parse_offsets(f->path, name, json_object_get(info, "data_offsets"), data_size, &begin, &end)) < 0) return rc;
  if (end - begin != t->nbytes)
    return duet_error(DUET_EFORMAT, "%s: tensor '%s': data_offsets span %llu bytes but shape x %s needs %zu", f->path,
                      name, (unsigned long long)(end - begin), duet_dtype_name(t->dtype), t->nbytes);
  t->data = data + begin;
  return DUET_OK;
}

static int cmp_by_name(const void *a, const void *b) {
  return strcmp(((const duet_st_tensor *)a)->name, ((const duet_st_tensor *)b)->name);
}

static int cmp_by_offset(const void *a, const void *b) {
  const duet_st_tensor *x = *(const duet_st_tensor *const *)a, *y = *(const duet_st_tensor *const *)b;
  if (x->data != y->data) return (const char *)x->data < (const char *)y->data ? -1 : 1;
  return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Two tensors may not share bytes (empty tensors share nothing). */
static int check_overlaps(duet_st_file *f) {
  if (f->n < 2) return DUET_OK;
  const duet_st_tensor **by = malloc((size_t)f->n * sizeof *by);
  if (!by) return duet_error(DUET_ENOMEM, "%s: out of memory", f->path);
  for (int i = 0; i < f->n; i++) by[i] = &f->tensors[i];
  qsort(by, (size_t)f->n, sizeof *by, cmp_by_offset);
  int rc = DUET_OK;
  const duet_st_tensor *prev = NULL;
  for (int i = 0; i < f->n && rc == DUET_OK; i++) {
    if (by[i]->nbytes == 0) continue;
    if (prev && (const char *)by[i]->data < (const char *)prev->data + prev->nbytes)
      rc = duet_error(DUET_EFORMAT, "%s: tensors '%s' and '%s' overlap in the data region", f->path, prev->name,
                      by[i]->name);
    prev = by[i];
  }
  free(by);
  return rc;
}

static int parse_metadata(duet_st_file *f, json_t *meta) {
  if (!json_is_object(meta)) return duet_error(DUET_EFORMAT, "%s: \"__metadata__\" is not an object", f->path);
  const char *k;
  json_t *v;
  json_object_foreach(meta, k, v) {
    if (!json_is_string(v))
      return duet_error(DUET_EFORMAT, "%s: \"__metadata__\" value of '%s' is not a string", f->path, k);
  }
  f->meta = meta;
  return DUET_OK;
}

static int parse_header(duet_st_file *f, const unsigned char *hdr, size_t hlen) {
  json_error_t jerr;
  f->root = json_loadb((const char *)hdr, hlen, JSON_REJECT_DUPLICATES, &jerr);
  if (!f->root)
    return duet_error(DUET_EFORMAT, "%s: header is not valid JSON (line %d column %d: %s)", f->path, jerr.line,
                      jerr.column, jerr.text);
  if (!json_is_object(f->root)) return duet_error(DUET_EFORMAT, "%s: header is not a JSON object", f->path);
  size_t count = json_object_size(f->root);
  f->tensors = calloc(count ? count : 1, sizeof *f->tensors);
  if (!f->tensors) return duet_error(DUET_ENOMEM, "%s: out of memory for %zu tensors", f->path, count);
  const unsigned char *data = hdr + hlen;
  size_t data_size = f->map_size - 8 - hlen;
  const char *name;
  json_t *info;
  int rc;
  json_object_foreach(f->root, name, info) {
    if (!strcmp(name, "__metadata__")) {
      if ((rc = parse_metadata(f, info)) < 0) return rc;
      continue;
    }
    if ((rc = parse_tensor(f, name, info, data, data_size, &f->tensors[f->n])) < 0) return rc;
    f->n++;
  }
  qsort(f->tensors, (size_t)f->n, sizeof *f->tensors, cmp_by_name);
  if ((rc = check_overlaps(f)) < 0) return rc;
  /* Disjoint and inside the region: they cover it exactly when their sizes
   * add up to it. The reference reader refuses gaps and trailing bytes
   * (InvalidOffset, MetadataIncompleteBuffer); a wrong header length that
   * still parses (trailing padding cut) would otherwise shift every tensor. */
  size_t covered = 0;
  for (int i = 0; i < f->n; i++) covered += f->tensors[i].nbytes;
  if (covered != data_size)
    return duet_error(DUET_EFORMAT,
                      "%s: the tensors cover %zu bytes of the %zu-byte data region (wrong header length, gap or "
                      "trailing bytes)", f->path, covered, data_size);
  return DUET_OK;
}

static int map_file(duet_st_file *f) {
  int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
  if (fd < 0) return duet_error(errno == ENOENT ? DUET_ENOENT : DUET_EIO, "%s: %s", f->path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return duet_error(DUET_EIO, "%s: not a regular file", f->path);
  }
  if (st.st_size < 8) {
    close(fd);
    return duet_error(DUET_EFORMAT, "%s: %lld bytes, too short for the 8-byte header length", f->path,
                      (long long)st.st_size);
  }
  f->map_size = (size_t)st.st_size;
  f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (f->map == MAP_FAILED) {
    f->map = NULL;
    return duet_error(DUET_EIO, "%s: mmap failed: %s", f->path, strerror(errno));
  }
  return DUET_OK;
}

int duet_safetensors_open(const char *path, duet_st_file **out) {
  *out = NULL;
  duet_st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(path))) {
    free(f);
    return duet_error(DUET_ENOMEM, "%s: out of memory", path);
  }
  int rc = map_file(f);
  if (rc == DUET_OK) {
    const unsigned char *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    if (hlen > f->map_size - 8)
      rc = duet_error(DUET_EFORMAT, "%s: header length %llu exceeds the file size %zu (truncated or not safetensors)",
                      path, (unsigned long long)hlen, f->map_size);
    else if (hlen > MAX_HEADER)
      rc = duet_error(DUET_EFORMAT, "%s: header length %llu is over the 100 MB limit", path, (unsigned long long)hlen);
    else
      rc = parse_header(f, p + 8, (size_t)hlen);
  }
  if (rc < 0) {
    duet_safetensors_close(f);
    return rc;
  }
  *out = f;
  return DUET_OK;
}

void duet_safetensors_close(duet_st_file *f) {
  if (!f) return;
  if (f->map) munmap(f->map, f->map_size);
  json_decref(f->root);
  free(f->tensors);
  free(f->path);
  free(f);
}

int duet_safetensors_count(const duet_st_file *f) { return f->n; }

const duet_st_tensor *duet_safetensors_tensor(const duet_st_file *f, int i) {
  return i >= 0 && i < f->n ? &f->tensors[i] : NULL;
}

const duet_st_tensor *duet_safetensors_find(const duet_st_file *f, const char *name) {
  duet_st_tensor key = {.name = name};
  return bsearch(&key, f->tensors, (size_t)f->n, sizeof key, cmp_by_name);
}

const char *duet_safetensors_metadata(const duet_st_file *f, const char *key) {
  return f->meta ? json_string_value(json_object_get(f->meta, key)) : NULL;
}

/* ------------------------------------------------------ model directory */

struct duet_st_set {
  duet_st_file **files;
  char **file_names; /* as in the index ("model-00001-of-00002.safetensors") */
  int n_files;
  json_t *weight_map; /* NULL for a single file */
  json_t *index;
};

/* Shard names come from a file we do not trust: keep them inside dir. */
static int shard_name_ok(const char *s) {
  return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..") && strlen(s) < 256;
}

static int set_add_file(duet_st_set *s, const char *dir, const char *name) {
  for (int i = 0; i < s->n_files; i++)
    if (!strcmp(s->file_names[i], name)) return i;
  char path[4096 + 256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  duet_st_file **files = realloc(s->files, (size_t)(s->n_files + 1) * sizeof *files);
  if (files) s->files = files;
  char **names = realloc(s->file_names, (size_t)(s->n_files + 1) * sizeof *names);
  if (names) s->file_names = names;
  if (!files || !names) return duet_error(DUET_ENOMEM, "%s: out of memory", path);
  if (!(s->file_names[s->n_files] = strdup(name))) return duet_error(DUET_ENOMEM, "%s: out of memory", path);
  int rc = duet_safetensors_open(path, &s->files[s->n_files]);
  if (rc < 0) {
    free(s->file_names[s->n_files]);
    return rc;
  }
  return s->n_files++;
}

static int set_open_index(duet_st_set *s, const char *dir, const char *index_path) {
  int rc = duet_json_load_file(index_path, 256u << 20, &s->index); /* a weight map: 100k+ tensors at most */
  if (rc < 0) return rc;
  s->weight_map = json_object_get(s->index, "weight_map");
  if (!json_is_object(s->weight_map)) return duet_error(DUET_EFORMAT, "%s: \"weight_map\" missing or not an object", index_path);
  const char *name;
  json_t *v;
  json_object_foreach(s->weight_map, name, v) {
    const char *file = json_string_value(v);
    if (!file || !shard_name_ok(file))
      return duet_error(DUET_EFORMAT, "%s: weight_map entry '%s' is not a plain file name in the directory", index_path,
                        name);
    int i = set_add_file(s, dir, file);
    if (i < 0) return i;
    if (!duet_safetensors_find(s->files[i], name))
      return duet_error(DUET_ENOENT, "%s: tensor '%s' is mapped to %s, which does not contain it", index_path, name,
                        file);
  }
  return DUET_OK;
}

int duet_safetensors_open_dir(const char *dir, duet_st_set **out) {
  *out = NULL;
  duet_st_set *s = calloc(1, sizeof *s);
  if (!s) return duet_error(DUET_ENOMEM, "%s: out of memory", dir);
  char path[4096 + 64];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  int rc;
  if (access(path, F_OK) == 0) {
    rc = set_add_file(s, dir, "model.safetensors");
  } else {
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (access(path, F_OK) == 0) rc = set_open_index(s, dir, path);
    else rc = duet_error(DUET_ENOENT, "%s: no model.safetensors or model.safetensors.index.json", dir);
  }
  if (rc < 0) {
    duet_st_set_close(s);
    return rc;
  }
  *out = s;
  return DUET_OK;
}

void duet_st_set_close(duet_st_set *s) {
  if (!s) return;
  for (int i = 0; i < s->n_files; i++) {
    duet_safetensors_close(s->files[i]);
    free(s->file_names[i]);
  }
  free(s->files);
  free(s->file_names);
  json_decref(s->index);
  free(s);
}

const duet_st_tensor *duet_st_set_find(const duet_st_set *s, const char *name) {
  if (!s->weight_map) return s->n_files ? duet_safetensors_find(s->files[0], name) : NULL;
  const char *file = json_string_value(json_object_get(s->weight_map, name));
  if (!file) return NULL;
  for (int i = 0; i < s->n_files; i++)
    if (!strcmp(s->file_names[i], file)) return duet_safetensors_find(s->files[i], name);
  return NULL;
}

size_t duet_st_set_data_bytes(const duet_st_set *s) {
  size_t total = 0;
  for (int i = 0; i < s->n_files; i++)
    for (int j = 0; j < s->files[i]->n; j++) total += s->files[i]->tensors[j].nbytes;
  return total;
}

/* ---------------------------------------------------------------- writer */

static int check_write_tensor(const duet_st_tensor *t, size_t *nbytes) {
  if (!t->name || !*t->name || !strcmp(t->name, "__metadata__"))
    return duet_error(DUET_EINVAL, "safetensors write: bad tensor name '%s'", t->name ? t->name : "(null)");
  if (duet_dtype_size(t->dtype) == 0) return duet_error(DUET_EINVAL, "safetensors write: tensor '%s': bad dtype", t->name);
  if (t->ndim < 0 || t->ndim > DUET_ST_MAX_DIMS)
    return duet_error(DUET_EINVAL, "safetensors write: tensor '%s': ndim %d out of range", t->name, t->ndim);
  uint64_t n = duet_dtype_size(t->dtype);
  for (int d = 0; d < t->ndim; d++)
    if (t->shape[d] < 0 || __builtin_mul_overflow(n, (uint64_t)t->shape[d], &n))
      return duet_error(DUET_EINVAL, "safetensors write: tensor '%s': bad shape[%d]", t->name, d);
  if (t->nbytes && t->nbytes != n)
    return duet_error(DUET_EINVAL, "safetensors write: tensor '%s': nbytes %zu but shape needs %llu", t->name,
                      t->nbytes, (unsigned long long)n);
  if (n && !t->data) return duet_error(DUET_EINVAL, "safetensors write: tensor '%s': no data", t->name);
  *nbytes = (size_t)n;
  return DUET_OK;
}

static json_t *tensor_entry(const duet_st_tensor *t, size_t begin, size_t end) {
  json_t *shape = json_array();
  for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
  json_t *off = json_array();
  json_array_append_new(off, json_integer((json_int_t)begin));
  json_array_append_new(off, json_integer((json_int_t)end));
  return json_pack("{s:s, s:o, s:o}", "dtype", duet_dtype_name(t->dtype), "shape", shape, "data_offsets", off);
}

static int build_metadata(const char *metadata_json, json_t **out) {
  json_t *meta;
  if (metadata_json) {
    json_error_t jerr;
    meta = json_loads(metadata_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(meta)) {
      json_decref(meta);
      return duet_error(DUET_EINVAL, "safetensors write: metadata is not a JSON object");
    }
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
      if (!json_is_string(v)) {
        int rc = duet_error(DUET_EINVAL, "safetensors write: metadata value of '%s' is not a string", k);
        json_decref(meta); /* after the message: k lives in meta */
        return rc;
      }
    }
  } else {
    meta = json_object();
  }
  if (!json_object_get(meta, "format")) json_object_set_new(meta, "format", json_string("pt"));
  *out = meta;
  return DUET_OK;
}

/* Header JSON for tensors in the order of idx, padded with spaces to a
 * multiple of 8 so that the data starts aligned. */
static int build_header(const duet_st_tensor *const *order, int n, json_t *meta, char **out, size_t *len) {
  json_t *root = json_object();
  json_object_set(root, "__metadata__", meta);
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    const duet_st_tensor *t = order[i];
    size_t nb;
    check_write_tensor(t, &nb); /* already validated */
    if (json_object_get(root, t->name)) {
      json_decref(root);
      return duet_error(DUET_EINVAL, "safetensors write: tensor name '%s' appears twice", t->name);
    }
    json_object_set_new(root, t->name, tensor_entry(t, off, off + nb));
    off += nb;
  }
  char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (!s) return duet_error(DUET_ENOMEM, "safetensors write: out of memory for the header");
  size_t l = strlen(s), padded = (l + 7) & ~(size_t)7;
  char *p = realloc(s, padded + 1);
  if (!p) {
    free(s);
    return duet_error(DUET_ENOMEM, "safetensors write: out of memory for the header");
  }
  memset(p + l, ' ', padded - l);
  p[padded] = 0;
  *out = p;
  *len = padded;
  return DUET_OK;
}

/* Largest element size first, then by name (as the Python package does):
 * with the header padded to 8, every tensor then starts aligned to its
 * element size, so readers can use it in place. */
static int cmp_for_layout(const void *a, const void *b) {
  const duet_st_tensor *x = *(const duet_st_tensor *const *)a, *y = *(const duet_st_tensor *const *)b;
  size_t sx = duet_dtype_size(x->dtype), sy = duet_dtype_size(y->dtype);
  if (sx != sy) return sx > sy ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int write_file(const char *path, const duet_st_tensor *const *order, int n, const char *hdr, size_t hlen) {
  duet_atomic_file f;
  int rc = duet_atomic_open(&f, path);
  if (rc < 0) return rc;
  unsigned char le[8];
  for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  rc = duet_atomic_write(&f, le, 8);
  if (rc == DUET_OK) rc = duet_atomic_write(&f, hdr, hlen);
  for (int i = 0; i < n && rc == DUET_OK; i++) {
    size_t nb;
    check_write_tensor(order[i], &nb);
    rc = duet_atomic_write(&f, order[i]->data, nb);
  }
  return duet_atomic_commit(&f, rc);
}

int duet_safetensors_write(const char *path, const duet_st_tensor *tensors, int n, const char *metadata_json) {
  if (n < 0 || (n > 0 && !tensors)) return duet_error(DUET_EINVAL, "safetensors write: bad tensor list");
  for (int i = 0; i < n; i++) {
    size_t nb;
    int rc = check_write_tensor(&tensors[i], &nb);
    if (rc < 0) return rc;
  }
  const duet_st_tensor **order = malloc((size_t)(n ? n : 1) * sizeof *order);
  if (!order) return duet_error(DUET_ENOMEM, "safetensors write: out of memory");
  for (int i = 0; i < n; i++) order[i] = &tensors[i];
  qsort(order, (size_t)n, sizeof *order, cmp_for_layout);
  json_t *meta = NULL;
  char *hdr = NULL;
  size_t hlen = 0;
  int rc = build_metadata(metadata_json, &meta);
  if (rc == DUET_OK) rc = build_header(order, n, meta, &hdr, &hlen);
  if (rc == DUET_OK) rc = write_file(path, order, n, hdr, hlen);
  json_decref(meta);
  free(hdr);
  free(order);
  return rc;
}
