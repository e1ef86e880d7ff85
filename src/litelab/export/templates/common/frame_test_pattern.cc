// frame_test_pattern.cc: a frame source for boards without a camera (see frame_source.h).
// It draws a test pattern: red rises left to right, green top to bottom, blue is a constant
// 128. On ESP-IDF it gives the same frame every time it is asked; elsewhere (a PC, a bare
// board) one frame, so that main() classifies it once and returns.
#include "frame_source.h"

bool GetFrame(uint8_t* rgb) {
#ifndef ESP_PLATFORM
  static bool served = false;
  if (served) return false;
  served = true;
#endif
  for (int y = 0; y < kFrameHeight; ++y) {
    for (int x = 0; x < kFrameWidth; ++x) {
      uint8_t* p = rgb + (y * kFrameWidth + x) * kFrameChannels;
      for (int c = 0; c < kFrameChannels; ++c) {
        const int value = c == 0   ? x * 255 / (kFrameWidth > 1 ? kFrameWidth - 1 : 1)
                          : c == 1 ? y * 255 / (kFrameHeight > 1 ? kFrameHeight - 1 : 1)
                                   : 128;
        p[c] = static_cast<uint8_t>(value);
      }
    }
  }
  return true;
}
