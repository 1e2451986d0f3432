// train: the placeholder until the training loop lands.
#include <cstdio>

int main() {
  std::puts("usage: train --net NAME --delta D [options]  (training loop not built yet)");
  return 0;
}
