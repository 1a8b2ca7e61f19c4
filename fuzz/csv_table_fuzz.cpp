// libFuzzer target for the CSV reader: any bytes either parse into a table whose
// rows all have the header's width, or raise tessera::Error; nothing else.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "base/error.h"
#include "prompts/csv_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto table =
        tessera::stages::parse_csv(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.csv");
    for (const auto& row : table.rows) {
      if (row.size() != table.header.size()) std::abort();
    }
    if (table.rows.size() != table.row_lines.size()) std::abort();
  } catch (const tessera::Error&) {
  }
  return 0;
}
