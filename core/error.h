// The one exception type of the library, and the check macros that raise it.
//
// A library function never exits: it throws dybat::Error with the failing condition or call as
// text, file:line, and a message (plus a hint where one helps the user). Tools catch it, print
// the message and exit with code 2 for bad input.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace dybat {

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, const char* file, int line);
  const std::string& message() const { return message_; }  // without the file:line suffix
  const char* file() const { return file_; }
  int line() const { return line_; }

 private:
  std::string message_;
  const char* file_;
  int line_;
};

namespace detail {
// Concatenates any streamable arguments into one string.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  return s.str();
}
[[noreturn]] void throw_error(const std::string& msg, const char* file, int line);
}  // namespace detail

}  // namespace dybat

// DYBAT_CHECK(cond, parts...): throw if cond is false; the message is the parts concatenated.
#define DYBAT_CHECK(cond, ...)                                                                 \
  do {                                                                                         \
    if (!(cond)) ::dybat::detail::throw_error(::dybat::detail::cat(__VA_ARGS__), __FILE__, __LINE__); \
  } while (0)

// DYBAT_FAIL(parts...): throw unconditionally.
#define DYBAT_FAIL(...) ::dybat::detail::throw_error(::dybat::detail::cat(__VA_ARGS__), __FILE__, __LINE__)
