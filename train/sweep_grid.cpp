// A sweep's grid: presets, list parsing, validation through train's parser, names, sweep.json
// (see sweep_grid.h).
#include "train/sweep_grid.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/device.h"
#include "core/error.h"
#include "nets/registry.h"
#include "train/files.h"

namespace dybat {

namespace {

struct Preset {
  const char* name;
  std::vector<std::pair<const char*, const char*>> flags;  // train flags, applied where not given
  std::vector<const char*> nets;                           // default --nets
  const char* deltas;  // default --delta; "paper" = 1 and the paper's delta of each net
  const char* seeds;   // default --seeds
};

// quick: MobileNetV3-Small at 32 px on a subset, a few epochs (minutes on a CPU).
// paper: the paper's settings, every net with the delta the paper reports and the delta 1 baseline.
const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = {
      {"quick",
       {{"crop", "32"}, {"batch-size", "64"}, {"train-limit", "2048"}, {"test-limit", "1024"}, {"epochs", "4"}},
       {"mobilenetv3_small_100"},
       "1,0.5",
       "0,1"},
      {"paper",
       {{"crop", "128"}, {"batch-size", "512"}, {"lr", "0.005"}, {"epochs", "100"}},
       {"resnet18", "resnet50", "efficientnet_b4", "efficientnetv2_s", "mobilenetv3_small_100"},
       "paper",
       "0"},
  };
  return p;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// The items of a comma list; an empty list or item, or an item given twice, names the flag.
std::vector<std::string> split_list(const char* flag, const std::string& text) {
  DYBAT_CHECK(!trim(text).empty(), flag, ": the list is empty; give one or more values separated by commas");
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string item = trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    DYBAT_CHECK(!item.empty(), flag, ": an empty item in '", text, "'");
    items.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

template <class T>
void check_unique(const char* flag, const std::vector<T>& v, const std::vector<std::string>& text) {
  for (size_t i = 0; i < v.size(); ++i)
    for (size_t j = 0; j < i; ++j) DYBAT_CHECK(!(v[i] == v[j]), flag, ": '", text[i], "' is given twice");
}

double parse_delta(const std::string& s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  DYBAT_CHECK(ec == std::errc() && end == s.data() + s.size() && std::isfinite(v), "--delta: '", s,
              "' is not a number");
  DYBAT_CHECK(v > 0 && v <= 1, "--delta: ", s, " is outside (0, 1]");
  return v;
}

uint64_t parse_seed(const std::string& s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  DYBAT_CHECK(ec == std::errc() && end == s.data() + s.size(), "--seeds: '", s,
              "' is not a seed (a whole number from 0 to 18446744073709551615)");
  return v;
}

// The flags the sweep sets for each run itself, and what to use instead.
const std::map<std::string, const char*>& owned_flags() {
  static const std::map<std::string, const char*> m = {
      {"net", "use --nets"},
      {"seed", "use --seeds"},
      {"delta", "use --delta (a list)"},
      {"select", "use --select"},
      {"out", "use --out (the sweep folder)"},
      {"resume", "the sweep resumes its runs itself: run the same sweep command again"}};
  return m;
}

ParsedArgs parse_or_throw(const std::vector<std::string>& args, const std::string& what) {
  try {
    return parse_train_args(args);
  } catch (const CliExit& e) {
    DYBAT_FAIL(what, ": ", e.code == 0 ? std::string("--help is not a run flag") : e.text);
  }
}

// Parses and validates one cell's arguments as train would, with its run folder as --out.
TrainConfig cell_config(const std::vector<std::string>& args, const std::string& dir, const std::string& name) {
  std::vector<std::string> with_out = args;
  with_out.insert(with_out.end(), {"--out", dir});
  TrainConfig c = parse_or_throw(with_out, "run " + name).config;
  try {
    validate_config(c);
  } catch (const Error& e) {
    DYBAT_FAIL("run ", name, ": ", e.message());
  }
  return c;
}

// The sweep's train flags without the method settings that do not apply to `method` (--keep
// goes to sample-topk runs only, --zeta to dybat and random runs, ...).
std::vector<std::string> flags_for(const std::vector<std::string>& train_args, const std::string& method) {
  const std::vector<std::string> spelled = rewrite_single_dash(train_args);
  std::vector<std::string> out;
  for (size_t i = 0; i < spelled.size(); ++i) {
    const std::string& t = spelled[i];
    if (t.rfind("--", 0) == 0) {
      const size_t eq = t.find('=');
      const std::string name = t.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (!select_flag_applies(name, method)) {
        if (eq == std::string::npos) ++i;  // and its value
        continue;
      }
    }
    out.push_back(train_args[i]);
  }
  return out;
}

std::vector<std::string> cell_args(const std::vector<std::string>& train_args, const SweepCell& c) {
  std::vector<std::string> a = flags_for(train_args, c.select);
  a.insert(a.end(),
           {"--net", c.net, "--select", c.select, "--delta", exact_number(c.delta), "--seed", std::to_string(c.seed)});
  return a;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> n;
  for (const Preset& p : presets()) n.push_back(p.name);
  return n;
}

double paper_delta(const std::string& net) {
  static const std::map<std::string, double> d = {{"resnet18", 0.5},
                                                  {"resnet50", 0.5},
                                                  {"efficientnet_b4", 0.8},
                                                  {"efficientnetv2_s", 0.8},
                                                  {"mobilenetv3_small_100", 0.2}};
  auto it = d.find(canonical_net_name(net));
  return it == d.end() ? 0.0 : it->second;
}

std::string exact_number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

std::string cell_name(const std::string& net, const std::string& select, double delta, uint64_t seed) {
  return net + "-" + select + "-d" + exact_number(delta) + "-s" + std::to_string(seed);
}

std::string cell_dir(const std::string& out, const SweepCell& cell) {
  return (std::filesystem::path(out) / "runs" / cell.name).string();
}

SweepGrid make_grid(const SweepSpec& spec) {
  const Preset* preset = nullptr;
  if (!spec.preset.empty()) {
    for (const Preset& p : presets())
      if (spec.preset == p.name) preset = &p;
    DYBAT_CHECK(preset, "--preset: unknown preset '", spec.preset, "'; choose one of: ", join(preset_names()));
  }
  DYBAT_CHECK(!spec.out.empty(), "--out: no sweep folder given (e.g. --out sweeps/resnet18)");
  SweepGrid g;
  g.out = spec.out;

  // Train flags: the given ones must parse, and must not be ones the sweep sets per run.
  ParsedArgs given = parse_or_throw(spec.train_args, "train flags");
  for (const std::string& name : given.given) {
    auto it = owned_flags().find(name);
    DYBAT_CHECK(it == owned_flags().end(), "--", name, ": the sweep sets it for each run; ", it->second);
  }
  if (preset)
    for (auto [flag, value] : preset->flags)
      if (!given.has(flag)) g.train_args.insert(g.train_args.end(), {std::string("--") + flag, value});
  g.train_args.insert(g.train_args.end(), spec.train_args.begin(), spec.train_args.end());

  if (!spec.devices.empty()) {
    DYBAT_CHECK(!given.has("device"), "--device and --devices: give one of them (--devices runs one run per device)");
    for (const std::string& d : split_list("--devices", spec.devices)) {
      try {
        Device::parse(d);
      } catch (const Error& e) {
        DYBAT_FAIL("--devices: ", e.message());
      }
      g.devices.push_back(d);
    }
  }

  std::string nets_text = spec.nets;
  if (nets_text.empty() && preset)
    for (const char* n : preset->nets) nets_text += (nets_text.empty() ? "" : ",") + std::string(n);
  DYBAT_CHECK(!nets_text.empty(), "--nets is required (e.g. --nets resnet18,mobilenetv3_small_100) unless --preset ",
              "gives it");
  std::vector<std::string> nets_given = split_list("--nets", nets_text), nets;
  for (const std::string& n : nets_given) {
    std::string c = canonical_net_name(n);
    DYBAT_CHECK(!c.empty(), "--nets: unknown net '", n, "'; choose from: ", join(net_names()));
    nets.push_back(c);
  }
  check_unique("--nets", nets, nets_given);

  std::vector<std::string> selects = split_list("--select", spec.selects.empty() ? "dybat" : spec.selects);
  for (const std::string& s : selects)
    DYBAT_CHECK(is_select_method(s), "--select: unknown method '", s, "'; choose from: ", join(select_method_names()));
  check_unique("--select", selects, selects);

  std::vector<std::string> seeds_text = split_list("--seeds", !spec.seeds.empty() ? spec.seeds
                                                              : preset            ? preset->seeds
                                                                                  : "0");
  std::vector<uint64_t> seeds;
  for (const std::string& s : seeds_text) seeds.push_back(parse_seed(s));
  check_unique("--seeds", seeds, seeds_text);

  std::string deltas_text = !spec.deltas.empty() ? spec.deltas : preset ? preset->deltas : "";
  DYBAT_CHECK(!deltas_text.empty(), "--delta is required (e.g. --delta 1,0.5) unless --preset gives it");
  for (const std::string& net : nets) {
    std::vector<std::string> dt = deltas_text == std::string("paper")
                                      ? std::vector<std::string>{"1", exact_number(paper_delta(net))}
                                      : split_list("--delta", deltas_text);
    std::vector<double> deltas;
    for (const std::string& d : dt) deltas.push_back(parse_delta(d));
    check_unique("--delta", deltas, dt);
    // Methods that choose samples train with delta 1 whatever the list; random at delta 1 trains
    // every batch of every pass, which is dybat's delta 1 baseline step for step: not run twice.
    for (const std::string& select : selects) {
      bool any = !select_uses_delta(select) || select != "random";
      for (double delta : deltas) any = any || delta < 1.0;
      DYBAT_CHECK(any, "--select random needs a --delta below 1 (at delta 1 it trains every batch in order: ",
                  "the dybat delta 1 baseline)");
    }
    for (uint64_t seed : seeds)
      for (const std::string& select : selects)
        for (double delta : select_uses_delta(select) ? deltas : std::vector<double>{1.0}) {
          if (select == "random" && delta == 1.0) continue;
          SweepCell c;
          c.net = net;
          c.select = select;
          c.delta = delta;
          c.seed = seed;
          c.name = cell_name(net, select, delta, seed);
          c.args = cell_args(g.train_args, c);
          c.config = cell_config(c.args, cell_dir(g.out, c), c.name);
          g.cells.push_back(std::move(c));
        }
  }
  return g;
}

nlohmann::json grid_to_json(const SweepGrid& g, const std::string& command) {
  nlohmann::json j;
  j["command"] = command;
  j["version"] = kDybatVersion;
  j["train_args"] = g.train_args;
  j["devices"] = g.devices;
  j["cells"] = nlohmann::json::array();
  for (const SweepCell& c : g.cells)
    j["cells"].push_back({{"name", c.name},
                          {"net", c.net},
                          {"select", c.select},
                          {"delta", c.delta},
                          {"seed", c.seed},
                          {"args", c.args}});
  return j;
}

SweepGrid read_grid(const std::string& out, std::string* command) {
  const std::string path = (std::filesystem::path(out) / "sweep.json").string();
  DYBAT_CHECK(file_exists(path), "'", out, "' is not a sweep folder: no sweep.json");
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  DYBAT_CHECK(!j.is_discarded() && j.is_object() && j.contains("cells"), "'", path, "' is not a sweep state file");
  SweepGrid g;
  g.out = out;
  try {
    g.train_args = j.value("train_args", std::vector<std::string>{});
    g.devices = j.value("devices", std::vector<std::string>{});
    if (command) *command = j.value("command", "");
    for (const auto& e : j.at("cells")) {
      SweepCell c;
      c.name = e.at("name").get<std::string>();
      c.net = e.at("net").get<std::string>();
      c.select = e.at("select").get<std::string>();
      c.delta = e.at("delta").get<double>();
      c.seed = e.at("seed").get<uint64_t>();
      c.args = e.at("args").get<std::vector<std::string>>();
      c.config = cell_config(c.args, cell_dir(out, c), c.name);
      g.cells.push_back(std::move(c));
    }
  } catch (const nlohmann::json::exception& e) {
    DYBAT_FAIL("'", path, "': ", e.what());
  }
  return g;
}

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string temp = write_temp(path + "." + std::to_string(::getpid()), text.data(), text.size());
  commit_temp(temp, path);
}

RankShare rank_from_env() {
  auto read = [](const char* name, int fallback) {
    const char* v = std::getenv(name);
    if (!v || !*v) return fallback;
    int x = -1;
    auto [end, ec] = std::from_chars(v, v + std::char_traits<char>::length(v), x);
    DYBAT_CHECK(ec == std::errc() && *end == '\0' && x >= 0, name, "='", v, "' is not a rank number");
    return x;
  };
  RankShare r;
  r.rank = read("OMPI_COMM_WORLD_RANK", 0);
  r.size = read("OMPI_COMM_WORLD_SIZE", 1);
  r.local_rank = read("OMPI_COMM_WORLD_LOCAL_RANK", r.rank);
  DYBAT_CHECK(r.size >= 1 && r.rank < r.size, "OMPI_COMM_WORLD_RANK=", r.rank,
              " is not below OMPI_COMM_WORLD_SIZE=", r.size);
  return r;
}

std::vector<size_t> share_of(size_t cells, const RankShare& r) {
  std::vector<size_t> mine;
  for (size_t i = static_cast<size_t>(r.rank); i < cells; i += static_cast<size_t>(r.size)) mine.push_back(i);
  return mine;
}

}  // namespace dybat
