// Fault injection for the tests of the programs: the environment variables below are read by the
// train program at start-up, never by the library, and turned into the library's fault
// points (train/files.h, train/preflight.h). A build configured with -DDYBAT_FAULT_HOOKS=OFF (a
// packaged release) reads none of them.
//
//   DYBAT_FAULT_WRITE=<file name>[:<n>]  the n-th write (default the 1st) of any file with that
//                                        name fails, as a full disk would
//   DYBAT_FAULT_FREE_BYTES=<n>           the free space the preflight check sees, in bytes
//   DYBAT_FAULT_KILL_AT_STEP=<n>         train kills itself with SIGKILL right after step n
//                                        (a crash at a known point, for the resume tests)
//   DYBAT_FAULT_SWEEP_KILL=<run>:<step>  sweep: the run-th train it starts gets
//                                        DYBAT_FAULT_KILL_AT_STEP=<step>, then the sweep kills
//                                        itself too (a crash mid-grid)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "train/files.h"

namespace dybat::tools {

struct FaultPlan {
  int64_t kill_at_step = 0;  // 0: none
};

// Reads the variables above and installs the matching hooks; returns what the program itself
// must do (the kill step). Malformed values throw dybat::Error naming the variable.
FaultPlan install_faults_from_env();

struct SweepFaultPlan {
  size_t kill_run = 0;  // 0: none; else the run (from 1) this sweep process starts
  int64_t kill_at_step = 0;
};
// Reads DYBAT_FAULT_SWEEP_KILL (nothing in a DYBAT_FAULT_HOOKS=OFF build).
SweepFaultPlan sweep_faults_from_env();

// The hook DYBAT_FAULT_WRITE's value describes.
WriteFaultHook write_fault_from_spec(const std::string& spec);

}  // namespace dybat::tools
