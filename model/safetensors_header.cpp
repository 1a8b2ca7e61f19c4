#include "model/safetensors_header.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "model/weights_error.h"

// The JSON parser here is hand-written on purpose: model/ must build with
// LibTorch alone, and the GPU machines that run it do not have nlohmann-json
// (or any other JSON library). It only needs to read safetensors headers and
// Hugging Face shard indexes, so it is small, strict and bounded: RFC 8259
// grammar, UTF-8 validated, a nesting limit, and no trailing garbage.

namespace tessera::model {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t size;
};

constexpr std::array<DTypeInfo, 15> kDTypes{{
    {DType::kBool, "BOOL", 1},
    {DType::kU8, "U8", 1},
    {DType::kI8, "I8", 1},
    {DType::kF8E5M2, "F8_E5M2", 1},
    {DType::kF8E4M3, "F8_E4M3", 1},
    {DType::kI16, "I16", 2},
    {DType::kU16, "U16", 2},
    {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},
    {DType::kI32, "I32", 4},
    {DType::kU32, "U32", 4},
    {DType::kF32, "F32", 4},
    {DType::kI64, "I64", 8},
    {DType::kU64, "U64", 8},
    {DType::kF64, "F64", 8},
}};

const DTypeInfo& info(DType dtype) {
  for (const auto& i : kDTypes) {
    if (i.dtype == dtype) return i;
  }
  throw WeightsError("invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

class Parser {
 public:
  Parser(std::string_view text, const std::string& what, int max_depth)
      : text_(text), what_(what), max_depth_(max_depth) {}

  JsonValue document() {
    skip_ws();
    JsonValue v = value(0);
    skip_ws();
    if (pos_ != text_.size()) fail("unexpected trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw WeightsError(what_ + ": invalid JSON at byte " + std::to_string(pos_) + ": " + why, what_);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_ws() {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  void expect(char c) {
    if (peek() != c || at_end()) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  void literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) fail("invalid literal");
    pos_ += word.size();
  }

  JsonValue value(int depth) {
    if (at_end()) fail("unexpected end of input");
    JsonValue v;
    switch (text_[pos_]) {
      case '{':
        if (depth >= max_depth_) fail("nesting deeper than " + std::to_string(max_depth_));
        object(v, depth + 1);
        break;
      case '[':
        if (depth >= max_depth_) fail("nesting deeper than " + std::to_string(max_depth_));
        array(v, depth + 1);
        break;
      case '"':
        v.kind = JsonValue::Kind::kString;
        v.text = string();
        break;
      case 't':
        literal("true");
        v.kind = JsonValue::Kind::kBool;
        v.boolean = true;
        break;
      case 'f':
        literal("false");
        v.kind = JsonValue::Kind::kBool;
        break;
      case 'n':
        literal("null");
        break;
      default:
        v.kind = JsonValue::Kind::kNumber;
        v.text = number();
    }
    return v;
  }

  void object(JsonValue& v, int depth) {
    v.kind = JsonValue::Kind::kObject;
    expect('{');
    skip_ws();
    if (peek() == '}') {
      ++pos_;
      return;
    }
    for (;;) {
      skip_ws();
      if (peek() != '"') fail("expected a string key");
      const size_t key_pos = pos_;
      std::string key = string();
      for (const auto& m : v.members) {
        if (m.key == key) {
          pos_ = key_pos;
          fail("duplicate key \"" + key + "\"");
        }
      }
      skip_ws();
      expect(':');
      skip_ws();
      JsonValue child = value(depth);
      v.members.push_back(JsonMember{std::move(key), std::move(child)});
      skip_ws();
      if (peek() == ',' && !at_end()) {
        ++pos_;
        continue;
      }
      expect('}');
      return;
    }
  }

  void array(JsonValue& v, int depth) {
    v.kind = JsonValue::Kind::kArray;
    expect('[');
    skip_ws();
    if (peek() == ']' && !at_end()) {
      ++pos_;
      return;
    }
    for (;;) {
      skip_ws();
      v.items.push_back(value(depth));
      skip_ws();
      if (peek() == ',' && !at_end()) {
        ++pos_;
        continue;
      }
      expect(']');
      return;
    }
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  uint32_t hex4() {
    if (text_.size() - pos_ < 4) fail("truncated \\u escape");
    uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      cp <<= 4;
      if (c >= '0' && c <= '9') {
        cp |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        cp |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        cp |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        fail("invalid hex digit in \\u escape");
      }
    }
    return cp;
  }

  // Copies one UTF-8 encoded code point (first byte already known to be
  // >= 0x80) from the input, validating it: no overlongs, no surrogates,
  // nothing above U+10FFFF.
  void utf8_sequence(std::string& out) {
    const auto b0 = static_cast<uint8_t>(text_[pos_]);
    int extra = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      extra = 1, cp = b0 & 0x1Fu, min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      extra = 2, cp = b0 & 0x0Fu, min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      extra = 3, cp = b0 & 0x07u, min = 0x10000;
    } else {
      fail("invalid UTF-8");
    }
    if (text_.size() - pos_ <= static_cast<size_t>(extra)) fail("truncated UTF-8 sequence");
    for (int i = 1; i <= extra; ++i) {
      const auto b = static_cast<uint8_t>(text_[pos_ + static_cast<size_t>(i)]);
      if ((b & 0xC0) != 0x80) fail("invalid UTF-8");
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail("invalid UTF-8");
    out.append(text_.substr(pos_, static_cast<size_t>(extra) + 1));
    pos_ += static_cast<size_t>(extra) + 1;
  }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<uint8_t>(c) < 0x20) fail("control character in string");
      if (static_cast<uint8_t>(c) >= 0x80) {
        utf8_sequence(out);
        continue;
      }
      ++pos_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) fail("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail("unpaired low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") fail("unpaired high surrogate");
            pos_ += 2;
            const uint32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("unpaired high surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          fail("invalid escape");
      }
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  std::string number() {
    const size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (!digit(peek())) fail("invalid value");
    if (peek() == '0') {
      ++pos_;
      if (digit(peek())) fail("leading zero in number");
    } else {
      while (digit(peek())) ++pos_;
    }
    if (peek() == '.') {
      ++pos_;
      if (!digit(peek())) fail("digit expected after '.'");
      while (digit(peek())) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digit(peek())) fail("digit expected in exponent");
      while (digit(peek())) ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  std::string_view text_;
  const std::string& what_;
  int max_depth_;
  size_t pos_ = 0;
};

void dump_to(const JsonValue& v, std::string& out) {
  switch (v.kind) {
    case JsonValue::Kind::kNull:
      out += "null";
      break;
    case JsonValue::Kind::kBool:
      out += v.boolean ? "true" : "false";
      break;
    case JsonValue::Kind::kNumber:
      out += v.text;
      break;
    case JsonValue::Kind::kString:
      append_json_string(out, v.text);
      break;
    case JsonValue::Kind::kArray:
      out += '[';
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) out += ',';
        dump_to(v.items[i], out);
      }
      out += ']';
      break;
    case JsonValue::Kind::kObject:
      out += '{';
      for (size_t i = 0; i < v.members.size(); ++i) {
        if (i) out += ',';
        append_json_string(out, v.members[i].key);
        out += ':';
        dump_to(v.members[i].value, out);
      }
      out += '}';
      break;
  }
}

const char* kind_name(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::kNull:
      return "null";
    case JsonValue::Kind::kBool:
      return "a boolean";
    case JsonValue::Kind::kNumber:
      return "a number";
    case JsonValue::Kind::kString:
      return "a string";
    case JsonValue::Kind::kArray:
      return "an array";
    case JsonValue::Kind::kObject:
      return "an object";
  }
  return "?";
}

// A non-negative integer that fits int64, or an error naming `where` (in
// tensor `tensor`'s entry of `file`).
uint64_t non_negative(const JsonValue& v, const std::string& where, const std::string& file,
                      const std::string& tensor) {
  const auto n = v.kind == JsonValue::Kind::kNumber ? v.as_int64() : std::nullopt;
  if (!n || *n < 0) {
    throw WeightsError(where + " must be a non-negative integer, got " +
                           (v.kind == JsonValue::Kind::kNumber ? v.text : kind_name(v.kind)),
                       file, tensor);
  }
  return static_cast<uint64_t>(*n);
}

TensorEntry parse_entry(const std::string& name, const JsonValue& v, uint64_t buffer_size, const std::string& file) {
  const std::string where = file + ": tensor \"" + name + "\"";
  if (v.kind != JsonValue::Kind::kObject)
    throw WeightsError(where + ": entry must be an object, got " + kind_name(v.kind), file, name);
  TensorEntry e;
  e.name = name;
  for (const auto& m : v.members) {
    if (m.key != "dtype" && m.key != "shape" && m.key != "data_offsets") {
      throw WeightsError(where + ": unexpected field \"" + m.key + "\"", file, name);
    }
  }
  const JsonValue* dtype = v.find("dtype");
  const JsonValue* shape = v.find("shape");
  const JsonValue* offsets = v.find("data_offsets");
  if (!dtype || !shape || !offsets) {
    throw WeightsError(where + ": needs \"dtype\", \"shape\" and \"data_offsets\"", file, name);
  }
  if (dtype->kind != JsonValue::Kind::kString) throw WeightsError(where + ": dtype must be a string", file, name);
  const auto parsed = parse_dtype(dtype->text);
  if (!parsed) throw WeightsError(where + ": unknown dtype \"" + dtype->text + "\"", file, name);
  e.dtype = *parsed;

  if (shape->kind != JsonValue::Kind::kArray) throw WeightsError(where + ": shape must be an array", file, name);
  const uint64_t esize = element_size(e.dtype);
  uint64_t count = 1;
  for (const auto& d : shape->items) {
    const uint64_t dim = non_negative(d, where + ": shape dimension", file, name);
    e.shape.push_back(static_cast<int64_t>(dim));
    if (dim != 0 && count > std::numeric_limits<uint64_t>::max() / esize / dim) {
      throw WeightsError(where + ": element count overflows", file, name);
    }
    count *= dim;
  }

  if (offsets->kind != JsonValue::Kind::kArray || offsets->items.size() != 2) {
    throw WeightsError(where + ": data_offsets must be [begin, end]", file, name);
  }
  e.begin = non_negative(offsets->items[0], where + ": data_offsets begin", file, name);
  e.end = non_negative(offsets->items[1], where + ": data_offsets end", file, name);
  if (e.begin > e.end || e.end > buffer_size) {
    throw WeightsError(where + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                           "] are outside the " + std::to_string(buffer_size) + "-byte data buffer",
                       file, name);
  }
  if (e.end - e.begin != count * esize) {
    throw WeightsError(where + ": holds " + std::to_string(e.end - e.begin) + " bytes but its dtype and shape need " +
                           std::to_string(count * esize),
                       file, name);
  }
  return e;
}

}  // namespace

std::string_view dtype_name(DType dtype) { return info(dtype).name; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& i : kDTypes) {
    if (i.name == name) return i.dtype;
  }
  return std::nullopt;
}

size_t element_size(DType dtype) { return info(dtype).size; }

const JsonValue* JsonValue::find(std::string_view key) const {
  for (const auto& m : members) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

std::optional<int64_t> JsonValue::as_int64() const {
  if (kind != Kind::kNumber || text.empty()) return std::nullopt;
  const bool negative = text[0] == '-';
  const uint64_t limit = negative ? uint64_t{1} << 63 : static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t n = 0;
  for (size_t i = negative ? 1 : 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return std::nullopt;  // fraction or exponent
    const auto d = static_cast<uint64_t>(c - '0');
    if (n > (limit - d) / 10) return std::nullopt;
    n = n * 10 + d;
  }
  if (negative) return n == (uint64_t{1} << 63) ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(n);
  return static_cast<int64_t>(n);
}

std::string JsonValue::dump() const {
  std::string out;
  dump_to(*this, out);
  return out;
}

JsonValue parse_json(std::string_view text, const std::string& what, int max_depth) {
  return Parser(text, what, max_depth).document();
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<uint8_t>(c) < 0x20) {
          out += "\\u00";
          out += kHex[static_cast<uint8_t>(c) >> 4];
          out += kHex[static_cast<uint8_t>(c) & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

SafetensorsHeader parse_safetensors_header(std::string_view json, uint64_t buffer_size, const std::string& file) {
  const JsonValue root = parse_json(json, file + ": header");
  if (root.kind != JsonValue::Kind::kObject) {
    throw WeightsError(file + ": header must be a JSON object, got " + kind_name(root.kind), file);
  }
  SafetensorsHeader header;
  for (const auto& m : root.members) {
    if (m.key == "__metadata__") {
      if (m.value.kind != JsonValue::Kind::kObject) throw WeightsError(file + ": __metadata__ must be an object", file);
      for (const auto& kv : m.value.members) {
        if (kv.value.kind != JsonValue::Kind::kString) {
          throw WeightsError(file + ": __metadata__ value for \"" + kv.key + "\" must be a string", file, kv.key);
        }
        header.metadata.emplace(kv.key, kv.value.text);
      }
      continue;
    }
    header.tensors.push_back(parse_entry(m.key, m.value, buffer_size, file));
  }

  // The spec requires the tensors to cover the buffer exactly: sorted by
  // offset, each must start where the previous one ended.
  std::vector<const TensorEntry*> by_offset;
  for (const auto& t : header.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return std::make_pair(a->begin, a->end) < std::make_pair(b->begin, b->end);
  });
  uint64_t covered = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry* t : by_offset) {
    if (t->begin < covered) {
      throw WeightsError(file + ": tensor \"" + t->name + "\" overlaps tensor \"" + previous->name + "\"", file,
                         t->name);
    }
    if (t->begin > covered) {
      throw WeightsError(file + ": bytes [" + std::to_string(covered) + ", " + std::to_string(t->begin) +
                             ") before tensor \"" + t->name + "\" belong to no tensor",
                         file, t->name);
    }
    covered = t->end;
    previous = t;
  }
  if (covered != buffer_size) {
    throw WeightsError(file + ": the last " + std::to_string(buffer_size - covered) + " bytes of the " +
                           std::to_string(buffer_size) + "-byte data buffer belong to no tensor",
                       file);
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
  return header;
}

}  // namespace tessera::model
