/* --parallel specs (engine/parallel/mesh.h) parse into the right mesh
 * shape, and every malformed spec or rank count that does not fit is
 * refused with a message naming the problem. Parsing needs no MPI. */
#include <stdio.h>
#include <string.h>

#include "engine/error.h"
#include "engine/parallel/mesh.h"

static int passed, failed;

static void expect_shape(const char *spec, int world, int data, int model, int fsdp, int tp, int pp, int micro) {
  duet_mesh_spec s;
  int rc = duet_mesh_spec_parse(spec, world, &s);
  if (rc == 0 && s.data == data && s.model == model && s.fsdp == fsdp && s.tp == tp && s.pp == pp && s.micro == micro) {
    passed++;
    return;
  }
  failed++;
  printf("FAIL %s on %d ranks: rc %d (%s), data %d model %d fsdp %d tp %d pp %d mb %d\n", spec, world, rc,
         rc ? duet_last_error() : "", s.data, s.model, s.fsdp, s.tp, s.pp, s.micro);
}

static void expect_refused(const char *spec, int world, const char *want) {
  duet_mesh_spec s;
  int rc = duet_mesh_spec_parse(spec, world, &s);
  if (rc == DUET_EINVAL && strstr(duet_last_error(), want)) {
    passed++;
    return;
  }
  failed++;
  printf("FAIL %s on %d ranks: rc %d, message \"%s\" (wanted \"%s\")\n", spec ? spec : "(null)", world, rc,
         rc ? duet_last_error() : "", want);
}

int main(void) {
  expect_shape("dp", 4, 4, 1, 0, 0, 0, 0);
  expect_shape("fsdp", 2, 2, 1, 1, 0, 0, 0);
  expect_shape("tp", 2, 1, 2, 0, 1, 0, 0);
  expect_shape("pp", 3, 1, 3, 0, 0, 1, 0);
  expect_shape("pp,mb=4", 2, 1, 2, 0, 0, 1, 4);
  expect_shape("dp=2,tp=2", 4, 2, 2, 0, 1, 0, 0);
  expect_shape("tp=2,dp", 6, 3, 2, 0, 1, 0, 0);
  expect_shape("dp=3,pp", 6, 3, 2, 0, 0, 1, 0);
  expect_shape("dp=1", 1, 1, 1, 0, 0, 0, 0);

  expect_refused(NULL, 2, "needs a mode");
  expect_refused("", 2, "needs a mode");
  expect_refused("xp", 2, "unknown axis \"xp\"");
  expect_refused("dp=0", 2, "positive size");
  expect_refused("dp=-2", 2, "positive size");
  expect_refused("dp=2x", 2, "positive size");
  expect_refused("tp=", 2, "positive size");
  expect_refused("dp,fsdp", 2, "more than one data axis");
  expect_refused("tp,pp", 2, "more than one model axis");
  expect_refused("dp,dp", 2, "more than one data axis");
  expect_refused("dp,tp", 4, "give a size to all axes but one");
  expect_refused("dp=2,tp=2", 2, "needs 4 ranks, the job has 2");
  expect_refused("dp=2,tp=2", 8, "needs 4 ranks, the job has 8");
  expect_refused("dp=2,tp", 3, "needs a multiple of 2 ranks, the job has 3");
  expect_refused("dp,mb=2", 2, "mb= goes with pp");
  expect_refused("pp,mb", 2, "mb needs one size");
  expect_refused(",", 2, "no axis");
  expect_refused("mb=2", 2, "no axis");
  expect_refused("=2", 2, "bad axis");
  expect_refused("dp=2,,tp=2,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 4, "bad axis");

  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
