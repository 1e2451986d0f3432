// libdybat_nccl.so: the NCCL side of data-parallel training behind the C interface of
// dist_plugin.h. Loaded by train/dist_plugins.cpp only when a run's device is a GPU and it runs
// under mpirun (or a test builds a one-process NCCL communicator).
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>

#include "train/plugins/dist_plugin.h"

namespace {

ncclDataType_t type_of(int dtype) {
  switch (dtype) {
    case DYBAT_DIST_F32:
      return ncclFloat32;
    case DYBAT_DIST_F64:
      return ncclFloat64;
    case DYBAT_DIST_I64:
      return ncclInt64;
    default:
      return ncclUint8;
  }
}

int bytes_of(int dtype) { return dtype == DYBAT_DIST_F32 ? 4 : dtype == DYBAT_DIST_U8 ? 1 : 8; }

ncclComm_t comm_of(void* c) { return static_cast<ncclComm_t>(c); }
cudaStream_t stream_of(void* s) { return static_cast<cudaStream_t>(s); }

int unique_id(void* out) {
  ncclUniqueId id;
  ncclResult_t r = ncclGetUniqueId(&id);
  if (r == ncclSuccess) std::memcpy(out, &id, sizeof id);
  return r;
}

int init(void** comm, int nranks, const void* id_bytes, int rank) {
  ncclUniqueId id;
  std::memcpy(&id, id_bytes, sizeof id);
  ncclComm_t c = nullptr;
  ncclResult_t r = ncclCommInitRank(&c, nranks, id, rank);
  *comm = c;
  return r;
}

int all_reduce_sum(void* comm, void* buf, int64_t count, int dtype, void* stream) {
  return ncclAllReduce(buf, buf, static_cast<size_t>(count), type_of(dtype), ncclSum, comm_of(comm), stream_of(stream));
}

int all_gather(void* comm, void* buf, int64_t count_per_rank, int dtype, int rank, void* stream) {
  // In place: this rank's part already sits at rank * count in the receive buffer.
  const char* send = static_cast<const char*>(buf) + static_cast<int64_t>(rank) * count_per_rank * bytes_of(dtype);
  return ncclAllGather(send, buf, static_cast<size_t>(count_per_rank), type_of(dtype), comm_of(comm),
                       stream_of(stream));
}

int broadcast(void* comm, void* buf, int64_t bytes, int root, void* stream) {
  return ncclBroadcast(buf, buf, static_cast<size_t>(bytes), ncclUint8, root, comm_of(comm), stream_of(stream));
}

int async_error(void* comm, int* error) {
  ncclResult_t e = ncclSuccess;
  ncclResult_t r = ncclCommGetAsyncError(comm_of(comm), &e);
  *error = e;
  return r;
}

int abort_comm(void* comm) { return ncclCommAbort(comm_of(comm)); }
int destroy(void* comm) { return ncclCommDestroy(comm_of(comm)); }
const char* error_text(int code) { return ncclGetErrorString(static_cast<ncclResult_t>(code)); }

const DybatNcclApi kApi = {DYBAT_DIST_PLUGIN_VERSION,
                           NCCL_UNIQUE_ID_BYTES,
                           unique_id,
                           init,
                           all_reduce_sum,
                           all_gather,
                           broadcast,
                           async_error,
                           abort_comm,
                           destroy,
                           error_text};

}  // namespace

extern "C" const DybatNcclApi* dybat_nccl_api(void) { return &kApi; }
