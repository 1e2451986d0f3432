// libdybat_mpi.so: the MPI side of data-parallel training behind the C interface of
// dist_plugin.h, on Open MPI. Loaded by train/dist_plugins.cpp only under mpirun.
// The C interface only (Open MPI's header would pull in its deprecated C++ bindings, which live in
// another library).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstring>
#include <vector>

#include "train/plugins/dist_plugin.h"

namespace {

std::vector<MPI_Comm> g_comms;        // handle -> communicator; 0 is the world
std::vector<MPI_Request> g_requests;  // handle -> request (MPI_REQUEST_NULL: free)

MPI_Datatype type_of(int dtype) {
  switch (dtype) {
    case DYBAT_DIST_F32:
      return MPI_FLOAT;
    case DYBAT_DIST_F64:
      return MPI_DOUBLE;
    case DYBAT_DIST_I64:
      return MPI_INT64_T;
    default:
      return MPI_UNSIGNED_CHAR;
  }
}

int bytes_of(int dtype) { return dtype == DYBAT_DIST_F32 ? 4 : dtype == DYBAT_DIST_U8 ? 1 : 8; }

bool valid(int comm) { return comm >= 0 && comm < static_cast<int>(g_comms.size()); }

// MPI counts are int: larger buffers go in pieces of at most INT_MAX elements.
template <class F>
int in_pieces(void* buf, int64_t count, int dtype, F&& f) {
  char* p = static_cast<char*>(buf);
  while (count > 0) {
    const int n = count > INT_MAX ? INT_MAX : static_cast<int>(count);
    if (int rc = f(p, n); rc != MPI_SUCCESS) return rc;
    p += static_cast<int64_t>(n) * bytes_of(dtype);
    count -= n;
  }
  return MPI_SUCCESS;
}

int init(int* rank, int* size, int* local_rank) {
  int provided = 0, rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) return rc;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  g_comms = {MPI_COMM_WORLD};
  if ((rc = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS) return rc;
  if ((rc = MPI_Comm_size(MPI_COMM_WORLD, size)) != MPI_SUCCESS) return rc;
  MPI_Comm node;
  if ((rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, *rank, MPI_INFO_NULL, &node)) != MPI_SUCCESS)
    return rc;
  rc = MPI_Comm_rank(node, local_rank);
  MPI_Comm_free(&node);
  return rc;
}

int dup(int comm, int* out) {
  if (!valid(comm)) return MPI_ERR_COMM;
  MPI_Comm c;
  if (int rc = MPI_Comm_dup(g_comms[comm], &c); rc != MPI_SUCCESS) return rc;
  MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
  g_comms.push_back(c);
  *out = static_cast<int>(g_comms.size()) - 1;
  return MPI_SUCCESS;
}

int all_reduce_sum(int comm, void* buf, int64_t count, int dtype) {
  if (!valid(comm)) return MPI_ERR_COMM;
  return in_pieces(buf, count, dtype, [&](char* p, int n) {
    return MPI_Allreduce(MPI_IN_PLACE, p, n, type_of(dtype), MPI_SUM, g_comms[comm]);
  });
}

int start_all_reduce_sum(int comm, void* buf, int64_t count, int dtype, int* request) {
  if (!valid(comm)) return MPI_ERR_COMM;
  if (count > INT_MAX) return MPI_ERR_COUNT;  // gradient buckets are far smaller
  size_t slot = 0;
  while (slot < g_requests.size() && g_requests[slot] != MPI_REQUEST_NULL) ++slot;
  if (slot == g_requests.size()) g_requests.push_back(MPI_REQUEST_NULL);
  int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, static_cast<int>(count), type_of(dtype), MPI_SUM, g_comms[comm],
                          &g_requests[slot]);
  *request = static_cast<int>(slot);
  return rc;
}

bool valid_request(int r) { return r >= 0 && r < static_cast<int>(g_requests.size()); }

int test(int request, int* done) {
  if (!valid_request(request)) return MPI_ERR_REQUEST;
  return MPI_Test(&g_requests[request], done, MPI_STATUS_IGNORE);  // a completed request becomes NULL
}

int wait(int request) {
  if (!valid_request(request)) return MPI_ERR_REQUEST;
  return MPI_Wait(&g_requests[request], MPI_STATUS_IGNORE);
}

int all_gather(int comm, void* buf, int64_t count_per_rank, int dtype) {
  if (!valid(comm)) return MPI_ERR_COMM;
  if (count_per_rank > INT_MAX) return MPI_ERR_COUNT;
  return MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, static_cast<int>(count_per_rank), type_of(dtype),
                       g_comms[comm]);
}

int broadcast(int comm, void* buf, int64_t bytes, int root) {
  if (!valid(comm)) return MPI_ERR_COMM;
  return in_pieces(buf, bytes, DYBAT_DIST_U8,
                   [&](char* p, int n) { return MPI_Bcast(p, n, MPI_UNSIGNED_CHAR, root, g_comms[comm]); });
}

int barrier(int comm) { return valid(comm) ? MPI_Barrier(g_comms[comm]) : MPI_ERR_COMM; }

void abort_job(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

int finalize() {
  for (size_t i = 1; i < g_comms.size(); ++i) MPI_Comm_free(&g_comms[i]);
  g_comms.clear();
  return MPI_Finalize();
}

void error_text(int code, char* out, int out_len) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  text[len < MPI_MAX_ERROR_STRING ? len : MPI_MAX_ERROR_STRING - 1] = '\0';
  if (out_len > 0) {
    std::strncpy(out, len > 0 ? text : "unknown MPI error", static_cast<size_t>(out_len) - 1);
    out[out_len - 1] = '\0';
  }
}

const DybatMpiApi kApi = {DYBAT_DIST_PLUGIN_VERSION,
                          init,
                          dup,
                          all_reduce_sum,
                          start_all_reduce_sum,
                          test,
                          wait,
                          all_gather,
                          broadcast,
                          barrier,
                          abort_job,
                          finalize,
                          error_text};

}  // namespace

extern "C" const DybatMpiApi* dybat_mpi_api(void) { return &kApi; }
