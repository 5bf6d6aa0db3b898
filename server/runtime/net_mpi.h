#ifndef DUET_RUNTIME_NET_MPI_H
#define DUET_RUNTIME_NET_MPI_H

/* duet_net over proto/mpi_transport for the one role of an MPI rank. */

#include <mpi.h>

#include "proto/mpi_transport.h"
#include "server/runtime/net.h"

typedef struct duet_net_mpi duet_net_mpi;
int duet_net_mpi_new(MPI_Comm world, size_t max_kv_bytes, duet_net_mpi **out);
void duet_net_mpi_free(duet_net_mpi *n);
duet_net *duet_net_mpi_net(duet_net_mpi *n);
/* The role whose callbacks receive this rank's traffic. */
void duet_net_mpi_attach(duet_net_mpi *n, const duet_role *role);
int duet_net_mpi_progress(duet_net_mpi *n);
duet_mpi_transport *duet_net_mpi_transport(duet_net_mpi *n);

/* Tensor-parallel sum over a group communicator: a duet_forward_hooks
 * allreduce (ctx is a MPI_Comm *). */
void duet_net_mpi_allreduce(float *buf, size_t n, void *ctx);

#endif
