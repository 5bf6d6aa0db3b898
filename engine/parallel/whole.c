#include "engine/parallel/whole.h"

#include <stddef.h>

#include "engine/error.h"

int duet_whole_gather(duet_whole_fn fn, void *ctx, const duet_llama_train *m, const duet_adamw *o,
                      duet_llama_train *full, duet_adamw *full_opt, const duet_llama_train **full_m,
                      const duet_adamw **full_o) {
  fn(ctx, m, m->params, full ? full->params : NULL);
  fn(ctx, m, o->m, full ? full_opt->m : NULL);
  fn(ctx, m, o->v, full ? full_opt->v : NULL);
  full_opt->step = o->step;
  *full_m = full;
  *full_o = full ? full_opt : NULL;
  return DUET_OK;
}
