#include "engine/parallel/mesh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

/* One item "name" or "name=size" of the spec into the right axis; size 0
 * means "the rest". */
static int parse_item(const char *item, duet_mesh_spec *s, int *data_n, int *model_n, int *seen_data, int *seen_model) {
  char name[16];
  const char *eq = strchr(item, '=');
  size_t len = eq ? (size_t)(eq - item) : strlen(item);
  if (len == 0 || len >= sizeof name) return duet_error(DUET_EINVAL, "--parallel: bad axis \"%s\"", item);
  memcpy(name, item, len);
  name[len] = 0;
  long size = 0;
  if (eq) {
    char *end;
    size = strtol(eq + 1, &end, 10);
    if (end == eq + 1 || *end || size < 1 || size > 1 << 20)
      return duet_error(DUET_EINVAL, "--parallel: %s needs a positive size (got \"%s\")", name, eq + 1);
  }
  if (!strcmp(name, "mb")) {
    if (!eq || s->micro) return duet_error(DUET_EINVAL, "--parallel: mb needs one size (micro-batches)");
    s->micro = (int)size;
    return DUET_OK;
  }
  int is_data = !strcmp(name, "dp") || !strcmp(name, "fsdp");
  if (!is_data && strcmp(name, "tp") != 0 && strcmp(name, "pp") != 0)
    return duet_error(DUET_EINVAL, "--parallel: unknown axis \"%s\" (dp, fsdp, tp or pp)", name);
  int *seen = is_data ? seen_data : seen_model;
  if (*seen) return duet_error(DUET_EINVAL, "--parallel: more than one %s axis (\"%s\")", is_data ? "data" : "model", name);
  *seen = 1;
  if (is_data) s->fsdp = name[0] == 'f', *data_n = (int)size;
  else s->tp = name[0] == 't', s->pp = name[0] == 'p', *model_n = (int)size;
  return DUET_OK;
}

int duet_mesh_spec_parse(const char *spec, int world, duet_mesh_spec *out) {
  memset(out, 0, sizeof *out);
  if (!spec || !*spec) return duet_error(DUET_EINVAL, "--parallel needs a mode: dp, fsdp, tp or a mesh like dp=2,tp=2");
  if (world < 1) return duet_error(DUET_EINVAL, "--parallel: %d ranks", world);
  char buf[128];
  if (strlen(spec) >= sizeof buf) return duet_error(DUET_EINVAL, "--parallel: spec too long");
  snprintf(buf, sizeof buf, "%s", spec);
  int data_n = 1, model_n = 1, seen_data = 0, seen_model = 0, rc;
  char *save = NULL;
  for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save))
    if ((rc = parse_item(item, out, &data_n, &model_n, &seen_data, &seen_model)) < 0) return rc;
  if (!seen_data && !seen_model) return duet_error(DUET_EINVAL, "--parallel %s: no axis (dp, fsdp, tp or pp)", spec);
  if (out->micro && !out->pp) return duet_error(DUET_EINVAL, "--parallel %s: mb= goes with pp", spec);
  if (data_n == 0 && model_n == 0)
    return duet_error(DUET_EINVAL, "--parallel %s: give a size to all axes but one", spec);
  int fixed = (data_n ? data_n : 1) * (model_n ? model_n : 1), open = data_n == 0 || model_n == 0;
  if (open && world % fixed != 0)
    return duet_error(DUET_EINVAL, "--parallel %s needs a multiple of %d ranks, the job has %d", spec, fixed, world);
  if (data_n == 0) data_n = world / fixed;
  if (model_n == 0) model_n = world / fixed;
  if (data_n * model_n != world)
    return duet_error(DUET_EINVAL, "--parallel %s needs %d ranks, the job has %d (mpirun -np %d)", spec,
                      data_n * model_n, world, data_n * model_n);
  out->data = data_n;
  out->model = model_n;
  return DUET_OK;
}

static int mpi_fail(int rc, const char *what) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return duet_error(DUET_EIO, "mesh: %s: %s", what, msg);
}

int duet_mesh_create(const duet_mesh_spec *spec_in, duet_mesh *m) {
  duet_mesh_spec s = *spec_in; /* spec_in may be m->spec */
  const duet_mesh_spec *spec = &s;
  memset(m, 0, sizeof *m);
  m->spec = s;
  m->cart = m->data_comm = m->model_comm = MPI_COMM_NULL;
  MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &m->size);
  if (spec->data * spec->model != m->size)
    return duet_error(DUET_EINVAL, "mesh %d x %d does not match %d ranks", spec->data, spec->model, m->size);
  int dims[2] = {spec->data, spec->model}, periods[2] = {0, 0}, rc;
  /* no reorder: world rank 0 stays at (0, 0), the rank that writes */
  if ((rc = MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &m->cart)) != MPI_SUCCESS)
    return mpi_fail(rc, "MPI_Cart_create");
  int coords[2], keep_data[2] = {1, 0}, keep_model[2] = {0, 1};
  MPI_Cart_coords(m->cart, m->rank, 2, coords);
  m->data_rank = coords[0];
  m->model_rank = coords[1];
  if ((rc = MPI_Cart_sub(m->cart, keep_data, &m->data_comm)) != MPI_SUCCESS) return mpi_fail(rc, "MPI_Cart_sub");
  if ((rc = MPI_Cart_sub(m->cart, keep_model, &m->model_comm)) != MPI_SUCCESS) return mpi_fail(rc, "MPI_Cart_sub");
  return DUET_OK;
}

void duet_mesh_free(duet_mesh *m) {
  if (m->data_comm != MPI_COMM_NULL) MPI_Comm_free(&m->data_comm);
  if (m->model_comm != MPI_COMM_NULL) MPI_Comm_free(&m->model_comm);
  if (m->cart != MPI_COMM_NULL) MPI_Comm_free(&m->cart);
}
