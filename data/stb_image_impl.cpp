// The stb_image implementation, compiled in a file of its own so that the build can treat the
// third-party code apart from ours (CMakeLists.txt, tests/fuzz/CMakeLists.txt). Corrupt JPEG
// entropy-coded data, which no check of the file's structure can rule out, takes stb_image 2.27
// into two kinds of undefined behaviour, and an empty PNG chunk into a third; everything else
// UndefinedBehaviorSanitizer checks stays on:
// - Signed overflow: a DC coefficient summed over many blocks, times a 16-bit quantiser, overflows
//   int. This file is compiled with -fwrapv in every build, which defines it as wrapping around,
//   so such a file decodes to wrong pixels (as with any decoder) and nothing worse; the sanitizer
//   builds drop their signed-overflow check here.
// - When the data ends early, stb refills its bit buffer with zero bytes shifted by 32 bits or
//   more: zero on every machine (the byte shifted is 0). The sanitizer builds drop the
//   shift-exponent check here (with GCC, which ignores that option, the whole shift check).
// And for PNG: a first IDAT chunk of length 0 makes stb copy 0 bytes into its still-null data
// buffer (memcpy(NULL, p, 0)), which copies nothing but passes null where memcpy is declared
// non-null. The PNG format allows an empty IDAT chunk; the sanitizer builds drop the
// nonnull-attribute check here.
#define STB_IMAGE_IMPLEMENTATION
#include "data/stb_image_config.h"
