#include "engine/threads.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void duet_threads_init(char **argv) {
  if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
  if (setenv("GOMP_SPINCOUNT", DUET_GOMP_SPINCOUNT, 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed: carry on with the default policy (the variable set now
  // would not be read by the libgomp already loaded)
  unsetenv("GOMP_SPINCOUNT");
}

const char *duet_threads_wait_policy(void) {
  const char *p = getenv("OMP_WAIT_POLICY");
  if (p) return p;
  p = getenv("GOMP_SPINCOUNT");
  if (!p) return "default (spinning)";
  static __thread char buf[64];
  snprintf(buf, sizeof buf, "GOMP_SPINCOUNT=%.40s", p);
  return buf;
}
