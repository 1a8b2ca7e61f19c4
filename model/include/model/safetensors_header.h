#pragma once

// The JSON side of the safetensors format: a small strict JSON parser and the
// validation of a safetensors header against its byte buffer.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::model {

// Element types of the safetensors format.
enum class DType { kBool, kU8, kI8, kF8E5M2, kF8E4M3, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kI64, kU64, kF64 };

// The format's name for `dtype` ("F32", "BF16", ...), and back (nullopt when unknown).
std::string_view dtype_name(DType dtype);
std::optional<DType> parse_dtype(std::string_view name);

// Bytes per element.
size_t element_size(DType dtype);

// A parsed JSON document. Objects keep their members in document order;
// duplicate keys are rejected by the parser.
struct JsonMember;
struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // decoded string, or a number's literal as written
  std::vector<JsonValue> items;
  std::vector<JsonMember> members;

  // The member named `key` of an object, or nullptr.
  const JsonValue* find(std::string_view key) const;
  // The value of an integer literal (no fraction or exponent) that fits int64.
  std::optional<int64_t> as_int64() const;
  // Compact JSON text for this value.
  std::string dump() const;
};
struct JsonMember {
  std::string key;
  JsonValue value;
};

// Parses one JSON value (RFC 8259) followed only by whitespace. Strings must
// be valid UTF-8; \u escapes must pair surrogates correctly; nesting deeper
// than `max_depth` is rejected. Throws WeightsError starting with `what`.
JsonValue parse_json(std::string_view text, const std::string& what, int max_depth = 64);

// Writes `s` as a JSON string literal (quotes included) onto `out`.
void append_json_string(std::string& out, std::string_view s);

// One tensor entry of a validated safetensors header.
struct TensorEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data buffer
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<TensorEntry> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
};

// Parses and validates a safetensors header: the JSON object, each tensor's
// dtype, shape and offsets, and that the tensors exactly tile a data buffer of
// `buffer_size` bytes (no overlaps, no holes). `file` names the source in the
// WeightsError messages.
SafetensorsHeader parse_safetensors_header(std::string_view json, uint64_t buffer_size, const std::string& file);

}  // namespace tessera::model
