// Minimal start-up for the QEMU boards litelab runs firmware on (mps2-an386: Cortex-M4,
// mps3-an547: Cortex-M55): vector table, .data copy, .bss clear, FPU on, C++ constructors,
// main(), then exit through semihosting with main's status (QEMU needs -semihosting).
#include <stdint.h>

extern uint32_t __stack_top;
extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern int main(void);
extern void __libc_init_array(void);
void litelab_uart_puts(const char* s);
void SysTick_Handler(void);

static void semihost_exit(int status) {
  // SYS_EXIT (0x18) with ADP_Stopped_ApplicationExit (0x20026) for 0, else RunTimeError.
  register uint32_t r0 __asm__("r0") = 0x18;
  register uint32_t r1 __asm__("r1") = status == 0 ? 0x20026u : 0x20023u;
  __asm__ volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
  for (;;) {
  }
}

void litelab_exit(int status) { semihost_exit(status); }

extern uint32_t __stack_bottom;
#define STACK_PAINT 0x5AC3A55Cu

// The deepest the stack went: the painted words below it that nothing overwrote.
static void report_stack(void) {
  const uint32_t* p = &__stack_bottom;
  while (p < &__stack_top && *p == STACK_PAINT) ++p;
  unsigned used = (unsigned)((const uint8_t*)&__stack_top - (const uint8_t*)p);
  char text[48] = "stack used: ";
  char digits[12];
  int n = 0;
  do {
    digits[n++] = (char)('0' + used % 10);
    used /= 10;
  } while (used > 0);
  int i = 12;
  while (n > 0) text[i++] = digits[--n];
  const char* tail = " bytes\r\n";
  while (*tail) text[i++] = *tail++;
  text[i] = 0;
  litelab_uart_puts(text);
}

void Reset_Handler(void) {
  uint32_t* src = &__data_load;
  for (uint32_t* dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
  for (uint32_t* dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
  // Paint the stack below this frame, to measure how deep main() goes.
  uint32_t here;
  for (uint32_t* dst = &__stack_bottom; dst < &here - 16;) *dst++ = STACK_PAINT;
  // CPACR: full access to CP10 and CP11 (the FPU, and MVE on the Cortex-M55).
  *(volatile uint32_t*)0xE000ED88u |= (0xFu << 20);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  __libc_init_array();
  const int status = main();
  report_stack();
  semihost_exit(status);
}

static void Fault_Handler(void) {
  litelab_uart_puts("litelab: fault (HardFault/MemManage/BusFault/UsageFault)\r\n");
  semihost_exit(3);
}

static void Default_Handler(void) {
  litelab_uart_puts("litelab: unexpected interrupt\r\n");
  semihost_exit(4);
}

typedef void (*Vector)(void);
__attribute__((section(".vectors"), used)) const Vector litelab_vectors[16] = {
    (Vector)(&__stack_top), Reset_Handler,   Default_Handler, Fault_Handler,
    Fault_Handler,          Fault_Handler,   Fault_Handler,   Fault_Handler,
    0,                      0,               0,               Default_Handler,
    Default_Handler,        0,               Default_Handler, SysTick_Handler,
};

// newlib's _sbrk: TFLM allocates nothing on the heap, but newlib may ask for a little.
extern uint32_t __heap_start, __heap_end;
void* _sbrk(int incr) {
  static uint8_t* brk = (uint8_t*)&__heap_start;
  if (brk + incr > (uint8_t*)&__heap_end) return (void*)-1;
  uint8_t* old = brk;
  brk += incr;
  return old;
}
