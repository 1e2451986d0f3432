// The fuzz targets: each takes arbitrary bytes, hands them to one of the parsers that read files or
// command lines from users, and checks properties that must hold for every input. They are shared
// by the libFuzzer programs (programs/fuzz_main.cpp), the seed writer (programs/fuzz_seeds.cpp)
// and the main suite's replay of kept crash inputs (regression_test.cpp).
//
// Contract of a target's `run`: returns true when the parser accepted the input and false when it
// rejected it with dybat::Error (or, for the command line, a CLI exit). Any other exception, and
// any broken property (thrown as PropertyFailure), escapes: under libFuzzer that is a crash, in
// the test suite a failure. Memory errors and undefined behaviour are the sanitizers' to catch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.h"

namespace dybat::fuzz {

using Bytes = std::vector<uint8_t>;

// A property of a target that does not hold for some input.
struct PropertyFailure : std::logic_error {
  using std::logic_error::logic_error;
};

#define DYBAT_FUZZ_CHECK(cond, ...)                                                                  \
  do {                                                                                               \
    if (!(cond))                                                                                     \
      throw ::dybat::fuzz::PropertyFailure(::dybat::detail::cat("fuzz property failed: " #cond ": ", \
                                                                ##__VA_ARGS__));                     \
  } while (0)

struct Target {
  const char* name;
  bool (*run)(const uint8_t* data, size_t size);
  std::vector<Bytes> (*seeds)();  // small valid inputs (and a few near misses) to start from
};

const std::vector<Target>& targets();
const Target* find_target(const std::string& name);

// Several files in one input: for each file in turn a little-endian uint32 length L, then L bytes
// (cut short at the end of the input). L = 0xffffffff marks the file as absent, and so does the
// end of the input.
std::vector<std::optional<Bytes>> split_files(const uint8_t* data, size_t size, size_t count);
Bytes join_files(const std::vector<std::optional<Bytes>>& files);

// A folder private to this process (under /dev/shm when it exists, for speed), removed at exit.
const std::string& scratch_dir();
// Writes `bytes` to scratch_dir()/rel (creating folders); nullopt removes the file instead.
void put_scratch_file(const std::string& rel, const std::optional<Bytes>& bytes);

// The targets (see targets.cpp for the table).
bool run_safetensors(const uint8_t* data, size_t size);
std::vector<Bytes> seeds_safetensors();
bool run_cifar10(const uint8_t* data, size_t size);
std::vector<Bytes> seeds_cifar10();
bool run_cifar100(const uint8_t* data, size_t size);
std::vector<Bytes> seeds_cifar100();
bool run_stl10(const uint8_t* data, size_t size);
std::vector<Bytes> seeds_stl10();
bool run_image(const uint8_t* data, size_t size);
std::vector<Bytes> seeds_image();
bool run_cli(const uint8_t* data, size_t size);
std::vector<Bytes> seeds_cli();
bool run_cache(const uint8_t* data, size_t size);
std::vector<Bytes> seeds_cache();

}  // namespace dybat::fuzz
