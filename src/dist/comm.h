/* The communicator: the few collective operations that data-parallel training needs, over MPI
 * when the library is built with it (HLM_HAVE_MPI) and the process was started by a launcher
 * (mpirun, srun); otherwise a world of one process in which every collective is a copy.
 *
 * Invariants:
 * - Every rank calls the same collectives in the same order with the same counts (MPI's rule).
 * - Float reductions are sums in fp32 done by MPI; for a fixed world size and fixed counts
 *   Open MPI picks the same algorithm every time, so results repeat bit for bit, and every rank
 *   receives the same bits (each element is reduced once and then copied). Sums of doubles
 *   (hlm_comm_sum_f64: losses, squared norms) are all-gathered and added in rank order on every
 *   rank, so they are identical everywhere by construction.
 * - Nothing here exits on an input error. Every wait polls with a deadline
 *   (HLM_COMM_TIMEOUT_S, default 600 s): a collective that makes no progress for that long
 *   means a peer has died or hangs, and returns HLM_ERR_IO saying so. MPI errors are returned,
 *   not fatal (MPI_ERRORS_RETURN). hlm_comm_abort is the one call that ends the job: the
 *   command calls it after an error on any rank, because the other ranks would otherwise wait
 *   forever in their next collective.
 * - Bytes counted (hlm_comm_bytes): for each call, the bytes this rank must receive in a
 *   bandwidth-optimal algorithm (the ring of Patarasuk & Yuan 2009): all-reduce of S bytes
 *   2 (S - S/p), reduce-scatter and all-gather S - (this rank's piece). These are the volumes the
 *   ZeRO paper's analysis (Rajbhandari et al. 2020, section 7) uses, summed over the calls made.
 *
 * Rank and world size come from the launcher's environment: OMPI_COMM_WORLD_RANK/_SIZE (Open
 * MPI's mpirun), PMI_RANK/PMI_SIZE (MPICH's hydra, srun --mpi=pmi2), PMIX_RANK (srun --mpi=pmix)
 * with SLURM_STEP_NUM_TASKS, or SLURM_PROCID with SLURM_STEP_NUM_TASKS (srun; a batch script
 * itself is not a step, so a plain `hyperlm train` inside sbatch stays one process). MPI is
 * initialized only when one of them says the world has more than one process or when asked to
 * (force_mpi: --zero with one process), and its view must agree with the environment's. */
#ifndef HYPERLM_DIST_COMM_H
#define HYPERLM_DIST_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"

typedef struct hlm_comm hlm_comm;

/* 1 when built with MPI. */
int hlm_comm_have_mpi(void);
/* Creates the world: one process unless a launcher started several (see above). Errors: a
 * launcher started several processes but the library has no MPI, or MPI's world size differs
 * from the launcher's (srun without a PMI plugin that this MPI supports). */
hlm_status hlm_comm_init(int force_mpi, hlm_comm **out, hlm_error *err);
/* Finalizes MPI when it was initialized. */
void hlm_comm_free(hlm_comm *c);
int hlm_comm_rank(const hlm_comm *c);
int hlm_comm_size(const hlm_comm *c);
/* "mpirun", "srun" or "none": where the rank came from. */
const char *hlm_comm_launcher(const hlm_comm *c);

/* Non-blocking operations return a request number in *req; hlm_comm_wait completes one,
 * hlm_comm_progress lets pending ones advance (MPI progresses only inside its calls). Buffers
 * must stay untouched until the wait. */
/* buf (n floats) := sum over ranks of buf, in place. */
hlm_status hlm_comm_iallreduce(hlm_comm *c, float *buf, size_t n, int *req, hlm_error *err);
/* Rank i receives in recv[0 .. counts[i]) the sum over ranks of send[off_i .. off_i + counts[i]),
 * off_i = counts[0] + ... + counts[i-1]; counts may be 0. */
hlm_status hlm_comm_ireduce_scatter(hlm_comm *c, const float *send, float *recv, const size_t *counts, int *req,
                                    hlm_error *err);
hlm_status hlm_comm_wait(hlm_comm *c, int req, hlm_error *err);
hlm_status hlm_comm_progress(hlm_comm *c, hlm_error *err);

/* Blocking: in place, rank i's piece buf[displs[i] .. displs[i] + counts[i]) goes to every rank. */
hlm_status hlm_comm_allgatherv(hlm_comm *c, float *buf, const size_t *counts, const size_t *displs, hlm_error *err);
/* Blocking, bytes: in place, rank i's piece buf[displs[i] .. displs[i] + counts[i]) goes to every
 * rank. Done as one broadcast from each rank in turn, in pieces of at most 1 GiB, so counts and
 * displacements may exceed MPI's int counts (2^31 - 1); each rank receives the same bytes as in
 * a ring all-gather. */
hlm_status hlm_comm_allgatherv_bytes(hlm_comm *c, void *buf, const size_t *counts, const size_t *displs,
                                     hlm_error *err);
/* all[i] := rank i's value on every rank (all holds hlm_comm_size entries). */
hlm_status hlm_comm_allgather_u64(hlm_comm *c, uint64_t value, uint64_t *all, hlm_error *err);
/* Rank 0 receives every rank's piece (send, counts[rank] floats) at recv + displs[i]; recv is
 * used on rank 0 only. */
hlm_status hlm_comm_gatherv(hlm_comm *c, const float *send, float *recv, const size_t *counts, const size_t *displs,
                            hlm_error *err);
/* out[k] := sum over ranks of in[k], added in rank order on every rank (the same bits everywhere). */
hlm_status hlm_comm_sum_f64(hlm_comm *c, const double *in, double *out, int n, hlm_error *err);
hlm_status hlm_comm_barrier(hlm_comm *c, hlm_error *err);
/* *first_other := the lowest rank whose value differs from rank 0's, or -1 when all agree (the
 * same answer on every rank). */
hlm_status hlm_comm_compare_u64(hlm_comm *c, uint64_t value, int *first_other, hlm_error *err);

/* Bytes received by this rank in a bandwidth-optimal algorithm, summed over the float
 * collectives so far (the counter of the header comment), and seconds spent waiting in them. */
uint64_t hlm_comm_bytes(const hlm_comm *c);
double hlm_comm_wait_s(const hlm_comm *c);

/* Ends every process of the job with exit status code after printing msg (MPI_Abort); a world
 * of one process just returns. For the command, after a failure on one rank. */
void hlm_comm_abort(hlm_comm *c, int code, const char *msg);

#endif
