// Where tests find their files. Each folder can be overridden at run time by an environment
// variable of the same name, so a test binary built on one machine runs from another checkout
// (the GPU machine gets a copy of the tree at a different path).
#pragma once

#include <string>

namespace dybat::test {

std::string test_data_dir();  // DYBAT_TEST_DATA: tests/fixtures
std::string shared_dir();     // DYBAT_SHARED_DIR: the read-only shared folder beside the checkout
std::string source_dir();     // DYBAT_SOURCE_DIR: the repository root
std::string binary_dir();     // DYBAT_BINARY_DIR: the build folder holding the programs

}  // namespace dybat::test
