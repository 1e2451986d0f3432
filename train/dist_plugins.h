// Loading the communication plugins (train/plugins/dist_plugin.h) with dlopen. Internal to the
// train/dist_* files.
#pragma once

#include "core/dtype.h"
#include "train/plugins/dist_plugin.h"

namespace dybat {

// The plugin's code for `t` (float32, float64 or int64; other dtypes throw, naming `op`).
int plugin_dtype(DType t, const char* op);

// The plugin's interface, loaded on first use (later calls return the same); throws naming the
// library, where it was looked for and how to get it.
const DybatMpiApi& mpi_plugin();
const DybatNcclApi& nccl_plugin();
// True once mpi_plugin() has loaded the MPI plugin.
bool mpi_plugin_loaded();

}  // namespace dybat
