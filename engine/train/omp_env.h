#ifndef DUET_TRAIN_OMP_ENV_H
#define DUET_TRAIN_OMP_ENV_H

/* OpenMP threads that have finished a parallel region spin for a while
 * (libgomp's default wait policy) waiting for the next one. In the trainer
 * every OpenMP loop is followed by an OpenBLAS sgemm whose own threads
 * then compete with the spinners for the same cores: on 2 cores a
 * training step measured 2-3x slower. The wait policy is read once when
 * libgomp loads, before main(), so a command that wants it passive sets
 * OMP_WAIT_POLICY=PASSIVE (unless the user chose one) and re-executes
 * itself. Returns only when it did not re-execute. */
void duet_omp_passive_reexec(char **argv);

#endif
