#include "slide/slide_discovery.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "base/error.h"
#include "slide/dicom_series.h"
#include "slide/slide.h"
#include "slide/slide_format.h"

namespace tessera::stages {
namespace fs = std::filesystem;
namespace {

bool has_slide_extension(const fs::path& path) {
  const std::string name = path.string();
  return has_extension_in(name, std::begin(kReadableExtensions), std::end(kReadableExtensions)) ||
         has_extension_in(name, std::begin(kUnreadableSlideExtensions), std::end(kUnreadableSlideExtensions));
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

// Keeps letters, digits, '.', '-' and '_'; anything else becomes '_'.
std::string safe_id(const std::string& text) {
  std::string id = trim(text);
  for (char& c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  }
  return id;
}

// The slides of the DICOM files found under one given path (docs in the header).
// `scanned`: the files were found in a folder, not given by name.
void add_dicom_series(const std::vector<fs::path>& files, bool scanned, std::vector<SlideSource>& slides) {
  std::vector<DicomInstance> instances;
  for (const auto& file : files) {
    try {
      instances.push_back(read_dicom_instance(file.string()));
    } catch (const Error&) {
      slides.push_back({file.stem().string(), file.string(), {file.string()}});  // fails when opened, with the reason
    }
  }
  const auto series = group_dicom_series(std::move(instances));
  std::map<fs::path, std::set<std::string>> series_in_folder;
  for (const auto& s : series) {
    for (const auto& instance : s.instances) series_in_folder[fs::path(instance.path).parent_path()].insert(s.uid);
  }
  for (const auto& s : series) {
    SlideSource source;
    std::set<fs::path> folders;
    for (const auto& instance : s.instances) {
      source.files.push_back(instance.path);
      folders.insert(fs::path(instance.path).parent_path());
    }
    const bool folder_alone = scanned && folders.size() == 1 && series_in_folder[*folders.begin()].size() == 1;
    const auto base = std::max_element(s.instances.begin(), s.instances.end(), [](const auto& a, const auto& b) {
      return std::make_tuple(a.flavour == DicomInstance::Flavour::kVolume, a.total_columns, b.path) <
             std::make_tuple(b.flavour == DicomInstance::Flavour::kVolume, b.total_columns, a.path);
    });
    source.path = folder_alone ? folders.begin()->string() : base->path;
    const auto container = std::find_if(s.instances.begin(), s.instances.end(),
                                        [](const DicomInstance& i) { return !safe_id(i.container_id).empty(); });
    if (container != s.instances.end()) {
      source.id = safe_id(container->container_id);
    } else if (folder_alone) {
      source.id = folders.begin()->filename().string();
    } else if (s.instances.size() == 1) {
      source.id = fs::path(s.instances.front().path).stem().string();
    } else {
      source.id = s.uid;
    }
    slides.push_back(std::move(source));
  }
}

}  // namespace

std::vector<SlideSource> discover_slides(const std::vector<std::string>& paths) {
  std::vector<SlideSource> slides;
  for (const auto& given : paths) {
    const fs::path path(given);
    if (!fs::exists(path)) throw Error(given + ": no such file or folder");
    if (!fs::is_directory(path)) {
      if (is_dicom_file(given)) {
        add_dicom_series({path}, false, slides);
      } else {
        slides.push_back({path.stem().string(), given, {}});
      }
      continue;
    }
    std::vector<fs::path> found, dicom;
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied);
         it != fs::recursive_directory_iterator(); ++it) {
      const auto name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file()) continue;
      if (is_dicom_file(it->path().string())) {
        dicom.push_back(it->path());
      } else if (has_slide_extension(it->path()) || is_openslide_file(it->path().string())) {
        found.push_back(it->path());
      }
    }
    std::sort(found.begin(), found.end());
    std::sort(dicom.begin(), dicom.end());
    for (const auto& f : found) slides.push_back({f.stem().string(), f.string(), {}});
    add_dicom_series(dicom, true, slides);
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
