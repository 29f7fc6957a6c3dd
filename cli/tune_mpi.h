// cli/tune_mpi.h — `mpirun -n P descent tune ...`: every rank runs trials, rank 0 coordinates.
//
// Rank 0 runs the study as usual (sampler, pruner, SQLite, reports) with a launcher that places
// each new trial on the rank with the most free slots, itself included. The other ranks serve:
// they start the trials they are sent as local child processes and send back the lines the
// trial writes (metrics.jsonl or its standard output), its exit status and its last error line.
// So the study database lives on rank 0 only, and trial folders need no shared filesystem; the
// base config and the data must be readable at the same paths on every rank, as for
// `mpirun descent train`.
//
// The messages travel in ticks made of collectives only (every rank calls the same sequence):
// a sleep-polled barrier, then an allgather of message sizes, a broadcast from each rank with
// news, and rank 0's broadcast of commands (start, signal, quit). hpo knows nothing of MPI;
// this file is the bridge between hpo::Launcher and dist::Communicator.
#pragma once
#include <memory>

#include "descent/dist.h"
#include "descent/hpo.h"

namespace descent::cli {

/// Rank 0's launcher: `jobs_per_rank` trials at once on each of the communicator's ranks; one
/// tick per call of sync() (the driver's poll interval sets the pace). Its destructor tells the
/// other ranks to stop (killing what they still run).
std::unique_ptr<hpo::Launcher> mpi_launcher(dist::Communicator& comm, int jobs_per_rank);

/// Ranks other than 0: run the trials rank 0 sends, one tick every `tick_seconds`, until it
/// says quit.
void serve_trials(dist::Communicator& comm, double tick_seconds);

}  // namespace descent::cli
