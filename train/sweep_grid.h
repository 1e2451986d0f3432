// A sweep: a grid of training runs (net x selection method x delta x seed) that share the rest of
// train's flags, its presets, its validation, and its state file.
//
// Every cell of the grid is an ordinary run of the train program in OUT/runs/<name>, named
// <net>-<method>-d<delta>-s<seed> (delta in its shortest exact decimal form, e.g. d0.5). A cell's
// arguments are the sweep's train flags (a preset's values first, for the flags not given) followed
// by --net, --select, --delta and --seed; make_grid parses every cell's argument list with train's
// own parser and checks it with train's validate_config, so a flag train would reject stops the
// sweep before anything runs.
//
// Methods: dybat and random take every delta of the list (random only those below 1: at delta 1
// it is dybat's delta 1 run); the methods that choose samples (sample-topk, selective-backprop,
// infobatch) get one cell per net and seed, at delta 1. A method's own settings (--keep, --beta,
// ...; config.h's kSelectFlags) go to the cells of that method only.
//
// OUT/sweep.json is the sweep's state: the command, the effective train flags and the cells. It is
// written atomically (a temporary file with a name of its own, then a rename), so several ranks of
// one sweep may write it at once. Which runs are finished is read from the run folders themselves
// (train/sweep_runs.h), never from this file.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/config.h"

namespace dybat {

// The sweep's command line, as given (lists are comma-separated text; "" = not given).
struct SweepSpec {
  std::string nets, selects, deltas, seeds;
  std::string preset;                   // "", quick or paper
  std::vector<std::string> train_args;  // every other flag, passed to each run
  std::string out;
  std::string devices;  // e.g. "cuda:0,cuda:1": one run per device at once
};

struct SweepCell {
  std::string net;  // canonical name
  std::string select;
  double delta = 1;
  uint64_t seed = 0;
  std::string name;               // run folder name under OUT/runs/
  std::vector<std::string> args;  // train's arguments for a fresh run, without --out and --device
  TrainConfig config;             // args (with --out) as train parses them
};

struct SweepGrid {
  std::string out;
  std::vector<std::string> train_args;  // effective: preset values, then the flags given
  std::vector<std::string> devices;     // empty: one run at a time on the device the flags say
  std::vector<SweepCell> cells;         // net-major, then seed, method, delta
};

// Preset names, and the paper's delta for a net (0 when the paper has none).
std::vector<std::string> preset_names();
double paper_delta(const std::string& net);

// Expands and validates the grid; throws dybat::Error naming the flag and the value at fault (an
// unknown net, method or preset, a delta outside (0, 1], an empty list or item, a malformed or
// repeated value, a flag the sweep sets itself, or a cell train would reject).
SweepGrid make_grid(const SweepSpec& spec);

// "resnet18-dybat-d0.5-s0"
std::string cell_name(const std::string& net, const std::string& select, double delta, uint64_t seed);
// OUT/runs/<name>
std::string cell_dir(const std::string& out, const SweepCell& cell);
// The shortest decimal text that reads back as exactly `v` ("0.5", "1", "0.30000000000000004").
std::string exact_number(double v);

// sweep.json: {"command", "version", "created", "train_args", "devices", "cells": [{"name",
// "net", "select", "delta", "seed", "args"}]}.
nlohmann::json grid_to_json(const SweepGrid& g, const std::string& command);
// Reads OUT/sweep.json back (the cells' configs parsed again); throws naming the file.
SweepGrid read_grid(const std::string& out, std::string* command = nullptr);

// Writes `text` to `path` atomically through a temporary file named after this process, so that
// writers in several processes never share a temporary.
void write_text_atomic(const std::string& path, const std::string& text);

// This process's rank among `size` (mpirun's OMPI_COMM_WORLD_RANK, _SIZE and _LOCAL_RANK; rank 0
// of 1 without them). Rank r takes the cells i with i % size == r.
struct RankShare {
  int rank = 0, size = 1, local_rank = 0;
};
RankShare rank_from_env();
std::vector<size_t> share_of(size_t cells, const RankShare& r);

}  // namespace dybat
