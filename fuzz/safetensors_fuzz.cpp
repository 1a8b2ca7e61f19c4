// libFuzzer target for the safetensors reader: any bytes either parse into
// tensors whose views lie inside the input and match their dtype and shape,
// or raise WeightsError; nothing else.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = tessera::model::SafetensorsFile::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz");
    size_t total = 0;
    for (const auto& t : file.tensors()) {
      if (t.bytes != t.element_count() * tessera::model::element_size(t.dtype)) std::abort();
      total += t.bytes;
      // Touch every byte through the converters (ASan checks the bounds).
      if (t.to_float64().size() != t.element_count()) std::abort();
    }
    if (total + 8 > size) std::abort();
  } catch (const tessera::model::WeightsError&) {
  }
  return 0;
}
