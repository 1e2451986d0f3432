// The C interface between the training library and its two communication plugins,
// libdybat_mpi.so (Open MPI) and libdybat_nccl.so (NCCL). The plugins are loaded with dlopen
// only when a run is launched by mpirun (train/dist.h), so a plain one-process run neither needs
// nor loads MPI or NCCL at run time. Plain C types only: the plugins link nothing of dybat.
//
// Every function returns 0 on success or the library's error code; error_text turns a code into
// a message. Counts are elements; buffers are reduced in place. dtype is one of DybatDistDType.
#pragma once

#include <stdint.h>

#define DYBAT_DIST_PLUGIN_VERSION 1

enum DybatDistDType { DYBAT_DIST_F32 = 0, DYBAT_DIST_F64 = 1, DYBAT_DIST_I64 = 2, DYBAT_DIST_U8 = 3 };

// MPI over MPI_COMM_WORLD and duplicates of it (communicator handles are small integers, 0 =
// the world). Errors are returned (MPI_ERRORS_RETURN), never fatal inside the plugin.
struct DybatMpiApi {
  int version;
  // MPI_Init_thread (MPI_THREAD_FUNNELED); rank and size in the world; local_rank among the
  // processes of this node (MPI_COMM_TYPE_SHARED).
  int (*init)(int* rank, int* size, int* local_rank);
  int (*dup)(int comm, int* out);
  int (*all_reduce_sum)(int comm, void* buf, int64_t count, int dtype);
  // A non-blocking all-reduce; *request identifies it for test and wait.
  int (*start_all_reduce_sum)(int comm, void* buf, int64_t count, int dtype, int* request);
  int (*test)(int request, int* done);  // progresses outstanding operations; *done = 1 once complete
  int (*wait)(int request);
  // buf holds size * count_per_rank elements; this rank's part (at rank * count_per_rank) is
  // sent, every other part received.
  int (*all_gather)(int comm, void* buf, int64_t count_per_rank, int dtype);
  int (*broadcast)(int comm, void* buf, int64_t bytes, int root);
  int (*barrier)(int comm);
  // MPI_Abort on the world: the runtime ends every process of the job with `code`.
  void (*abort)(int code);
  int (*finalize)(void);
  void (*error_text)(int code, char* out, int out_len);
};

// NCCL on CUDA buffers, queued on the given cudaStream_t (passed as void*).
struct DybatNcclApi {
  int version;
  int id_bytes;  // size of a unique id (NCCL_UNIQUE_ID_BYTES)
  int (*unique_id)(void* out);
  // On the current CUDA device (the caller sets it).
  int (*init)(void** comm, int nranks, const void* id, int rank);
  int (*all_reduce_sum)(void* comm, void* buf, int64_t count, int dtype, void* stream);
  int (*all_gather)(void* comm, void* buf, int64_t count_per_rank, int dtype, int rank, void* stream);
  int (*broadcast)(void* comm, void* buf, int64_t bytes, int root, void* stream);
  // ncclCommGetAsyncError: 0, or the error a communication failed with in the background.
  int (*async_error)(void* comm, int* error);
  int (*abort)(void* comm);
  int (*destroy)(void* comm);
  const char* (*error_text)(int code);
};

#ifdef __cplusplus
extern "C" {
#endif
const struct DybatMpiApi* dybat_mpi_api(void);
const struct DybatNcclApi* dybat_nccl_api(void);
#ifdef __cplusplus
}
#endif
