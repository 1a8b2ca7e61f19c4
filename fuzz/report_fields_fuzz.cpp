// libFuzzer target for the report extractor: any bytes give fields whose spans
// lie inside the text, are not empty and carry a value; nothing else.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "prompts/report_fields.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& field : tessera::stages::extract_report_fields(text)) {
    if (field.begin >= field.end || field.end > text.size() || field.value.empty()) std::abort();
  }
  return 0;
}
