// The stb_image implementation, compiled in a file of its own so that the build can treat the
// third-party code apart from ours: the sanitizer builds turn UndefinedBehaviorSanitizer's
// shift-exponent check (with GCC: its whole shift check) off for this file alone (CMakeLists.txt,
// tests/fuzz/CMakeLists.txt). When a corrupt JPEG's entropy-coded data ends early, stb_image 2.27
// refills its bit buffer with zero bytes shifted by 32 bits or more: undefined in C, zero on every
// machine (the byte shifted is 0), and not something a check of the file's structure can rule
// out. Every other check stays on.
#define STB_IMAGE_IMPLEMENTATION
#include "data/stb_image_config.h"
