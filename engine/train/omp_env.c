#include "engine/train/omp_env.h"

#include <stdlib.h>
#include <unistd.h>

void duet_omp_passive_reexec(char **argv) {
  if (getenv("OMP_WAIT_POLICY")) return; /* chosen by the user, or already re-executed */
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  execv("/proc/self/exe", argv); /* on failure, carry on with the default policy */
}
