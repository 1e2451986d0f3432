// dybat::Error and the helpers behind the check macros.
#include "core/error.h"

namespace dybat {

namespace {
std::string with_location(const std::string& what, const char* file, int line) {
  std::ostringstream s;
  s << what << " (" << file << ":" << line << ")";
  return s.str();
}
}  // namespace

Error::Error(const std::string& what, const char* file, int line)
    : std::runtime_error(with_location(what, file, line)), message_(what), file_(file), line_(line) {}

namespace detail {
void throw_error(const std::string& msg, const char* file, int line) { throw Error(msg, file, line); }
void no_cuda(const char* op) {
  throw_error(std::string(op) + ": tensor is on a CUDA device but this build has no CUDA backend "
              "(rebuild with -DDYBAT_CUDA=ON, or use --device cpu)", __FILE__, __LINE__);
}
}  // namespace detail

}  // namespace dybat
