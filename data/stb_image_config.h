// The one configuration of stb_image (Debian's libstb-dev) for the project: the declarations for
// data/image_decode.cpp, and with STB_IMAGE_IMPLEMENTATION defined first, the implementation in
// data/stb_image_impl.cpp.
#pragma once

// Only the formats of an image folder: the other decoders (GIF, PSD, PIC, TGA, HDR) would accept
// files no one meant as images (TGA has no signature at all) and widen what untrusted bytes reach.
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#define STBI_NO_LINEAR
#define STBI_NO_STDIO  // decoded from memory, so every read goes through io:: with its errors
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include "stb_image.h"
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
