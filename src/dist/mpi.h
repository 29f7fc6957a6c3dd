// Internal: the MPI side of dist. Only src/dist/mpi.cpp includes <mpi.h>; without MPI in the
// build these functions report that MPI is absent and world() stays the local stub.
#pragma once
#include <memory>

#include "descent/dist.h"

namespace descent::dist::detail {

/// True when this process was started by an MPI launcher (mpirun, mpiexec, srun).
bool launched_by_mpi();
/// How many processes the launcher started (from its environment; 0 when it does not say).
int launcher_world_size();
/// MPI_Init_thread (funneled) and an exit handler that finalizes; false without MPI in the build.
bool init_mpi(int& argc, char**& argv);
/// A communicator over MPI_COMM_WORLD; init_mpi must have succeeded.
std::unique_ptr<Communicator> make_mpi_world();

}  // namespace descent::dist::detail
