#include "text/text_cleanup.h"

#include <glib.h>

#include <array>
#include <memory>
#include <unordered_map>

#include "html_entities.h"
#include "html_unescape.h"
#include "utf8.h"

namespace tessera::text {
namespace {

using Text = std::u32string;

// ftfy fixes a text in segments of one line (or of this many characters).
constexpr size_t kMaxSegment = 1000000;

// A Unicode normalisation by GLib. GLib stops at NUL, so NUL-separated pieces
// go through one at a time (NUL is a starter: nothing composes across it).
Text normalize(const Text& text, GNormalizeMode mode) {
  Text out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(U'\0', start);
    if (end == Text::npos) end = text.size();
    const std::string piece = encode_utf8(std::u32string_view(text).substr(start, end - start));
    std::unique_ptr<gchar, decltype(&g_free)> normalized(g_utf8_normalize(piece.data(), gssize(piece.size()), mode),
                                                         &g_free);
    out += normalized ? decode_utf8(normalized.get()) : decode_utf8(piece);
    if (end == text.size()) break;
    out.push_back(U'\0');
    start = end + 1;
  }
  return out;
}

// ftfy's fix_character_width: U+FF01..U+FFEF to their NFKC forms, and the
// ideographic space to a space.
constexpr char32_t kWidthFirst = 0xFF01;
constexpr char32_t kWidthLast = 0xFFEF;

const std::array<Text, kWidthLast - kWidthFirst + 1>& width_map() {
  static const auto map = [] {
    std::array<Text, kWidthLast - kWidthFirst + 1> m;
    for (char32_t c = kWidthFirst; c <= kWidthLast; ++c) {
      const Text one(1, c);
      Text standard = normalize(one, G_NORMALIZE_NFKC);
      if (standard != one) m[c - kWidthFirst] = std::move(standard);
    }
    return m;
  }();
  return map;
}

// ftfy's fix_latin_ligatures.
const Text* latin_ligature(char32_t c) {
  static const std::unordered_map<char32_t, Text> map = {
      {0x0132, U"IJ"},      {0x0133, U"ij"}, {0x0149, U"\u02BCn"}, {0x01C4, U"D\u017D"}, {0x01C5, U"D\u017E"},
      {0x01C6, U"d\u017E"}, {0x01C7, U"LJ"}, {0x01C8, U"Lj"},      {0x01C9, U"lj"},      {0x01CA, U"NJ"},
      {0x01CB, U"Nj"},      {0x01CC, U"nj"}, {0x01F1, U"DZ"},      {0x01F2, U"Dz"},      {0x01F3, U"dz"},
      {0xFB00, U"ff"},      {0xFB01, U"fi"}, {0xFB02, U"fl"},      {0xFB03, U"ffi"},     {0xFB04, U"ffl"},
      {0xFB05, U"\u017Ft"}, {0xFB06, U"st"}};
  const auto it = map.find(c);
  return it == map.end() ? nullptr : &it->second;
}

char32_t uncurl_quote(char32_t c) {
  if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) return U'\'';
  if (c >= 0x201C && c <= 0x201F) return U'"';
  return c;
}

// fix_character_width then uncurl_quotes, on one character.
void append_width_fixed_uncurled(Text& out, char32_t c) {
  if (c == 0x3000) {
    out.push_back(U' ');
  } else if (c >= kWidthFirst && c <= kWidthLast && !width_map()[c - kWidthFirst].empty()) {
    for (const char32_t w : width_map()[c - kWidthFirst]) out.push_back(uncurl_quote(w));
  } else {
    out.push_back(uncurl_quote(c));
  }
}

// fix_c1_controls, fix_latin_ligatures, fix_character_width and
// uncurl_quotes: each maps single characters to strings, so they compose
// character by character.
Text translate_characters(const Text& text) {
  Text out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c >= 0x80 && c <= 0x9F) c = sloppy_windows_1252(uint8_t(c));
    if (const Text* parts = latin_ligature(c)) {
      for (const char32_t part : *parts) append_width_fixed_uncurled(out, part);
    } else {
      append_width_fixed_uncurled(out, c);
    }
  }
  return out;
}

Text fix_line_breaks(const Text& text) {
  Text out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == U'\r') {
      out.push_back(U'\n');
      if (i + 1 < text.size() && text[i + 1] == U'\n') ++i;
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
      out.push_back(U'\n');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool is_ascii_letter(char32_t c) { return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z'); }

// ESC '[' then decimal digits (any script, as Python's \d) or ';', then an
// ASCII letter.
Text remove_terminal_escapes(const Text& text) {
  Text out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == 0x1B && i + 1 < text.size() && text[i + 1] == U'[') {
      size_t k = i + 2;
      while (k < text.size() && (text[k] == U';' || g_unichar_isdigit(gunichar(text[k])))) ++k;
      if (k < text.size() && is_ascii_letter(text[k])) {
        i = k;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

bool is_unwanted_control(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

Text remove_control_chars(const Text& text) {
  Text out;
  out.reserve(text.size());
  for (const char32_t c : text) {
    if (!is_unwanted_control(c)) out.push_back(c);
  }
  return out;
}

bool is_ascii_alnum(char32_t c) { return is_ascii_letter(c) || (c >= U'0' && c <= U'9'); }

// Python's str.upper() of an entity's value: the full (SpecialCasing) upper
// case, as GLib's g_utf8_strup gives it.
Text python_upper(std::string_view utf8) {
  std::unique_ptr<gchar, decltype(&g_free)> upper(g_utf8_strup(utf8.data(), gssize(utf8.size())), &g_free);
  return decode_utf8(upper.get());
}

// ftfy decodes "&NAME;" for every all-lower-case HTML5 name "&name;" whose
// upper-cased spelling html.unescape leaves alone, as the upper case of the
// value ("&EACUTE;" -> "É").
const std::unordered_map<std::string, Text>& upper_case_entities() {
  static const auto map = [] {
    std::unordered_map<std::string, Text> m;
    const auto table = html_entities();
    for (size_t i = 0; i < table.size; ++i) {
      const auto& entity = table.data[i];
      if (entity.name.empty() || entity.name.back() != ';') continue;
      std::string upper(entity.name);
      bool lower_case = true;
      for (char& ch : upper) {
        if (ch >= 'A' && ch <= 'Z') lower_case = false;
        if (ch >= 'a' && ch <= 'z') ch = char(ch - 'a' + 'A');
      }
      if (!lower_case) continue;
      const Text written = decode_utf8("&" + upper);
      if (html_unescape(written) != written) continue;
      m.emplace(upper, python_upper(entity.value));
    }
    return m;
  }();
  return map;
}

// ftfy's unescape_html: "&" + an optional "#" + 1..24 ASCII letters or digits
// + ";". Named ones must be HTML5 names ending in ";" (or their upper-case
// variants); numeric ones decode as html.unescape does, unless that leaves a
// ";" behind.
Text ftfy_unescape_html(const Text& text) {
  Text out;
  out.reserve(text.size());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    if (text[i] == U'&') {
      const bool numeric = i + 1 < n && text[i + 1] == U'#';
      const size_t name_start = i + (numeric ? 2 : 1);
      size_t length = 0;
      while (name_start + length < n && length <= 24 && is_ascii_alnum(text[name_start + length])) ++length;
      const size_t semicolon = name_start + length;
      if (length >= 1 && length <= 24 && semicolon < n && text[semicolon] == U';') {
        const std::u32string_view reference = std::u32string_view(text).substr(i, semicolon + 1 - i);
        i = semicolon + 1;
        if (numeric) {
          const Text decoded = html_unescape(reference);
          out += decoded.find(U';') == Text::npos ? decoded : Text(reference);
          continue;
        }
        std::string name;
        for (const char32_t c : reference.substr(1)) name.push_back(char(c));
        if (const auto value = find_html_entity(name)) {
          out += decode_utf8(*value);
        } else if (const auto it = upper_case_entities().find(name); it != upper_case_entities().end()) {
          out += it->second;
        } else {
          out += reference;
        }
        continue;
      }
    }
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

// One segment of ftfy's fix_and_explain with fix_encoding off: every fixer in
// its order, again and again until the text stops changing.
Text fix_segment(Text text, bool unescape_html) {
  while (true) {
    Text before = text;
    if (unescape_html) text = ftfy_unescape_html(text);
    text = translate_characters(text);
    text = fix_line_breaks(text);
    text = remove_terminal_escapes(text);
    text = remove_control_chars(text);
    text = normalize(text, G_NORMALIZE_NFC);
    if (text == before) return text;
  }
}

Text fix_text_u32(const Text& text) {
  Text out;
  bool unescape_html = true;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find(U'\n', start);
    end = end == Text::npos ? text.size() : end + 1;
    if (end - start > kMaxSegment) end = start + kMaxSegment;
    Text segment = text.substr(start, end - start);
    // Once a line holds a '<', this and every later line may be HTML whose
    // entities are meant literally.
    if (segment.find(U'<') != Text::npos) unescape_html = false;
    out += fix_segment(std::move(segment), unescape_html);
    start = end;
  }
  return out;
}

// Python's str.isspace(), which is what `\s` and str.strip() use.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

Text collapse_whitespace(const Text& text) {
  Text out;
  out.reserve(text.size());
  bool pending_space = false;
  for (const char32_t c : text) {
    if (is_python_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(U' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

// Unicode's Case_Ignorable: marks, format characters, modifier letters and
// symbols, and the apostrophes and word-internal dots and colons.
bool is_case_ignorable(char32_t c) {
  switch (g_unichar_type(gunichar(c))) {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL:
      return true;
    default:
      break;
  }
  switch (c) {
    case 0x0027:
    case 0x002E:
    case 0x003A:
    case 0x00B7:
    case 0x0387:
    case 0x055F:
    case 0x05F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A:
      return true;
    default:
      return false;
  }
}

// Unicode's Cased, as far as the final-sigma rule can see it: letters with
// case, and the characters with Other_Lowercase or Other_Uppercase that are
// not case-ignorable anyway (ordinal indicators, Roman numerals, circled and
// squared Latin letters).
bool is_cased(char32_t c) {
  const auto type = g_unichar_type(gunichar(c));
  if (type == G_UNICODE_LOWERCASE_LETTER || type == G_UNICODE_UPPERCASE_LETTER || type == G_UNICODE_TITLECASE_LETTER) {
    return true;
  }
  return c == 0xAA || c == 0xBA || (c >= 0x2160 && c <= 0x217F) || (c >= 0x24B6 && c <= 0x24E9) ||
         (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

// Python's Final_Sigma rule: a capital sigma after a cased letter and not
// before one (case-ignorable characters in between skipped) is final.
bool is_final_sigma(const Text& text, size_t at) {
  size_t j = at;
  while (j > 0 && is_case_ignorable(text[j - 1])) --j;
  if (j == 0 || !is_cased(text[j - 1])) return false;
  size_t k = at + 1;
  while (k < text.size() && is_case_ignorable(text[k])) ++k;
  return k == text.size() || !is_cased(text[k]);
}

// Python's str.lower(): the simple lower case of every character (GLib's
// g_unichar_tolower, which unlike g_utf8_strdown ignores the locale, but maps
// letters only), the two non-letter ranges Unicode gives a lower case (Roman
// numerals and circled Latin capitals), and what Unicode's SpecialCasing adds
// without a language: U+0130 and the final sigma.
Text python_lower(const Text& text) {
  Text out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == 0x0130) {
      out += U"i\u0307";
    } else if (c == 0x03A3) {
      out.push_back(is_final_sigma(text, i) ? 0x03C2 : 0x03C3);
    } else if ((c >= 0x2160 && c <= 0x216F) || (c >= 0x24B6 && c <= 0x24CF)) {
      out.push_back(c + (c <= 0x216F ? 0x10 : 26));
    } else {
      out.push_back(char32_t(g_unichar_tolower(gunichar(c))));
    }
  }
  return out;
}

}  // namespace

std::string fix_text(std::string_view text) { return encode_utf8(fix_text_u32(decode_utf8(text))); }

std::string clean_text(std::string_view text) {
  Text t = fix_text_u32(decode_utf8(text));
  t = html_unescape(html_unescape(t));
  return encode_utf8(python_lower(collapse_whitespace(t)));
}

}  // namespace tessera::text
