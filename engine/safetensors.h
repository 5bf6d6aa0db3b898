#ifndef DUET_SAFETENSORS_H
#define DUET_SAFETENSORS_H

/* The safetensors format (what Hugging Face reads and writes):
 *   8 bytes   little-endian u64 N, the header length
 *   N bytes   JSON: {"NAME": {"dtype": "F32", "shape": [2, 3],
 *                             "data_offsets": [begin, end]}, ...,
 *                    "__metadata__": {"format": "pt", ...}}
 *   the data  offsets are relative to the end of the header; row-major,
 *             little-endian.
 *
 * The reader mmaps the file and checks everything before handing out a
 * pointer: header length against the file size, the JSON, each tensor's
 * dtype (F32, BF16, F16; others are refused by name), shape (non-negative,
 * product without overflow), data_offsets (inside the data region and equal
 * to shape x element size) and that no two tensors overlap. A truncated or
 * hostile file is refused with a message naming the tensor and the problem
 * (duet_last_error()); it is never read out of bounds. */

#include <stddef.h>
#include <stdint.h>

#include "engine/model.h" /* duet_dtype */

#define DUET_ST_MAX_DIMS 8

typedef struct {
  const char *name;
  duet_dtype dtype;
  int ndim;                         /* 0 (a scalar) .. DUET_ST_MAX_DIMS */
  int64_t shape[DUET_ST_MAX_DIMS];
  const void *data;                 /* reader: inside the mmap; not necessarily
                                       aligned to the element size */
  size_t nbytes;                    /* product(shape) * dtype size */
} duet_st_tensor;

/* ---- one file ---- */
typedef struct duet_st_file duet_st_file;

int duet_safetensors_open(const char *path, duet_st_file **out);
void duet_safetensors_close(duet_st_file *f);
int duet_safetensors_count(const duet_st_file *f);
/* i-th tensor in name order, 0 <= i < count. */
const duet_st_tensor *duet_safetensors_tensor(const duet_st_file *f, int i);
/* NULL when the file has no tensor of that name. */
const duet_st_tensor *duet_safetensors_find(const duet_st_file *f, const char *name);
/* A string of __metadata__, or NULL when absent. */
const char *duet_safetensors_metadata(const duet_st_file *f, const char *key);

/* ---- a model directory: model.safetensors, or the shards listed in
 * model.safetensors.index.json ("weight_map": {tensor name: file name}) ---- */
typedef struct duet_st_set duet_st_set;

int duet_safetensors_open_dir(const char *dir, duet_st_set **out);
void duet_st_set_close(duet_st_set *s);
/* NULL when absent. */
const duet_st_tensor *duet_st_set_find(const duet_st_set *s, const char *name);
/* Total bytes of tensor data over all files (for memory checks). */
size_t duet_st_set_data_bytes(const duet_st_set *s);

/* ---- writer ----
 * Write n tensors to path atomically (a temp file in the same directory,
 * fsync, rename), in a form Hugging Face's `safetensors` reads: laid out
 * contiguously, largest element size first then by name (so each tensor is
 * aligned), header padded with spaces to a multiple of 8 bytes. Each tensor needs name, dtype, ndim, shape and data
 * (nbytes may be 0, meaning "computed from shape"; if set it must match).
 * metadata_json: NULL or a JSON object of strings, e.g. "{\"step\": \"100\"}";
 * "format": "pt" is added when missing (transformers requires it). */
int duet_safetensors_write(const char *path, const duet_st_tensor *tensors, int n, const char *metadata_json);

#endif
