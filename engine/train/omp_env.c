#include "engine/train/omp_env.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

void duet_omp_passive_reexec(char **argv) {
  if (getenv("OMP_WAIT_POLICY")) return; /* chosen by the user, or already re-executed */
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1); /* the real path keeps the process name */
  if (n <= 0 || setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  self[n] = '\0';
  execv(self, argv); /* on failure, carry on with the default policy */
}
