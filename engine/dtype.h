#ifndef DUET_DTYPE_H
#define DUET_DTYPE_H

/* Bulk conversions between float32 and the checkpoint dtypes, for loading
 * and saving. The scalar conversions (round to nearest even, as torch) are
 * engine/ops/dtype.h's; these add the array forms that are safe on
 * unaligned data straight out of a safetensors mmap (they read and write
 * through memcpy) and the dtype names. */

#include <stddef.h>
#include <stdint.h>

#include "engine/model.h" /* duet_dtype, duet_dtype_size */
#include "engine/ops/dtype.h" /* the scalar conversions */

/* dst[i] = widen(src[i]) for n elements of type t (F32 is a copy). */
void duet_to_f32(duet_dtype t, const void *src, float *dst, size_t n);
/* dst[i] = narrow(src[i]) for n elements of type t (F32 is a copy). */
void duet_from_f32(duet_dtype t, const float *src, void *dst, size_t n);

/* "F32", "BF16", "F16" (safetensors names); "?" for an invalid value. */
const char *duet_dtype_name(duet_dtype t);

#endif
