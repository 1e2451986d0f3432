// Image decoding for image folders: stb_image (compiled in stb_image_impl.cpp), with the file's
// structure checked where stb_image 2.27 would trust it, and the size checked from the header
// before any pixel memory is allocated.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <vector>

#include "data/io.h"
#include "data/readers.h"
#include "data/transform.h"

#include "data/stb_image_config.h"

namespace dybat {

namespace {

std::string lower_extension(const std::string& path) {
  auto dot = path.find_last_of('.');
  auto slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

// The tables a start-of-scan header `h` (after its length field) uses must be defined. Headers stb
// rejects itself (a length that does not match the component count, an index over 3) are left to it.
void check_scan_tables(const uint8_t* h, size_t len, bool progressive, const bool (&defined)[2][4], size_t at,
                       const std::string& path) {
  const size_t count = h[0];
  if (count < 1 || count > 4 || len != 4 + 2 * count) return;
  const uint8_t spectral_start = h[1 + 2 * count], approx_high = h[3 + 2 * count] >> 4;
  const bool dc = !progressive || (spectral_start == 0 && approx_high == 0);
  const bool ac = !progressive || spectral_start > 0;
  for (size_t i = 0; i < count; ++i) {
    const int table[2] = {h[2 + 2 * i] >> 4, h[2 + 2 * i] & 15};
    for (int cls = 0; cls < 2; ++cls) {
      if (!(cls == 0 ? dc : ac) || table[cls] > 3 || defined[cls][table[cls]]) continue;
      DYBAT_FAIL("cannot decode image ", path, ": corrupt JPEG (the scan at byte ", at, " uses Huffman table ",
                 cls == 0 ? "DC " : "AC ", table[cls], ", which no DHT segment before it defines)");
    }
  }
}

// stb_image 2.27 trusts the 16 code counts of a JPEG Huffman table (DHT segment): counts that add
// up to more than 256 symbols overrun its tables. This walks the segments the way stb does and
// rejects any DHT that does not hold well-formed tables before the decoder sees the file.
//
// It also checks that every scan's Huffman tables were defined by a DHT segment before it: stb
// decodes with an undefined table's uninitialised memory (reading far outside it). Which tables a
// scan uses is as in stb: a sequential scan its components' DC and AC tables; a progressive scan
// (SOF2) its AC tables when it codes AC coefficients, else its DC tables on the first pass only.
//
// The walk also requires the end-of-image marker: stb_image decodes a file cut short (a truncated
// download) by filling the missing entropy-coded data with zeros, where PIL raises "image file is
// truncated".
//
// Segments are followed by their lengths; bytes between segments are skipped up to the next 0xFF
// (stb scans them the same way while reading the header); after a start-of-scan header the
// entropy-coded data runs to the next 0xFF that is not followed by 0x00 (a stuffed byte), 0xFF
// (fill) or a restart marker 0xD0..0xD7. Every byte position stb can read a table from is
// visited, and tables hidden in other segments' payloads (APP, COM) are not mistaken for tables.
void check_jpeg_structure(const uint8_t* d, size_t n, const std::string& path) {
  auto bad = [&](size_t at, const char* why) {
    DYBAT_FAIL("cannot decode image ", path, ": corrupt JPEG (", why, " in the Huffman table segment at byte ", at,
               ")");
  };
  bool progressive = false, defined[2][4] = {};  // [DC = 0, AC = 1][table index]
  size_t pos = 0;  // stb also skips fill bytes before the start-of-image marker
  while (pos < n) {
    if (d[pos] != 0xff) {  // entropy-coded data, or padding between segments
      ++pos;
      continue;
    }
    size_t at = pos;
    while (pos < n && d[pos] == 0xff) ++pos;  // fill bytes
    if (pos >= n) break;
    const uint8_t m = d[pos++];
    if (m == 0x00 || (m >= 0xd0 && m <= 0xd7) || m == 0xd8 || m == 0x01) continue;  // no length field
    if (m == 0xd9) return;                                                             // end of image
    if (n - pos < 2) return;
    const size_t len = static_cast<size_t>(d[pos]) << 8 | d[pos + 1];
    if (len < 2) return;  // stb stops at such a segment with an error of its own
    const size_t end = std::min(n, pos + len);
    if (m == 0xc4) {
      if (pos + len > n) bad(at, "the segment cut short");
      size_t p = pos + 2;
      while (p < pos + len) {
        if (pos + len - p < 17) bad(at, "a table header cut short");
        if ((d[p] >> 4) > 1 || (d[p] & 15) > 3) bad(at, "a table class or index out of range");
        size_t symbols = 0;
        for (int i = 1; i <= 16; ++i) symbols += d[p + i];
        if (symbols > 256) bad(at, "more than 256 symbols");
        if (pos + len - p - 17 < symbols) bad(at, "symbols past the segment end");
        defined[d[p] >> 4][d[p] & 15] = true;
        p += 17 + symbols;
      }
    }
    if (m == 0xc2) progressive = true;
    if (m == 0xda && pos + len <= n && len >= 3) check_scan_tables(d + pos + 2, len - 2, progressive, defined, at, path);
    pos = end;
  }
  DYBAT_FAIL("cannot decode image ", path, ": the JPEG file is cut short (it has no end-of-image marker)");
}

// stb_image 2.27 reads the numbers of a PNM header into an int without a bound (a long run of
// digits overflows it) and, when the pixel data is shorter than the header promises, returns the
// missing pixels uninitialised. This reads the header as stb does (whitespace, # comments, then
// width, height and maximum value) and rejects numbers beyond any valid image and short data.
void check_pnm(const uint8_t* d, size_t n, const std::string& path) {
  size_t pos = 2;  // after "P5" or "P6"
  auto eof = [&] { return pos >= n; };
  auto get = [&] { return pos < n ? static_cast<char>(d[pos++]) : '\0'; };
  auto space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r'; };
  char c = get();
  auto skip = [&] {
    for (;;) {
      while (!eof() && space(c)) c = get();
      if (eof() || c != '#') break;
      while (!eof() && c != '\n' && c != '\r') c = get();
    }
  };
  auto number = [&](const char* what) {
    int64_t v = 0;
    while (!eof() && c >= '0' && c <= '9') {
      v = v * 10 + (c - '0');
      DYBAT_CHECK(v <= kMaxImagePixels, "cannot decode image ", path, ": the PNM header's ", what, " is too large");
      c = get();
    }
    return v;
  };
  skip();
  const int64_t w = number("width");
  skip();
  const int64_t h = number("height");
  skip();
  const int64_t maxval = number("maximum value");
  const int64_t need = w * h * (d[1] == '6' ? 3 : 1) * (maxval > 255 ? 2 : 1);
  DYBAT_CHECK(static_cast<int64_t>(n - std::min(n, pos)) >= need, "cannot decode image ", path, ": the PNM file holds ",
              n - std::min(n, pos), " bytes of pixels, its header promises ", need, " (the file is cut short)");
}

// stb_image 2.27 allocates a PNG data chunk's buffer at the size its length field claims before it
// reads the bytes, so a few bytes claiming a 2 GB chunk make it allocate 2 GB. This follows the
// chunks as stb does (length, type, data, CRC; up to IEND) and rejects one that runs past the end.
void check_png_chunks(const uint8_t* d, size_t n, const std::string& path) {
  size_t pos = 8;  // after the signature
  while (n - pos >= 8) {
    const uint64_t len = static_cast<uint64_t>(d[pos]) << 24 | static_cast<uint64_t>(d[pos + 1]) << 16 |
                         static_cast<uint64_t>(d[pos + 2]) << 8 | d[pos + 3];
    const bool end = d[pos + 4] == 'I' && d[pos + 5] == 'E' && d[pos + 6] == 'N' && d[pos + 7] == 'D';
    DYBAT_CHECK(len <= n - pos - 8, "cannot decode image ", path, ": corrupt PNG (the chunk at byte ", pos, " claims ",
                len, " bytes, more than the ", n - pos - 8, " left in the file)");
    if (end) return;
    pos += std::min<uint64_t>(n - pos, 12 + len);
  }
}

// stb_image 2.27 reads a BMP's pixels past the end of the file as zeros, so a file cut short
// decodes without an error (and a 72-byte file can claim 50 megapixels); a pixel data offset that
// points back into the header makes it read zeros too. This requires the offset to lie past the
// header and the rows the header promises to follow it, each read as stb reads it: 1, 4 and 8 bits
// per pixel through the palette, 24 as 3 bytes, 16 as 2, and 32 (or any other depth) as 4 bytes,
// rows padded to 4 bytes, the last row's padding optional. Called after stbi_info accepted the
// header (stb supports no compressed BMP that could be shorter).
void check_bmp(const uint8_t* d, size_t n, const std::string& path, int w, int h) {
  auto le = [&](size_t at, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = v << 8 | (at + i < n ? d[at + i] : 0);
    return v;
  };
  const uint64_t offset = le(10, 4), header = le(14, 4);
  const uint64_t bpp = le(header == 12 ? 24 : 28, 2);
  const bool bitfields = (header == 40 || header == 56) && le(30, 4) == 3;
  const uint64_t header_end = 14 + header + (bitfields ? 12 : 0);
  DYBAT_CHECK(offset >= header_end, "cannot decode image ", path, ": corrupt BMP (its pixel data offset ", offset,
              " lies inside the ", header_end, "-byte header)");
  if (bpp < 16 && bpp != 1 && bpp != 4 && bpp != 8) return;  // stb rejects these itself
  const uint64_t width = static_cast<uint64_t>(w);
  const uint64_t row = bpp < 16 ? (width * bpp + 7) / 8 : width * (bpp == 24 ? 3 : bpp == 16 ? 2 : 4);
  const uint64_t stride = (row + 3) / 4 * 4;
  const uint64_t need = offset + stride * static_cast<uint64_t>(h - 1) + row;
  DYBAT_CHECK(n >= need, "cannot decode image ", path, ": the BMP file is cut short (", n,
              " bytes, its header promises ", need, ")");
}

}  // namespace

void decode_image_file(const std::string& path, int crop, uint8_t* out) {
  const std::string ext = lower_extension(path);
  DYBAT_CHECK(ext != ".tif" && ext != ".tiff" && ext != ".webp", "cannot decode image ", path,
              ": TIFF and WebP are not supported by the built-in decoder (convert it to PNG or JPEG)");
  std::vector<uint8_t> bytes = io::read_file(path);
  decode_image(bytes.data(), bytes.size(), path, crop, out);
}

void decode_image(const uint8_t* data, size_t size, const std::string& path, int crop, uint8_t* out,
                  int64_t max_pixels) {
  DYBAT_CHECK(crop > 0, "cannot decode image ", path, ": crop must be positive, got ", crop);
  DYBAT_CHECK(size <= static_cast<size_t>(INT32_MAX), "image ", path, " is too large (", size, " bytes)");
  const int len = static_cast<int>(size);
  if (size >= 2 && data[0] == 0xff) check_jpeg_structure(data, size, path);  // stb's test for a JPEG
  if (size >= 2 && data[0] == 'P' && (data[1] == '5' || data[1] == '6')) check_pnm(data, size, path);
  static const uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::equal(kPngSignature, kPngSignature + 8, data)) check_png_chunks(data, size, path);
  int w = 0, h = 0, comp = 0;
  // stbi_info reads only the header: dimensions are checked before anything is allocated.
  DYBAT_CHECK(stbi_info_from_memory(data, len, &w, &h, &comp) != 0, "cannot decode image ", path, ": ",
              stbi_failure_reason(), " (expected a JPEG, PNG, BMP or PNM file)");
  DYBAT_CHECK(
      w > 0 && h > 0 && w <= kMaxImageSide && h <= kMaxImageSide && static_cast<int64_t>(w) * h <= max_pixels,
      "image ", path, " is ", w, "x", h, " pixels, more than the limit of ", max_pixels, " pixels (or ", kMaxImageSide,
      " per side)");
  if (size >= 2 && data[0] == 'B' && data[1] == 'M') check_bmp(data, size, path, w, h);
  int dw = 0, dh = 0, dc = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> rgb(nullptr, stbi_image_free);
  if (comp == 1 && stbi_is_16_bit_from_memory(data, len)) {
    // PIL opens a 16-bit grayscale PNG as a 32-bit integer image, and convert("RGB") clips its
    // values to 0..255 (it does not scale them); stb would keep the high byte instead.
    std::unique_ptr<uint16_t, void (*)(void*)> gray(stbi_load_16_from_memory(data, len, &dw, &dh, &dc, 1),
                                                    stbi_image_free);
    DYBAT_CHECK(gray != nullptr, "cannot decode image ", path, ": ", stbi_failure_reason());
    // malloc, as stb allocates: the deleter is stbi_image_free (free).
    rgb.reset(static_cast<uint8_t*>(std::malloc(static_cast<size_t>(dw) * dh * 3)));
    DYBAT_CHECK(rgb != nullptr, "out of memory decoding ", path);
    for (int64_t i = 0; i < static_cast<int64_t>(dw) * dh; ++i) {
      const uint16_t v = gray.get()[i];
      rgb.get()[3 * i] = rgb.get()[3 * i + 1] = rgb.get()[3 * i + 2] = static_cast<uint8_t>(v > 255 ? 255 : v);
    }
  } else {
    // Asking for 3 components converts grayscale (g -> g, g, g), palette and alpha images to RGB,
    // as PIL's convert("RGB") does (alpha is dropped, not blended; 16-bit colour keeps the high byte).
    rgb.reset(stbi_load_from_memory(data, len, &dw, &dh, &dc, 3));
  }
  DYBAT_CHECK(rgb != nullptr, "cannot decode image ", path, ": ", stbi_failure_reason());
  DYBAT_CHECK(dw == w && dh == h, "image ", path, ": header says ", w, "x", h, " but decoded ", dw, "x", dh);
  // Interleaved HWC -> planar CHW, then the resize per plane (skipped at the crop size).
  const int64_t n = static_cast<int64_t>(w) * h;
  std::vector<uint8_t> planes;
  uint8_t* dst = out;
  if (w != crop || h != crop) {
    planes.resize(static_cast<size_t>(3 * n));
    dst = planes.data();
  }
  const uint8_t* p = rgb.get();
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = p[3 * i];
    dst[n + i] = p[3 * i + 1];
    dst[2 * n + i] = p[3 * i + 2];
  }
  if (dst != out) resize_planes(dst, 3, h, w, out, crop, crop);
}

}  // namespace dybat
