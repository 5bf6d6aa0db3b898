#include "engine/threads.h"

#include <stdlib.h>
#include <unistd.h>

void duet_threads_init(char **argv) {
  if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed: carry on with the default policy (the variable set now
  // would not be read by the libgomp already loaded)
  unsetenv("OMP_WAIT_POLICY");
}

const char *duet_threads_wait_policy(void) {
  const char *p = getenv("OMP_WAIT_POLICY");
  return p ? p : getenv("GOMP_SPINCOUNT") ? "GOMP_SPINCOUNT" : "default (spinning)";
}
