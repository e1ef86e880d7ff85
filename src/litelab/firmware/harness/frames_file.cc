// A frame source for litelab's host check (see frame_source.h): reads raw RGB888 frames, one
// after another, from the file named by the LITELAB_FRAMES environment variable.
#include <cstdio>
#include <cstdlib>

#include "frame_source.h"

bool GetFrame(uint8_t* rgb) {
  static FILE* file = nullptr;
  static bool opened = false;
  if (!opened) {
    opened = true;
    const char* path = std::getenv("LITELAB_FRAMES");
    file = path != nullptr ? std::fopen(path, "rb") : nullptr;
    if (file == nullptr) std::fprintf(stderr, "litelab: cannot open LITELAB_FRAMES\n");
  }
  if (file == nullptr) return false;
  const size_t bytes = static_cast<size_t>(kFrameHeight) * kFrameWidth * kFrameChannels;
  return std::fread(rgb, 1, bytes, file) == bytes;
}
