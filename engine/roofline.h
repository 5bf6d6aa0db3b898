#ifndef DUET_ROOFLINE_H
#define DUET_ROOFLINE_H

/* A measured roofline of the engine's two kinds of work, for the "110M"
 * shape (dim 768, 12 heads of 64, hidden 2048):
 *  - the SwiGLU MLP alone (gate, up, silu*up, down) at batch sizes 1..512,
 *    F32 and BF16 weights: FLOPs 6 N dim hidden; bytes = weights + input
 *    and output rows (the compulsory traffic);
 *  - attention alone: decode over the paged cache (batch 1..32, context
 *    128..2048; bytes = the K and V read) and causal prefill attention on
 *    contiguous tensors (T = 64..1024; bytes = q, k, v, out).
 * Each point (FLOP/byte, achieved GFLOP/s) is plotted on log-log axes
 * against min(peak, bandwidth x intensity), from the better of mp and a
 * duet_machine_peak measured again after the points, with
 * the ridge point marked, into an SVG file; the points also come back as
 * JSON (array of {kind, dtype, batch, context, flops, bytes, intensity,
 * gflops}). */

#include <jansson.h>

#include "engine/machine_peak.h"

int duet_roofline_run(const duet_machine_peak *mp, const char *svg_path, int quick, json_t **points);

#endif
