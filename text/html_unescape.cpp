#include "html_unescape.h"

#include <optional>

#include "html_entities.h"
#include "utf8.h"

namespace tessera::text {
namespace {

constexpr char32_t kPastMaxCodePoint = 0x110000;
constexpr size_t kMaxNameLength = 32;

bool is_ascii_digit(char32_t c) { return c >= U'0' && c <= U'9'; }

int hex_value(char32_t c) {
  if (is_ascii_digit(c)) return int(c - U'0');
  if (c >= U'a' && c <= U'f') return int(c - U'a' + 10);
  if (c >= U'A' && c <= U'F') return int(c - U'A' + 10);
  return -1;
}

// Characters a named reference cannot contain (the rest of Python's pattern).
bool ends_name(char32_t c) {
  return c == U'\t' || c == U'\n' || c == U'\f' || c == U' ' || c == U'<' || c == U'&' || c == U'#' || c == U';';
}

bool is_invalid_code_point(char32_t c) {
  if ((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || (c >= 0x7F && c <= 0x9F)) return true;
  if (c >= 0xFDD0 && c <= 0xFDEF) return true;
  return (c & 0xFFFE) == 0xFFFE;  // U+FFFE, U+FFFF and their copies in every plane
}

std::u32string numeric_reference(char32_t value) {
  if (value == 0) return std::u32string(1, kReplacementCharacter);
  if (value == 0x0D) return U"\r";
  if (value >= 0x80 && value <= 0x9F) return std::u32string(1, sloppy_windows_1252(uint8_t(value)));
  if ((value >= 0xD800 && value <= 0xDFFF) || value >= kPastMaxCodePoint) {
    return std::u32string(1, kReplacementCharacter);
  }
  if (is_invalid_code_point(value)) return {};
  return std::u32string(1, value);
}

std::optional<std::u32string> lookup(std::u32string_view name) {
  std::string ascii;
  for (const char32_t c : name) {
    if (c >= 0x80) return std::nullopt;
    ascii.push_back(char(c));
  }
  const auto value = find_html_entity(ascii);
  if (!value) return std::nullopt;
  return decode_utf8(*value);
}

// Decodes the reference starting at text[at] == '&'. Returns the number of
// characters consumed (0 when nothing there is a reference) and appends the
// replacement to `out`.
size_t decode_reference(std::u32string_view text, size_t at, std::u32string& out) {
  const size_t n = text.size();
  size_t i = at + 1;
  if (i < n && text[i] == U'#') {
    ++i;
    const bool hex = i < n && (text[i] == U'x' || text[i] == U'X');
    if (hex) ++i;
    const size_t digits_start = i;
    char32_t value = 0;
    for (; i < n && (hex ? hex_value(text[i]) >= 0 : is_ascii_digit(text[i])); ++i) {
      const char32_t digit = hex ? char32_t(hex_value(text[i])) : text[i] - U'0';
      value = value >= kPastMaxCodePoint ? kPastMaxCodePoint : value * (hex ? 16 : 10) + digit;
    }
    if (i == digits_start) return 0;
    if (i < n && text[i] == U';') ++i;
    out += numeric_reference(value);
    return i - at;
  }
  const size_t name_start = i;
  while (i < n && i - name_start < kMaxNameLength && !ends_name(text[i])) ++i;
  if (i == name_start) return 0;
  if (i < n && text[i] == U';') ++i;
  const std::u32string_view name = text.substr(name_start, i - name_start);
  if (auto value = lookup(name)) {
    out += *value;
    return i - at;
  }
  for (size_t length = name.size() - 1; length >= 2; --length) {
    if (auto value = lookup(name.substr(0, length))) {
      out += *value;
      out += name.substr(length);
      return i - at;
    }
  }
  out += U'&';
  out += name;
  return i - at;
}

}  // namespace

char32_t sloppy_windows_1252(uint8_t byte) {
  static constexpr char16_t kHigh[32] = {0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                         0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
                                         0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                         0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};
  if (byte >= 0x80 && byte <= 0x9F) return kHigh[byte - 0x80];
  return byte;
}

std::u32string html_unescape(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text[i] == U'&') {
      if (const size_t used = decode_reference(text, i, out)) {
        i += used;
        continue;
      }
    }
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

}  // namespace tessera::text
