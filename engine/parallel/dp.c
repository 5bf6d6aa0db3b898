#include "engine/parallel/dp.h"

#include <limits.h>

void duet_dp_allreduce_sum(float *buf, long n, void *comm) {
  MPI_Comm c = *(MPI_Comm *)comm;
  for (long off = 0; off < n; off += INT_MAX) {
    long k = n - off < INT_MAX ? n - off : INT_MAX;
    MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)k, MPI_FLOAT, MPI_SUM, c);
  }
}

void duet_dp_attach(duet_train_opts *o, MPI_Comm *comm) {
  MPI_Comm_rank(*comm, &o->dp_rank);
  MPI_Comm_size(*comm, &o->dp_size);
  o->allreduce_sum = duet_dp_allreduce_sum;
  o->allreduce_ctx = comm;
}
