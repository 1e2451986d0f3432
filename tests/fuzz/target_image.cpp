// Fuzz target "image": the image-folder decoding path (header check, stb_image decode, RGB
// conversion, resize to the crop). Input: one byte choosing the crop (8..48), then the file.
// Images are limited to 512x512 pixels' worth (the product allows 67 megapixels): a few bytes can
// describe a large valid image (a progressive JPEG, a deflated PNG), and decoding one is slow, not
// a bug; the small limit keeps every input's work in milliseconds, so a slow input is a finding.
#include "data/readers.h"
#include "fuzz/targets.h"
#include "support/stb_image_write_static.h"

namespace dybat::fuzz {

bool run_image(const uint8_t* data, size_t size) {
  if (size < 1) return false;
  const int crop = 8 + data[0] % 41;
  Bytes out(static_cast<size_t>(3 * crop * crop));
  try {
    decode_image(data + 1, size - 1, "fuzz input", crop, out.data(), int64_t{512} * 512);
  } catch (const Error&) {
    return false;
  }
  return true;
}

namespace {

void be32(Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void le32(Bytes& out, uint32_t v) {
  for (int s = 0; s < 32; s += 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void le16(Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}

uint8_t pixel(int r, int c, int ch) { return static_cast<uint8_t>(r * 29 + c * 13 + ch * 71 + (r * c) % 7); }

// A PNG from raw scanline bytes (filter bytes included), with optional extra chunks before IDAT.
Bytes png(int w, int h, uint8_t depth, uint8_t color, uint8_t interlace, const Bytes& raw,
          const std::vector<std::pair<const char*, Bytes>>& extra = {}) {
  Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&](const char* type, const Bytes& body_data) {
    be32(out, static_cast<uint32_t>(body_data.size()));
    Bytes body(type, type + 4);
    body.insert(body.end(), body_data.begin(), body_data.end());
    out.insert(out.end(), body.begin(), body.end());
    be32(out, stbiw__crc32(body.data(), static_cast<int>(body.size())));
  };
  Bytes ihdr;
  be32(ihdr, static_cast<uint32_t>(w));
  be32(ihdr, static_cast<uint32_t>(h));
  ihdr.insert(ihdr.end(), {depth, color, 0, 0, interlace});
  chunk("IHDR", ihdr);
  for (const auto& [type, body] : extra) chunk(type, body);
  int zlen = 0;
  unsigned char* z = stbi_zlib_compress(const_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size()), &zlen, 8);
  chunk("IDAT", Bytes(z, z + zlen));
  STBIW_FREE(z);
  chunk("IEND", {});
  return out;
}

// Scanlines of a w x h image with `bytes_per_pixel` bytes per pixel (filter type cycling 0..4).
Bytes scanlines(int w, int h, int bytes_per_pixel) {
  Bytes raw;
  for (int r = 0; r < h; ++r) {
    raw.push_back(static_cast<uint8_t>(r % 5));
    for (int c = 0; c < w * bytes_per_pixel; ++c) raw.push_back(pixel(r, c, 0));
  }
  return raw;
}

// Adam7 passes of an 8-bit RGB image, each a small image of its own.
Bytes adam7_scanlines(int w, int h) {
  const int x0[] = {0, 4, 0, 2, 0, 1, 0}, y0[] = {0, 0, 4, 0, 2, 0, 1};
  const int dx[] = {8, 8, 4, 4, 2, 2, 1}, dy[] = {8, 8, 8, 4, 4, 2, 2};
  Bytes raw;
  for (int p = 0; p < 7; ++p) {
    int pw = (w - x0[p] + dx[p] - 1) / dx[p], ph = (h - y0[p] + dy[p] - 1) / dy[p];
    if (pw <= 0 || ph <= 0) continue;
    Bytes pass = scanlines(pw, ph, 3);
    raw.insert(raw.end(), pass.begin(), pass.end());
  }
  return raw;
}

Bytes bmp(int w, int h, int bpp) {
  const int row = ((w * bpp + 31) / 32) * 4;
  const uint32_t palette = bpp <= 8 ? (1u << bpp) * 4 : 0;
  Bytes out = {'B', 'M'};
  le32(out, 54 + palette + row * h);
  le32(out, 0);
  le32(out, 54 + palette);
  le32(out, 40);
  le32(out, static_cast<uint32_t>(w));
  le32(out, static_cast<uint32_t>(h));
  le16(out, 1);
  le16(out, static_cast<uint16_t>(bpp));
  le32(out, 0);
  le32(out, static_cast<uint32_t>(row * h));
  le32(out, 2835);
  le32(out, 2835);
  le32(out, 0);
  le32(out, 0);
  for (uint32_t i = 0; i < palette / 4; ++i)
    for (int ch = 0; ch < 4; ++ch) out.push_back(static_cast<uint8_t>(i * 37 + ch * 50));
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < row; ++c) out.push_back(pixel(r, c, 1));
  return out;
}

Bytes pnm(const char* magic, int w, int h, int maxval, int channels) {
  std::string head = std::string(magic) + "\n# comment\n" + std::to_string(w) + " " + std::to_string(h) + "\n" +
                     std::to_string(maxval) + "\n";
  Bytes out(head.begin(), head.end());
  const int bytes = maxval > 255 ? 2 : 1;
  for (int i = 0; i < w * h * channels * bytes; ++i) out.push_back(pixel(i / w, i % w, 2));
  return out;
}

void write_to(void* context, void* data, int size) {
  auto* out = static_cast<Bytes*>(context);
  auto* p = static_cast<uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

Bytes rgb(int w, int h, int channels) {
  Bytes p;
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      for (int ch = 0; ch < channels; ++ch) p.push_back(pixel(r, c, ch));
  return p;
}

Bytes jpeg(int w, int h, int channels, int quality) {
  Bytes out;
  Bytes pixels = rgb(w, h, channels);
  stbi_write_jpg_to_func(write_to, &out, w, h, channels, pixels.data(), quality);
  return out;
}

}  // namespace

std::vector<Bytes> seeds_image() {
  std::vector<Bytes> files;
  files.push_back(png(5, 4, 8, 2, 0, scanlines(5, 4, 3)));     // RGB
  files.push_back(png(3, 3, 8, 0, 0, scanlines(3, 3, 1)));     // gray
  files.push_back(png(4, 2, 8, 4, 0, scanlines(4, 2, 2)));     // gray + alpha
  files.push_back(png(2, 3, 8, 6, 0, scanlines(2, 3, 4)));     // RGBA
  files.push_back(png(4, 4, 16, 0, 0, scanlines(4, 4, 2)));    // 16-bit gray
  files.push_back(png(3, 2, 16, 2, 0, scanlines(3, 2, 6)));    // 16-bit RGB
  files.push_back(png(9, 9, 8, 2, 1, adam7_scanlines(9, 9)));  // interlaced
  Bytes plte;
  for (int i = 0; i < 4 * 3; ++i) plte.push_back(static_cast<uint8_t>(i * 20));
  files.push_back(png(8, 2, 2, 3, 0, scanlines(2, 2, 1), {{"PLTE", plte}, {"tRNS", Bytes{0, 128}}}));  // palette
  files.push_back(jpeg(8, 8, 3, 100));
  files.push_back(jpeg(17, 9, 3, 60));  // 4:2:0, partial blocks
  files.push_back(jpeg(6, 5, 1, 90));
  files.push_back(bmp(5, 3, 24));
  files.push_back(bmp(4, 2, 8));
  files.push_back(bmp(3, 3, 32));
  files.push_back(pnm("P6", 4, 3, 255, 3));
  files.push_back(pnm("P5", 3, 2, 255, 1));
  files.push_back(pnm("P5", 2, 2, 65535, 1));
  std::vector<Bytes> seeds;
  uint8_t crop = 0;
  for (const Bytes& f : files) {
    Bytes s = {crop};
    crop = static_cast<uint8_t>(crop + 7);
    s.insert(s.end(), f.begin(), f.end());
    seeds.push_back(std::move(s));
  }
  return seeds;
}

}  // namespace dybat::fuzz
