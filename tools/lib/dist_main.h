// The main guard of the programs that also run as the ranks of an mpirun job (train, eval):
// tools/tool_common.h's main_guard, made safe for many processes.
//
//   --help, command-line errors   printed by rank 0 (every rank has the same command line: the
//                                 programs check that first), every rank exits with the code
//   AgreedError (dist_launch.h)   an error every rank raised at the same point: rank 0 prints it,
//                                 every rank ends MPI and exits 2
//   any other error               this rank prints it, naming itself ("rank 1 of 2"), and aborts
//                                 the job (MPI_Abort with the exit code): the other ranks are
//                                 ended by mpirun instead of waiting for this one forever
// Without mpirun this is exactly main_guard.
#pragma once

#include <functional>

#include "train/dist_launch.h"

namespace dybat::tools {

int dist_main_guard(const char* name, const std::function<int(DistRun&)>& body);

}  // namespace dybat::tools
