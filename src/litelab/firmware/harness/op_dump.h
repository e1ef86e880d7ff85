// litelab's op-by-op diagnostic (compiled in only with -DLITELAB_OP_DUMP_ARENA=<bytes>): after
// each Invoke(), prints every operator's first output tensor as its FNV-1a, so that two
// builds of the same program (host and QEMU) can be compared op by op.
#ifndef LITELAB_OP_DUMP_H_
#define LITELAB_OP_DUMP_H_

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

void LitelabOpDump(tflite::MicroInterpreter* interpreter, const tflite::Model* model, int frame);

#endif  // LITELAB_OP_DUMP_H_
