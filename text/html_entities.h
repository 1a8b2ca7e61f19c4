#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace tessera::text {

struct HtmlEntity {
  std::string_view name;   // as written after '&', e.g. "amp;" or the bare legacy "amp"
  std::string_view value;  // UTF-8
};

struct HtmlEntityTable {
  const HtmlEntity* data;
  size_t size;
};

// All WHATWG named character references (the table Python's
// html.entities.html5 holds), sorted by name.
HtmlEntityTable html_entities();

std::optional<std::string_view> find_html_entity(std::string_view name);

}  // namespace tessera::text
