// A frame source for litelab's QEMU check (see frame_source.h): the test images are linked
// into the program (frames_data.cc, written by litelab) and served in order.
#include <cstring>

#include "frame_source.h"

extern const uint8_t kLitelabFrames[];
extern const int kLitelabFrameCount;

bool GetFrame(uint8_t* rgb) {
  static int next = 0;
  if (next >= kLitelabFrameCount) return false;
  const int bytes = kFrameHeight * kFrameWidth * kFrameChannels;
  std::memcpy(rgb, kLitelabFrames + next * bytes, bytes);
  ++next;
  return true;
}
