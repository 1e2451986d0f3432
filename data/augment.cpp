// The --augment setting's parser (data/dataset.h), apart from the batch loader so that the
// command-line parser and its fuzz target need no kernels.
#include <sstream>

#include "core/error.h"
#include "data/dataset.h"

namespace dybat {

AugmentOptions parse_augment(const std::string& text) {
  AugmentOptions a;
  if (text.empty() || text == "none") return a;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == "crop") {
      a.random_crop = true;
    } else if (item == "flip") {
      a.flip = true;
    } else {
      DYBAT_FAIL("--augment: unknown item '", item, "' in '", text,
                 "' (expected 'none' or a comma list of 'crop' and 'flip')");
    }
  }
  return a;
}

}  // namespace dybat
