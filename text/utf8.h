#pragma once

#include <string>
#include <string_view>

namespace tessera::text {

inline constexpr char32_t kReplacementCharacter = U'\uFFFD';

// Decodes UTF-8 the way Python's bytes.decode("utf-8", errors="replace")
// does: each maximal ill-formed subsequence (a truncated sequence, a stray
// continuation byte, an overlong form, a surrogate, a value past U+10FFFF)
// becomes one U+FFFD. NUL is an ordinary character.
std::u32string decode_utf8(std::string_view bytes);

void append_utf8(std::string& out, char32_t c);
std::string encode_utf8(std::u32string_view text);

}  // namespace tessera::text
