#pragma once

#include <string>
#include <string_view>

namespace tessera::text {

// The text CLIP's simple_tokenizer.py hands to its pre-tokenising regex:
// whitespace_clean(basic_clean(text)).lower(), that is ftfy.fix_text, then
// html.unescape twice, Python's whitespace collapsing and stripping, then
// str.lower(). Input bytes that are not UTF-8 become U+FFFD first (Python
// would have refused them); the result is valid UTF-8 without NUL.
//
// ftfy.fix_text is reproduced in its default configuration except for
// fix_encoding, the heuristic mojibake repair ("cafÃ©" stays as it is; ftfy
// would make it "café"). Everything else it does runs in its order, once per
// line and repeated until nothing changes: its own HTML unescaping (only
// ";"-terminated references, upper-cased Latin names such as "&EACUTE;" too,
// and none at all from the first line holding a '<' onwards), C1 controls as
// Windows-1252, Latin ligatures, half- and full-width forms, curly quotes,
// line breaks, terminal escapes, control characters, then NFC.
std::string clean_text(std::string_view text);

// Only the ftfy.fix_text part, on UTF-8.
std::string fix_text(std::string_view text);

}  // namespace tessera::text
