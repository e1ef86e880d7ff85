// Host check: prints the embedded model's length and FNV-1a checksum, to compare with the
// .tflite file (litelab prints both). Build and run on a PC:
//   g++ -std=c++17 -Imain host/check_model.cc main/model_data.cc -o check_model && ./check_model
#include <cstdint>
#include <cstdio>

#include "labels.h"
#include "model_data.h"

int main() {
  uint32_t hash = 0x811C9DC5u;
  for (unsigned int i = 0; i < g_model_data_len; ++i) {
    hash ^= g_model_data[i];
    hash *= 0x01000193u;
  }
  const unsigned long address = reinterpret_cast<unsigned long>(g_model_data);
  std::printf("g_model_data_len=%u\n", g_model_data_len);
  std::printf("fnv1a=%08x\n", static_cast<unsigned>(hash));
  std::printf("aligned16=%d\n", address % 16 == 0 ? 1 : 0);
  std::printf("labels=%d first=%s\n", kNumLabels, kNumLabels > 0 ? kLabels[0] : "");
  return 0;
}
