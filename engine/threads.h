#ifndef DUET_THREADS_H
#define DUET_THREADS_H

/* How the engine's OpenMP threads wait between parallel regions.
 *
 * libgomp's default is to spin for a long while (GOMP_SPINCOUNT 300000) at
 * every barrier. duet's processes share few cores with each other (prefill
 * and decode workers, the front end, other jobs): a thread spinning at a
 * barrier holds the very core that the thread it waits for needs, and a
 * forward pass with a hundred parallel regions per token slows down several
 * times. Never spinning (OMP_WAIT_POLICY=passive) is no cure either: every
 * region then wakes its threads through the kernel, measured at 135 us a
 * region on a loaded 2-core machine (3 us with a short spin), a third of a
 * decode step of the 110M model. A short spin (DUET_GOMP_SPINCOUNT) catches
 * the back-to-back regions of a forward pass and sleeps soon after.
 * libgomp reads its settings once, when it is loaded, so the only way for
 * a program to choose is to set the environment and re-execute.
 *
 * duet_threads_init(argv): call first thing in main(), before MPI_Init and
 * before starting threads. When neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT
 * is set, sets GOMP_SPINCOUNT=DUET_GOMP_SPINCOUNT and re-executes the
 * program with the same arguments (same pid); otherwise, or if that fails,
 * returns. Set OMP_WAIT_POLICY=active (spin) or passive to override. */
#define DUET_GOMP_SPINCOUNT "3000"
void duet_threads_init(char **argv);

/* "passive", "active", "GOMP_SPINCOUNT=N" or "default (spinning)": what
 * this process runs with. */
const char *duet_threads_wait_policy(void);

#endif
