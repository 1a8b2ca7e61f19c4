#include "slide/slide_discovery.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "base/ascii_case.h"
#include "base/error.h"
#include "slide/slide.h"

namespace tessera::stages {
namespace fs = std::filesystem;
namespace {

constexpr std::array<const char*, 11> kSlideExtensions = {".svs", ".tif",  ".tiff",    ".ndpi", ".vms", ".vmu",
                                                          ".scn", ".mrxs", ".svslide", ".bif",  ".dcm"};

bool has_slide_extension(const fs::path& path) {
  const std::string ext = ascii_lowercase(path.extension().string());
  return std::find(kSlideExtensions.begin(), kSlideExtensions.end(), ext) != kSlideExtensions.end();
}

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, ',')) fields.push_back(trim(field));
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

}  // namespace

std::vector<SlideSource> discover_slides(const std::vector<std::string>& paths) {
  std::vector<SlideSource> slides;
  for (const auto& given : paths) {
    const fs::path path(given);
    if (!fs::exists(path)) throw Error(given + ": no such file or folder");
    if (!fs::is_directory(path)) {
      slides.push_back({path.stem().string(), given});
      continue;
    }
    std::vector<fs::path> found;
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied);
         it != fs::recursive_directory_iterator(); ++it) {
      const auto name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file()) continue;
      if (has_slide_extension(it->path()) || is_openslide_file(it->path().string())) found.push_back(it->path());
    }
    std::sort(found.begin(), found.end());
    for (const auto& f : found) slides.push_back({f.stem().string(), f.string()});
  }
  return slides;
}

std::map<std::string, double> read_mpp_overrides(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the µm/px override CSV");
  std::string line;
  if (!std::getline(in, line)) throw Error(path + ": empty file; expected a header with columns slide,mpp");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const auto header = split_csv_line(line);
  const auto slide_col = std::find(header.begin(), header.end(), "slide") - header.begin();
  const auto mpp_col = std::find(header.begin(), header.end(), "mpp") - header.begin();
  if (slide_col == std::ptrdiff_t(header.size()) || mpp_col == std::ptrdiff_t(header.size())) {
    throw Error(path + ":1: the header must name the columns 'slide' and 'mpp'");
  }
  std::map<std::string, double> overrides;
  for (int number = 2; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const auto fields = split_csv_line(line);
    const auto where = path + ":" + std::to_string(number);
    if (fields.size() != header.size()) {
      throw Error(where + ": expected " + std::to_string(header.size()) + " fields, found " +
                  std::to_string(fields.size()));
    }
    const std::string& text = fields[size_t(mpp_col)];
    char* end = nullptr;
    const double mpp = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(mpp > 0) || !std::isfinite(mpp))
      throw Error(where + ": column 'mpp' is not a positive number: '" + text + "'");
    if (!overrides.emplace(fields[size_t(slide_col)], mpp).second) {
      throw Error(where + ": slide '" + fields[size_t(slide_col)] + "' is listed twice");
    }
  }
  if (overrides.empty()) throw Error(path + ": the header line is followed by no rows");
  return overrides;
}

}  // namespace tessera::stages
