// Image folders as torchvision's ImageFolder reads them (root/train/<class>/..., root/test/<class>/...):
// the class and file order, parallel decoding with the resize to the crop, and the decoded cache.
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>

#include "data/cache.h"
#include "data/io.h"
#include "data/readers.h"

namespace fs = std::filesystem;

namespace dybat {

namespace {

// Bumped whenever decoding or resizing could produce different pixels for the same files.
constexpr int64_t kFolderCacheVersion = 1;

struct FolderSplit {
  std::string dir;                   // root/train or root/test
  std::vector<std::string> classes;  // sorted names of the direct subfolders
  std::vector<std::string> files;    // paths relative to dir, in ImageFolder order
  std::vector<int64_t> labels;
  uint64_t key = 0;  // hash of every file's path, size, mtime and label, plus crop
};

// torchvision's IMG_EXTENSIONS, matched on the lowercased name.
bool has_image_extension(const std::string& name) {
  static const char* const exts[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};
  std::string low = name;
  std::transform(low.begin(), low.end(), low.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : exts) {
    std::string ext(e);
    if (low.size() >= ext.size() && low.compare(low.size() - ext.size(), ext.size(), ext) == 0) return true;
  }
  return false;
}

// Every folder under `dir` (itself included, as ""), following symbolic links like os.walk(followlinks=True);
// a link back to a folder on the current path is not entered again.
void collect_dirs(const fs::path& dir, const std::string& rel, std::set<fs::path>& path_stack,
                  std::vector<std::string>& out) {
  std::error_code ec;
  fs::path canon = fs::canonical(dir, ec);
  if (ec || path_stack.count(canon)) return;
  path_stack.insert(canon);
  out.push_back(rel);
  fs::directory_iterator it(dir, ec);
  DYBAT_CHECK(!ec, "cannot list folder ", dir.string(), ": ", ec.message());
  for (const auto& entry : it) {
    std::error_code e2;
    if (entry.is_directory(e2)) {
      std::string name = entry.path().filename().string();
      collect_dirs(entry.path(), rel.empty() ? name : rel + "/" + name, path_stack, out);
    }
  }
  path_stack.erase(canon);
}

FolderSplit scan_split(const std::string& root, const std::string& split, int crop) {
  FolderSplit s;
  s.dir = (fs::path(root) / split).string();
  DYBAT_CHECK(io::is_dir(s.dir), "image folder: missing ", split, " split: folder ", s.dir, " not found (expected ",
              root, "/train/<class>/<images> and ", root, "/test/<class>/<images>)");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(s.dir, ec)) {
    std::error_code e2;
    if (entry.is_directory(e2)) s.classes.push_back(entry.path().filename().string());
  }
  DYBAT_CHECK(!ec, "cannot list folder ", s.dir, ": ", ec.message());
  DYBAT_CHECK(!s.classes.empty(), "image folder: no class folders in ", s.dir, " (expected ", s.dir,
              "/<class>/<image files>)");
  // Python's string order is code-point order, which for UTF-8 names is byte order: std::string's.
  std::sort(s.classes.begin(), s.classes.end());
  io::Hasher key;
  key.str("dybat image folder");
  key.i64(kFolderCacheVersion);
  key.i64(crop);
  for (const std::string& c : s.classes) key.str(c);
  for (size_t label = 0; label < s.classes.size(); ++label) {
    const fs::path class_dir = fs::path(s.dir) / s.classes[label];
    std::vector<std::string> dirs;
    std::set<fs::path> stack;
    collect_dirs(class_dir, "", stack, dirs);
    std::sort(dirs.begin(), dirs.end());  // os.walk tuples sorted by their folder path
    const size_t before = s.files.size();
    for (const std::string& d : dirs) {
      const fs::path full = d.empty() ? class_dir : class_dir / d;
      std::vector<std::string> names;
      for (const auto& entry : fs::directory_iterator(full, ec)) {
        std::error_code e2;
        if (!entry.is_directory(e2) && has_image_extension(entry.path().filename().string()))
          names.push_back(entry.path().filename().string());
      }
      DYBAT_CHECK(!ec, "cannot list folder ", full.string(), ": ", ec.message());
      std::sort(names.begin(), names.end());
      for (const std::string& n : names) {
        std::string rel = s.classes[label] + "/" + (d.empty() ? n : d + "/" + n);
        const fs::path p = fs::path(s.dir) / rel;
        std::error_code e3;
        auto size = fs::file_size(p, e3);
        auto mtime = e3 ? fs::file_time_type{} : fs::last_write_time(p, e3);
        DYBAT_CHECK(!e3, "image folder: cannot read ", p.string(), ": ", e3.message());
        key.str(rel);
        key.i64(static_cast<int64_t>(size));
        key.i64(static_cast<int64_t>(mtime.time_since_epoch().count()));
        key.i64(static_cast<int64_t>(label));
        s.files.push_back(std::move(rel));
        s.labels.push_back(static_cast<int64_t>(label));
      }
    }
    DYBAT_CHECK(s.files.size() > before, "image folder: empty class folder ", class_dir.string(),
                ": no file ending in .jpg, .jpeg, .png, .ppm, .bmp, .pgm, .tif, .tiff or .webp (every class "
                "needs at least one image)");
  }
  s.key = key.value();
  return s;
}

// Decodes every file of the split into [N, 3, crop, crop], in parallel. Each image lands in its
// own slot, so the result does not depend on the thread count; the error reported is the one of
// the first failing file in order.
Split decode_split(const FolderSplit& s, int crop, int threads) {
  const int64_t n = static_cast<int64_t>(s.files.size());
  Split out;
  out.images = Tensor::empty({n, 3, crop, crop}, DType::UInt8);
  out.labels = Tensor::from_vector(s.labels, {n});
  uint8_t* images = out.images.data<uint8_t>();
  const int64_t stride = 3 * static_cast<int64_t>(crop) * crop;
  std::mutex mu;
  int64_t first_bad = n;
  std::string first_error;
  const int nthreads = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 32) num_threads(nthreads)
  for (int64_t i = 0; i < n; ++i) {
    try {
      decode_image_file(s.dir + "/" + s.files[i], crop, images + i * stride);
    } catch (const Error& e) {
      std::lock_guard<std::mutex> lock(mu);
      if (i < first_bad) {
        first_bad = i;
        first_error = e.message();
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mu);
      if (i < first_bad) {
        first_bad = i;
        first_error = "cannot decode image " + s.dir + "/" + s.files[i] + ": " + e.what();
      }
    }
  }
  DYBAT_CHECK(first_bad == n, "image folder: ", first_error);
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string fmt_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

// The split from its cache when one matches, else decoded and cached (next to the data when
// that folder is writable, else in the cache folder; neither is ever an error).
Split load_split(const FolderSplit& s, const std::string& split, const DataOptions& opt, const LogFn& log) {
  const std::string name = "dybat-" + split + "-c" + std::to_string(opt.crop) + ".cache";
  const std::string near = (fs::path(opt.root) / name).string();
  std::string far;
  const std::string cache_dir = opt.cache_dir.empty() ? default_cache_dir() : opt.cache_dir;
  if (!cache_dir.empty()) {
    std::error_code ec;
    fs::path canon = fs::weakly_canonical(fs::absolute(opt.root), ec);
    io::Hasher h;
    h.str(ec ? opt.root : canon.string());
    far = (fs::path(cache_dir) / (io::hex64(h.value()) + "-" + name)).string();
  }
  const int64_t num_classes = static_cast<int64_t>(s.classes.size());
  if (opt.use_cache) {
    for (const std::string& path : {near, far}) {
      if (path.empty()) continue;
      auto t0 = std::chrono::steady_clock::now();
      if (auto cached = cache_read(path, s.key, num_classes)) {
        if (cached->size() == static_cast<int64_t>(s.files.size()) && cached->images.size(2) == opt.crop) {
          if (log)
            log("image folder: " + split + ": read " + std::to_string(cached->size()) + " images from cache " + path +
                " in " + fmt_seconds(seconds_since(t0)));
          return *cached;
        }
      }
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  Split out = decode_split(s, opt.crop, opt.threads);
  if (log)
    log("image folder: " + split + ": decoded " + std::to_string(out.size()) + " images at " +
        std::to_string(opt.crop) + "x" + std::to_string(opt.crop) + " in " + fmt_seconds(seconds_since(t0)));
  if (!opt.use_cache) return out;
  t0 = std::chrono::steady_clock::now();
  std::string why_near, why_far;
  std::string written;
  if (io::dir_writable(opt.root) && cache_write(near, s.key, num_classes, out, &why_near)) {
    written = near;
  } else {
    if (why_near.empty()) why_near = opt.root + " is not writable";
    if (!far.empty()) {
      std::error_code ec;
      fs::create_directories(cache_dir, ec);
      if (!ec && cache_write(far, s.key, num_classes, out, &why_far)) written = far;
      if (ec) why_far = "cannot create " + cache_dir + ": " + ec.message();
    } else {
      why_far = "no cache folder (set --cache-dir or HOME)";
    }
  }
  if (log) {
    if (!written.empty())
      log("image folder: " + split + ": wrote cache " + written + " in " + fmt_seconds(seconds_since(t0)));
    else
      log("image folder: " + split + ": not cached (" + why_near + "; " + why_far + "); the next run decodes again");
  }
  return out;
}

}  // namespace

Dataset read_image_folder(const DataOptions& opt, const LogFn& log) {
  DYBAT_CHECK(io::is_dir(opt.root), "image folder: folder ", opt.root, " not found (expected ", opt.root,
              "/train/<class>/<images> and ", opt.root, "/test/<class>/<images>)");
  DYBAT_CHECK(opt.crop > 0, "image folder: crop must be positive, got ", opt.crop);
  FolderSplit train = scan_split(opt.root, "train", opt.crop);
  FolderSplit test = scan_split(opt.root, "test", opt.crop);
  if (train.classes != test.classes) {
    std::string a, b;
    for (const auto& c : train.classes) a += (a.empty() ? "" : ", ") + c;
    for (const auto& c : test.classes) b += (b.empty() ? "" : ", ") + c;
    DYBAT_FAIL("image folder: the class folders of ", train.dir, " [", a, "] and ", test.dir, " [", b,
               "] differ; both splits need the same classes so that labels mean the same");
  }
  Dataset d;
  d.name = "folder";
  d.classes = train.classes;
  d.train = load_split(train, "train", opt, log);
  d.test = load_split(test, "test", opt, log);
  return d;
}

}  // namespace dybat
