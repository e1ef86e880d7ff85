// TFLM's platform hooks for the QEMU boards: DebugLog over the CMSDK UART0, and
// GetCurrentTimeTicks from the core's SysTick (24 bits, widened by counting its wraps).
// Under `qemu-system-arm -icount shift=0` the emulated clock advances exactly 1 ns per
// executed instruction, and QEMU clocks SysTick at the board's CPU clock (LITELAB_TIMER_HZ:
// 25 MHz on mps2-an386, 32 MHz on mps3-an547), so one tick is 1e9 / LITELAB_TIMER_HZ
// instructions (40 and 31.25). litelab reads instruction counts off it: QEMU emulates
// neither the DWT cycle counter nor the PMU.
#include <cstdarg>
#include <cstdint>
#include <cstdio>

#include "tensorflow/lite/micro/debug_log.h"
#include "tensorflow/lite/micro/micro_time.h"
#include "tensorflow/lite/micro/system_setup.h"

#if !defined(LITELAB_UART_BASE) || !defined(LITELAB_TIMER_HZ)
#error "define LITELAB_UART_BASE (CMSDK UART0) and LITELAB_TIMER_HZ (the SysTick clock)"
#endif

namespace {
volatile uint32_t* const kUartData = reinterpret_cast<volatile uint32_t*>(LITELAB_UART_BASE);
volatile uint32_t* const kUartState = kUartData + 1;
volatile uint32_t* const kUartCtrl = kUartData + 2;
volatile uint32_t* const kSysTickCtrl = reinterpret_cast<volatile uint32_t*>(0xE000E010u);
volatile uint32_t* const kSysTickLoad = kSysTickCtrl + 1;
volatile uint32_t* const kSysTickValue = kSysTickCtrl + 2;
volatile uint32_t wraps = 0;  // SysTick periods of 2^24 ticks

void UartPutc(char c) {
  while (*kUartState & 1u) {  // TX buffer full
  }
  *kUartData = static_cast<uint8_t>(c);
}
}  // namespace

extern "C" void litelab_uart_puts(const char* s) {
  *kUartCtrl |= 1u;  // TX enable
  while (*s) UartPutc(*s++);
}

extern "C" void SysTick_Handler(void) { wraps = wraps + 1; }

extern "C" void DebugLog(const char* format, va_list args) {
  char buffer[512];
  vsnprintf(buffer, sizeof(buffer), format, args);
  litelab_uart_puts(buffer);
}

extern "C" int DebugVsnprintf(char* buffer, size_t buf_size, const char* format,
                              va_list vlist) {
  return vsnprintf(buffer, buf_size, format, vlist);
}

namespace tflite {

void InitializeTarget() {
  *kUartCtrl |= 1u;
  *kSysTickCtrl = 0;
  *kSysTickLoad = 0xFFFFFFu;
  *kSysTickValue = 0;
  *kSysTickCtrl = 7u;  // processor clock, interrupt on wrap, enable
  while (*kSysTickValue == 0) {  // the first tick loads 0xFFFFFF
  }
}

uint32_t ticks_per_second() { return LITELAB_TIMER_HZ; }

uint32_t GetCurrentTimeTicks() {
  uint32_t high, value;
  do {
    high = wraps;
    value = *kSysTickValue;
  } while (high != wraps);
  return (high << 24) + (0xFFFFFFu - value);
}

}  // namespace tflite
