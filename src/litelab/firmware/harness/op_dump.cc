// See op_dump.h. Needs the interpreter built with preserve_all_tensors (main.cc does that
// when LITELAB_OP_DUMP_ARENA is defined), so every tensor still holds its value.
#include "op_dump.h"

#include "tensorflow/lite/micro/micro_log.h"

void LitelabOpDump(tflite::MicroInterpreter* interpreter, const tflite::Model* model, int frame) {
  const auto* subgraph = model->subgraphs()->Get(0);
  const auto* codes = model->operator_codes();
  for (unsigned i = 0; i < subgraph->operators()->size(); ++i) {
    const auto* op = subgraph->operators()->Get(i);
    const int index = op->outputs()->Get(0);
    const TfLiteEvalTensor* tensor = interpreter->GetTensor(index);
    const auto* shape = subgraph->tensors()->Get(index)->shape();
    size_t count = 1;
    for (unsigned d = 0; shape != nullptr && d < shape->size(); ++d) count *= shape->Get(d);
    size_t bytes = count;
    if (tensor != nullptr && tensor->type == kTfLiteFloat32) bytes = count * 4;
    if (tensor != nullptr && tensor->type == kTfLiteInt32) bytes = count * 4;
    if (tensor != nullptr && tensor->type == kTfLiteInt16) bytes = count * 2;
    uint32_t hash = 0x811C9DC5u;
    const uint8_t* data = tensor != nullptr ? tensor->data.uint8 : nullptr;
    for (size_t b = 0; data != nullptr && b < bytes; ++b) {
      hash ^= data[b];
      hash *= 0x01000193u;
    }
    const int code = codes->Get(op->opcode_index())->builtin_code();
    MicroPrintf("op %d %d: %s output tensor %d, %u bytes, fnv1a %08x", frame, static_cast<int>(i),
                tflite::EnumNameBuiltinOperator(static_cast<tflite::BuiltinOperator>(code)),
                index, static_cast<unsigned>(bytes), static_cast<unsigned>(hash));
  }
}
