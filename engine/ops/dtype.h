#ifndef DUET_OPS_DTYPE_H
#define DUET_OPS_DTYPE_H

/* Scalar and row conversions between float32 and the 16-bit weight types
 * (BF16, F16). Used by the ops that read duet_matrix weights and by anyone
 * who converts a checkpoint (rounding is round-to-nearest-even, as torch's
 * .to(torch.bfloat16) / .to(torch.float16) do). */

#include <stdint.h>

#include "engine/model.h"

float duet_bf16_to_f32(uint16_t h);
uint16_t duet_f32_to_bf16(float f); /* round to nearest even; NaN stays NaN */
float duet_f16_to_f32(uint16_t h);
uint16_t duet_f32_to_f16(float f);  /* round to nearest even; overflow -> inf */

/* Rows row0 .. row0+nrows-1 of W widened to float32:
 * dst (nrows, W->cols). Returns DUET_OK, or DUET_EINVAL (rows out of
 * range) / DUET_EUNSUPPORTED (unknown dtype) with a duet_error message. */
int duet_matrix_rows_f32(float *dst, const duet_matrix *W, int row0, int nrows);

/* n values of type t at src widened to float32 (dst may not alias src). */
void duet_widen_f32(float *dst, const void *src, duet_dtype t, long n);

#endif
