// The trace of every selection method, pinned: the runs of tests/fixtures/traces/runs.txt, made
// with the train program, must write the trace.csv kept beside them (made by make_traces.sh).
// float32 runs compare byte for byte. float64 runs compare their batch ids exactly and each loss
// rounded to float32 against the kept one: their scores and trace hold doubles now (17 digits),
// while the kept traces were written when the scores were float32 (9 digits).
//
// The runs use one thread and OpenBLAS's Haswell kernels, so the arithmetic is the same on any
// x86-64 machine with AVX2.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/paths.h"
#include "support/run_util.h"
#include "support/train_util.h"
#include "train/files.h"

namespace {

struct FixtureRun {
  std::string name, args;
};

std::vector<FixtureRun> fixture_runs() {
  std::vector<FixtureRun> runs;
  std::istringstream in(dybat::read_file(dybat::test::test_data_dir() + "/traces/runs.txt"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.find(' ');
    runs.push_back({line.substr(0, space), line.substr(space + 1)});
  }
  return runs;
}

struct Row {
  std::string step, batch_id;
  double loss;
};

std::vector<Row> rows_of(const std::string& csv) {
  std::vector<Row> rows;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    Row r;
    std::string loss;
    std::getline(f, r.step, ',');
    std::getline(f, r.batch_id, ',');
    std::getline(f, loss);
    r.loss = std::strtod(loss.c_str(), nullptr);
    rows.push_back(r);
  }
  return rows;
}

}  // namespace

TEST(TraceFixtures, EveryMethodWritesItsKeptTrace) {
  const std::vector<FixtureRun> runs = fixture_runs();
  ASSERT_GE(runs.size(), 10u);
  const std::string dir = dybat::test::temp_dir("trace_fixtures");
  for (const FixtureRun& run : runs) {
    SCOPED_TRACE(run.name);
    const std::string out = dir + "/" + run.name;
    dybat::test::RunResult r = dybat::test::run_shell(
        "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell '" + dybat::test::program_path("train") +
        "' --net mobilenetv3_small_100 --dataset synthetic --device cpu --crop 32 --batch-size 16 --train-limit 96 "
        "--test-limit 32 --epochs 4 " +
        run.args + " --out " + out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string got = dybat::read_file(out + "/trace.csv");
    const std::string kept = dybat::read_file(dybat::test::test_data_dir() + "/traces/" + run.name + ".csv");
    if (run.args.find("float64") == std::string::npos) {
      EXPECT_EQ(got, kept) << "the float32 trace changed";
      continue;
    }
    const std::vector<Row> a = rows_of(got), b = rows_of(kept);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].step, b[i].step);
      EXPECT_EQ(a[i].batch_id, b[i].batch_id) << "step " << a[i].step;
      EXPECT_EQ(static_cast<float>(a[i].loss), static_cast<float>(b[i].loss)) << "step " << a[i].step;
    }
  }
  std::filesystem::remove_all(dir);
}
