#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::text {

// Python's html.unescape (HTML5 rules): named references from the WHATWG
// table, where a name not ended by ';' decodes its longest known legacy prefix
// ("&ampx" -> "&x"); decimal and hex references with or without ';', where 0,
// surrogates and values past U+10FFFF give U+FFFD, 0x80..0x9F give their
// Windows-1252 characters and other non-characters or controls vanish.
std::u32string html_unescape(std::u32string_view text);

// The character Windows-1252 gives a byte 0x80..0x9F, or the C1 control of the
// same value where Windows-1252 leaves the byte undefined (0x81, 0x8D, 0x8F,
// 0x90, 0x9D), as ftfy's "sloppy" codec and the HTML5 reference table do.
char32_t sloppy_windows_1252(uint8_t byte);

}  // namespace tessera::text
