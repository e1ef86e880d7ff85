// A stand-in for ESP-IDF's esp_timer.h, for building esp-tflite-micro's ESP-NN kernel
// wrappers on a PC: they only call esp_timer_get_time() to add up their own profiling
// counters. On a PC it returns 0; nothing litelab checks depends on it.
#ifndef LITELAB_ESP_TIMER_STUB_H_
#define LITELAB_ESP_TIMER_STUB_H_
#include <stdint.h>
static inline int64_t esp_timer_get_time(void) { return 0; }
#endif
