// Image folders: torchvision's ImageFolder class and file order, PNG/BMP pixels exact, JPEG within
// a few levels, grayscale and alpha to RGB, the resize at load, the fixed shuffled order, and the
// errors (empty class folder, undecodable, truncated or oversized image, missing split, differing
// classes).
#include <gtest/gtest.h>

#include <filesystem>

#include "support/data_files.h"
#include "data/dataset.h"
#include "data/readers.h"
#include "data/transform.h"
#include "support/paths.h"
#include "support/test_util.h"

using namespace dybat;
using namespace dybat::test;

namespace {

// Planar [3, h, w] pixels of an interleaved RGB image.
std::vector<uint8_t> planar(const std::vector<uint8_t>& rgb, int w, int h) {
  std::vector<uint8_t> out(rgb.size());
  for (int i = 0; i < w * h; ++i)
    for (int c = 0; c < 3; ++c) out[c * w * h + i] = rgb[i * 3 + c];
  return out;
}

std::vector<uint8_t> sample_pixels(const Split& s, int64_t i) {
  const int64_t per = s.images.numel() / s.size();
  const uint8_t* p = s.images.data<uint8_t>() + i * per;
  return std::vector<uint8_t>(p, p + per);
}

// A solid-colour 4x4 PNG whose red value identifies it.
void tag_png(const std::string& path, int tag) {
  std::vector<uint8_t> px(4 * 4 * 3, 0);
  for (int i = 0; i < 16; ++i) px[i * 3] = static_cast<uint8_t>(tag);
  write_png(path, 4, 4, 3, px);
}

// Red values (tags) of every sample, in the split's order.
std::vector<int> tags(const Split& s) {
  std::vector<int> out;
  for (int64_t i = 0; i < s.size(); ++i) out.push_back(s.images.data<uint8_t>()[i * 48]);
  return out;
}

DataOptions folder_options(const TempDir& tmp, int crop = 4) {
  DataOptions o = options_for("folder", tmp / "root", tmp / "cache", crop);
  o.order = "file";
  return o;
}

}  // namespace

TEST(DataImageFolder, ClassAndFileOrderAsTorchvision) {
  TempDir tmp;
  // The reference's example: classes sort by code point ('10' < '9' < 'B' < '_z' < 'a' < 'b');
  // class '10' holds 10/Z.jpeg, 10/a.jpg, 10/x.PNG, 10/sub/m.png, and notes.txt is skipped.
  for (const char* split : {"train", "test"}) {
    const std::string r = tmp / "root/" + split;
    tag_png(r + "/10/x.PNG", 3);
    tag_png(r + "/10/a.jpg", 2);  // PNG bytes under a .jpg name: the content decides, as PIL
    tag_png(r + "/10/Z.jpeg", 1);
    tag_png(r + "/10/sub/m.png", 4);
    write_text(r + "/10/notes.txt", "not an image");
    tag_png(r + "/9/a.bmp", 10);
    tag_png(r + "/B/a.png", 20);
    tag_png(r + "/_z/a.png", 30);
    // Folders are walked in the sorted order of their paths, not depth-first:
    // a, a/sub, a/sub-x, a/sub/deeper ('-' < '/').
    tag_png(r + "/a/sub/deeper/k.png", 43);
    tag_png(r + "/a/sub-x/k.png", 42);
    tag_png(r + "/a/sub/k.png", 41);
    tag_png(r + "/a/k.png", 40);
    tag_png(r + "/b/UPPER.PNG", 50);
    tag_png(r + "/b/lower.png", 51);
  }
  Dataset d = load_dataset(folder_options(tmp));
  EXPECT_EQ(d.name, "folder");
  EXPECT_EQ(d.classes, (std::vector<std::string>{"10", "9", "B", "_z", "a", "b"}));
  EXPECT_EQ(tags(d.train), (std::vector<int>{1, 2, 3, 4, 10, 20, 30, 40, 41, 42, 43, 50, 51}));
  EXPECT_EQ(d.train.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0, 0, 1, 2, 3, 4, 4, 4, 4, 5, 5}));
  EXPECT_EQ(tags(d.test), tags(d.train));
}

TEST(DataImageFolder, HiddenFoldersAreClassesAndFilesAtTheSplitRootAreIgnored) {
  TempDir tmp;
  for (const char* split : {"train", "test"}) {
    tag_png(tmp / "root/" + split + "/.hidden/a.png", 1);
    tag_png(tmp / "root/" + split + "/cat/a.png", 2);
    tag_png(tmp / "root/" + split + "/stray.png", 3);
  }
  Dataset d = load_dataset(folder_options(tmp));
  EXPECT_EQ(d.classes, (std::vector<std::string>{".hidden", "cat"}));
  EXPECT_EQ(tags(d.train), (std::vector<int>{1, 2}));
}

TEST(DataImageFolder, PngBmpExactJpegClose) {
  TempDir tmp;
  const int w = 12, h = 12;
  auto pat = pattern_rgb(5, w, h);
  // A smooth image for JPEG, whose decoders (stb here, libjpeg in PIL) differ by a few levels.
  std::vector<uint8_t> smooth(w * h * 3);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      smooth[(r * w + c) * 3 + 0] = static_cast<uint8_t>(40 + 10 * r);
      smooth[(r * w + c) * 3 + 1] = static_cast<uint8_t>(200 - 8 * c);
      smooth[(r * w + c) * 3 + 2] = static_cast<uint8_t>(100 + 3 * (r + c));
    }
  std::vector<uint8_t> gray(w * h);
  for (int i = 0; i < w * h; ++i) gray[i] = static_cast<uint8_t>(i * 7);
  std::vector<uint8_t> rgba(w * h * 4);
  for (int i = 0; i < w * h; ++i)
    for (int c = 0; c < 4; ++c) rgba[i * 4 + c] = static_cast<uint8_t>(c == 3 ? (i % 2) * 255 : i * (c + 1));
  for (const char* split : {"train", "test"}) {
    const std::string r = tmp / "root/" + split;
    write_png(r + "/a_png/0.png", w, h, 3, pat);
    write_bmp(r + "/b_bmp/0.bmp", w, h, 3, pat);
    write_jpeg(r + "/c_jpg/0.jpg", w, h, 3, smooth, 100);
    write_png(r + "/d_gray/0.png", w, h, 1, gray);
    write_png(r + "/e_rgba/0.png", w, h, 4, rgba);
  }
  Dataset d = load_dataset(folder_options(tmp, 12));
  ASSERT_EQ(d.train.size(), 5);
  EXPECT_EQ(sample_pixels(d.train, 0), planar(pat, w, h));
  EXPECT_EQ(sample_pixels(d.train, 1), planar(pat, w, h));
  auto jpg = sample_pixels(d.train, 2), want = planar(smooth, w, h);
  int worst = 0;
  for (size_t i = 0; i < jpg.size(); ++i) worst = std::max(worst, std::abs(int(jpg[i]) - int(want[i])));
  EXPECT_LE(worst, 4) << "JPEG pixels should be within a few levels of the source";
  // Grayscale becomes three equal channels; alpha is dropped (PIL's convert("RGB")).
  auto g = sample_pixels(d.train, 3);
  for (int i = 0; i < w * h; ++i) {
    EXPECT_EQ(g[i], gray[i]);
    EXPECT_EQ(g[w * h + i], gray[i]);
    EXPECT_EQ(g[2 * w * h + i], gray[i]);
  }
  auto a = sample_pixels(d.train, 4);
  for (int i = 0; i < w * h; ++i)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(a[c * w * h + i], rgba[i * 4 + c]);
}

TEST(DataImageFolder, SixteenBitGrayPngIsClippedAsPil) {
  // PIL opens a 16-bit grayscale PNG as a 32-bit integer image and convert("RGB") clips it to
  // 0..255 (values are not scaled), so 0..255 stay, anything larger becomes 255.
  TempDir tmp;
  std::vector<uint16_t> v = {0, 1, 200, 255, 256, 300, 4095, 65535, 7, 77, 254, 1000, 128, 9, 3, 511};
  for (const char* split : {"train", "test"}) write_png16_gray(tmp / "root/" + split + "/a/0.png", 4, 4, v);
  Dataset d = load_dataset(folder_options(tmp, 4));
  const std::vector<uint8_t> plane = {0, 1, 200, 255, 255, 255, 255, 255, 7, 77, 254, 255, 128, 9, 3, 255};
  std::vector<uint8_t> want = plane;
  want.insert(want.end(), plane.begin(), plane.end());
  want.insert(want.end(), plane.begin(), plane.end());
  EXPECT_EQ(sample_pixels(d.train, 0), want);
}

TEST(DataImageFolder, ImagesOfAnySizeAreResizedAtLoad) {
  TempDir tmp;
  auto wide = pattern_rgb(7, 20, 9), tall = pattern_rgb(8, 5, 30), same = pattern_rgb(9, 16, 16);
  for (const char* split : {"train", "test"}) {
    write_png(tmp / "root/" + split + "/x/0.png", 20, 9, 3, wide);
    write_png(tmp / "root/" + split + "/x/1.png", 5, 30, 3, tall);
    write_png(tmp / "root/" + split + "/x/2.png", 16, 16, 3, same);
  }
  Dataset d = load_dataset(folder_options(tmp, 16));
  EXPECT_EQ(d.train.images.shape(), Shape({3, 3, 16, 16}));
  auto expect = [](const std::vector<uint8_t>& rgb, int w, int h) {
    std::vector<uint8_t> out(3 * 16 * 16);
    resize_planes(planar(rgb, w, h).data(), 3, h, w, out.data(), 16, 16);
    return out;
  };
  EXPECT_EQ(sample_pixels(d.train, 0), expect(wide, 20, 9));
  EXPECT_EQ(sample_pixels(d.train, 1), expect(tall, 5, 30));
  EXPECT_EQ(sample_pixels(d.train, 2), planar(same, 16, 16));
}

TEST(DataImageFolder, ShuffledOrderIsFixedAndMixesClasses) {
  TempDir tmp;
  for (const char* split : {"train", "test"})
    for (int c = 0; c < 4; ++c)
      for (int i = 0; i < 10; ++i)
        tag_png(tmp / "root/" + split + "/c" + std::to_string(c) + "/" + std::to_string(i) + ".png", c * 10 + i);
  DataOptions o = folder_options(tmp);
  Dataset file = load_dataset(o);
  o.order = "shuffled";
  Dataset a = load_dataset(o);
  o.seed = 12345;  // the fixed order does not depend on --seed
  Dataset b = load_dataset(o);
  EXPECT_EQ(tags(a.train), tags(b.train));
  EXPECT_NE(tags(a.train), tags(file.train));
  EXPECT_NE(tags(a.train), tags(a.test)) << "train and test get different orders";
  auto sorted = tags(a.train);
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, tags(file.train));
  // Labels travel with their images, and the first batch of 8 is not a single class.
  auto t = tags(a.train);
  auto l = a.train.labels.to_vector<int64_t>();
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(l[i], t[i] / 10);
  EXPECT_GT(std::set<int64_t>(l.begin(), l.begin() + 8).size(), 1u);
}

TEST(DataImageFolder, PermutationAndLimits) {
  TempDir tmp;
  for (const char* split : {"train", "test"})
    for (int i = 0; i < 20; ++i) tag_png(tmp / "root/" + split + "/c/" + std::to_string(100 + i) + ".png", i);
  DataOptions o = folder_options(tmp);
  Dataset plain = load_dataset(o);
  o.permute = true;
  o.seed = 1;
  Dataset p1 = load_dataset(o), p1again = load_dataset(o);
  o.seed = 2;
  Dataset p2 = load_dataset(o);
  EXPECT_EQ(tags(p1.train), tags(p1again.train));
  EXPECT_NE(tags(p1.train), tags(p2.train));
  EXPECT_NE(tags(p1.train), tags(plain.train));
  o.train_limit = 5;
  o.test_limit = 3;
  Dataset lim = load_dataset(o);
  ASSERT_EQ(lim.train.size(), 5);
  ASSERT_EQ(lim.test.size(), 3);
  auto full = tags(p2.train);
  EXPECT_EQ(tags(lim.train), std::vector<int>(full.begin(), full.begin() + 5)) << "the first N of the final order";
  o.train_limit = -1;
  EXPECT_NE(error_of([&] { load_dataset(o); }).find("limit must be >= 0"), std::string::npos);
}

TEST(DataImageFolder, EmptyClassFolder) {
  TempDir tmp;
  for (const char* split : {"train", "test"}) {
    tag_png(tmp / "root/" + split + "/a/0.png", 1);
    write_text(tmp / "root/" + split + "/b/readme.txt", "no images here");
  }
  std::string m = error_of([&] { load_dataset(folder_options(tmp)); });
  EXPECT_NE(m.find("empty class folder " + (tmp / "root/train/b")), std::string::npos) << m;
}

TEST(DataImageFolder, UndecodableImageIsNamed) {
  TempDir tmp;
  for (const char* split : {"train", "test"}) {
    for (int i = 0; i < 40; ++i) tag_png(tmp / "root/" + split + "/a/" + std::to_string(10 + i) + ".png", i);
    write_text(tmp / "root/" + split + "/a/33_broken.png", "this is not a PNG");
  }
  std::string m = error_of([&] { load_dataset(folder_options(tmp)); });
  EXPECT_NE(m.find("cannot decode image " + (tmp / "root/train/a/33_broken.png")), std::string::npos) << m;
  // TIFF/WebP are listed by ImageFolder but not decodable here: named, with advice.
  std::filesystem::remove(tmp / "root/train/a/33_broken.png");
  std::filesystem::remove(tmp / "root/test/a/33_broken.png");
  write_text(tmp / "root/test/a/pic.webp", "RIFF....WEBP");
  m = error_of([&] { load_dataset(folder_options(tmp)); });
  EXPECT_NE(m.find("pic.webp"), std::string::npos) << m;
  EXPECT_NE(m.find("convert it to PNG or JPEG"), std::string::npos) << m;
}

TEST(DataImageFolder, TruncatedFilesAreRejectedAsPilRejectsThem) {
  // stb_image decodes the missing part of a BMP or JPEG that is cut short as zeros; PIL raises
  // "image file is truncated", and so does the loader here, naming the file.
  TempDir tmp;
  const int w = 5, h = 5;  // 24-bit BMP rows: 15 bytes of pixels padded to 16; decoded at its size
  auto pat = pattern_rgb(3, w, h);
  write_bmp(tmp / "a.bmp", w, h, 3, pat);
  write_jpeg(tmp / "a.jpg", w, h, 3, pat, 90);
  const std::vector<uint8_t> bmp = read_bytes(tmp / "a.bmp"), jpg = read_bytes(tmp / "a.jpg");
  std::vector<uint8_t> out(3 * w * h);
  auto decode = [&](std::vector<uint8_t> bytes, size_t keep) {
    bytes.resize(keep);
    return error_of([&] { decode_image(bytes.data(), bytes.size(), "x/cut.img", w, out.data()); });
  };
  EXPECT_EQ(decode(bmp, bmp.size()), "");
  EXPECT_EQ(out, planar(pat, w, h));
  EXPECT_EQ(decode(bmp, bmp.size() - 1), "") << "the last row's padding is optional";
  std::string m = decode(bmp, bmp.size() - 2);
  EXPECT_NE(m.find("cannot decode image x/cut.img: the BMP file is cut short (" + std::to_string(bmp.size() - 2) +
                   " bytes, its header promises " + std::to_string(bmp.size() - 1) + ")"),
            std::string::npos)
      << m;
  EXPECT_NE(decode(bmp, 60).find("cut short"), std::string::npos);
  // A pixel data offset pointing into the header (stb would read zeros from there).
  std::vector<uint8_t> inside = bmp;
  inside[10] = 20;
  inside[11] = inside[12] = inside[13] = 0;
  m = decode(inside, inside.size());
  EXPECT_NE(m.find("corrupt BMP (its pixel data offset 20 lies inside the 54-byte header)"), std::string::npos) << m;

  // PNG: stb_image itself rejects a file cut anywhere before the end chunk's CRC (its chunks and
  // its zlib stream are checked); with every pixel there, a missing last CRC is let pass, as PIL does.
  write_png(tmp / "a.png", w, h, 3, pat);
  const std::vector<uint8_t> png = read_bytes(tmp / "a.png");
  EXPECT_EQ(decode(png, png.size()), "");
  EXPECT_EQ(decode(png, png.size() - 4), "");
  for (size_t keep = 9; keep < png.size() - 4; ++keep)
    EXPECT_NE(decode(png, keep), "") << "a PNG cut to " << keep << " of " << png.size() << " bytes";

  ASSERT_GE(jpg.size(), 4u);
  ASSERT_EQ(jpg[jpg.size() - 2], 0xff);
  ASSERT_EQ(jpg[jpg.size() - 1], 0xd9);  // the end-of-image marker
  EXPECT_EQ(decode(jpg, jpg.size()), "");
  std::vector<uint8_t> trailing = jpg;
  trailing.insert(trailing.end(), {0, 1, 2, 3});
  EXPECT_EQ(decode(trailing, trailing.size()), "") << "bytes after the end-of-image marker are ignored";
  for (size_t keep : {jpg.size() - 2, jpg.size() - 5, jpg.size() - 40}) {
    m = decode(jpg, keep);
    EXPECT_NE(m.find("cannot decode image x/cut.img: the JPEG file is cut short (it has no end-of-image marker)"),
              std::string::npos)
        << "kept " << keep << " of " << jpg.size() << " bytes: " << m;
  }
  m = decode(jpg, jpg.size() / 2);  // inside the Huffman tables: that check names the segment
  EXPECT_NE(m.find("cannot decode image x/cut.img: corrupt JPEG (the segment cut short"), std::string::npos) << m;
}

namespace {

// The bytes of a JPEG without its `nth` (0-based) segment with marker 0xFF `marker`.
std::vector<uint8_t> without_segment(std::vector<uint8_t> jpg, uint8_t marker, int nth) {
  for (size_t i = 0; i + 3 < jpg.size(); ++i) {
    if (jpg[i] != 0xff || jpg[i + 1] != marker || nth-- > 0) continue;
    const size_t len = static_cast<size_t>(jpg[i + 2]) << 8 | jpg[i + 3];
    jpg.erase(jpg.begin() + static_cast<std::ptrdiff_t>(i), jpg.begin() + static_cast<std::ptrdiff_t>(i + 2 + len));
    return jpg;
  }
  ADD_FAILURE() << "no segment 0xff" << std::hex << int(marker);
  return jpg;
}

}  // namespace

TEST(DataImageFolder, JpegScansNeedTheirHuffmanTablesDefined) {
  // A progressive JPEG as Pillow writes it (tests/fixtures/make_progressive_jpeg_fixture.py)
  // defines each AC table just before the scans that use it; it decodes, close to Pillow's pixels.
  const std::string fixture = test_data_dir() + "/files/progressive_16x16";
  const std::vector<uint8_t> prog = read_bytes(fixture + ".jpg"), pil = read_bytes(fixture + ".rgb");
  ASSERT_EQ(pil.size(), 16u * 16 * 3);
  std::vector<uint8_t> out(16 * 16 * 3);
  auto decode = [&](const std::vector<uint8_t>& bytes) {
    return error_of([&] { decode_image(bytes.data(), bytes.size(), "t.jpg", 16, out.data()); });
  };
  ASSERT_EQ(decode(prog), "");
  const std::vector<uint8_t> want = planar(pil, 16, 16);
  int worst = 0;
  for (size_t i = 0; i < out.size(); ++i) worst = std::max(worst, std::abs(int(out[i]) - int(want[i])));
  EXPECT_LE(worst, 3) << "stb and libjpeg decode a progressive JPEG within a few levels";
  // Without the table the second scan (its first AC scan) needs, the file is rejected: stb would
  // decode it with an uninitialised table.
  std::string m = decode(without_segment(prog, 0xc4, 2));
  EXPECT_NE(m.find("cannot decode image t.jpg: corrupt JPEG (the scan at byte "), std::string::npos) << m;
  EXPECT_NE(m.find(" uses Huffman table AC "), std::string::npos) << m;
  // A baseline file without its tables: its first scan needs DC table 0.
  TempDir tmp;
  write_jpeg(tmp / "b.jpg", 16, 16, 3, pil, 90);
  std::vector<uint8_t> base = read_bytes(tmp / "b.jpg");
  ASSERT_EQ(decode(base), "");
  m = decode(without_segment(base, 0xc4, 0));
  EXPECT_NE(m.find("uses Huffman table DC 0, which no DHT segment before it defines)"), std::string::npos) << m;
}

TEST(DataImageFolder, OversizedImageIsRejectedBeforeDecoding) {
  TempDir tmp;
  // A PNG header claiming 10000 x 10000 pixels (100 megapixels) and no data: stbi_info reads the
  // size from the header, so the limit applies before anything is allocated.
  std::vector<uint8_t> png = {0x89, 'P',  'N',  'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0,
                              0,    0x27, 0x10, 0,   0,    0x27, 0x10, 8,    2, 0, 0, 0,  0,   0,   0,   0};
  for (const char* split : {"train", "test"}) {
    tag_png(tmp / "root/" + split + "/a/0.png", 1);
    write_bytes(tmp / "root/" + split + "/a/1.png", png);
  }
  std::string m = error_of([&] { load_dataset(folder_options(tmp)); });
  EXPECT_NE(m.find("1.png is 10000x10000 pixels, more than the limit"), std::string::npos) << m;
  // A caller may lower the limit.
  const std::vector<uint8_t> small = read_bytes(tmp / "root/train/a/0.png");
  std::vector<uint8_t> out(3 * 4 * 4);
  m = error_of([&] { decode_image(small.data(), small.size(), "s.png", 4, out.data(), 15); });
  EXPECT_NE(m.find("image s.png is 4x4 pixels, more than the limit of 15 pixels"), std::string::npos) << m;
  EXPECT_EQ(error_of([&] { decode_image(small.data(), small.size(), "s.png", 4, out.data(), 16); }), "");
}

TEST(DataImageFolder, MissingSplitRootOrClasses) {
  TempDir tmp;
  tag_png(tmp / "root/train/a/0.png", 1);
  std::string m = error_of([&] { load_dataset(folder_options(tmp)); });
  EXPECT_NE(m.find("missing test split: folder " + (tmp / "root/test") + " not found"), std::string::npos) << m;
  make_dirs(tmp / "root/test");
  m = error_of([&] { load_dataset(folder_options(tmp)); });
  EXPECT_NE(m.find("no class folders in " + (tmp / "root/test")), std::string::npos) << m;
  tag_png(tmp / "root/test/b/0.png", 1);
  m = error_of([&] { load_dataset(folder_options(tmp)); });
  EXPECT_NE(m.find("differ"), std::string::npos) << m;
  DataOptions o = folder_options(tmp);
  o.root = tmp / "absent";
  m = error_of([&] { load_dataset(o); });
  EXPECT_NE(m.find("folder " + (tmp / "absent") + " not found"), std::string::npos) << m;
}

TEST(DataImageFolder, DetectedUnderTheRootAndDecodedWithAnyThreadCount) {
  TempDir tmp;
  for (const char* split : {"train", "test"})
    for (int i = 0; i < 30; ++i)
      write_png(tmp / "root/" + split + "/c" + std::to_string(i % 3) + "/" + std::to_string(i) + ".png", 9, 7, 3,
                pattern_rgb(i, 9, 7));
  DataOptions o = folder_options(tmp, 8);
  o.dataset = "";
  o.use_cache = false;
  o.threads = 1;
  Dataset one = load_dataset(o);
  EXPECT_EQ(one.name, "folder");
  o.threads = 3;
  Dataset three = load_dataset(o);
  EXPECT_EQ(sample_pixels(one.train, 17), sample_pixels(three.train, 17));
  EXPECT_EQ(one.train.images.to_vector<uint8_t>(), three.train.images.to_vector<uint8_t>());
}
