#ifndef DUET_THREADS_H
#define DUET_THREADS_H

/* How the engine's OpenMP threads wait between parallel regions.
 *
 * libgomp's default is to spin for a while at every barrier. duet's
 * processes share few cores with each other (prefill and decode workers,
 * the front end, other jobs): a thread spinning at a barrier then holds the
 * very core that the thread it waits for needs, and a forward pass with a
 * hundred parallel regions per token slows down several times (measured on
 * a loaded 2-core machine: decode steps 2-3x slower than with passive
 * waiting). libgomp reads its settings once, when it is loaded, so the only
 * way for a program to choose is to set the environment and re-execute.
 *
 * duet_threads_init(argv): call first thing in main(), before MPI_Init and
 * before starting threads. When neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT
 * is set, sets OMP_WAIT_POLICY=passive and re-executes the program with the
 * same arguments (same pid); otherwise, or if that fails, returns. Set
 * OMP_WAIT_POLICY=active to benchmark an otherwise idle machine with
 * spinning threads. */
void duet_threads_init(char **argv);

/* "passive", "active" or "default (spinning)": what this process runs with. */
const char *duet_threads_wait_policy(void);

#endif
