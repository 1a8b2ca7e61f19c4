#include "dataset/synthetic_set.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <unordered_map>

#include "base/ascii_case.h"
#include "base/error.h"
#include "base/file_io.h"

namespace tessera::stages {
namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;
namespace {

constexpr const char* kSettingsFile = "generate.json";
constexpr const char* kSettingsFormat = "tessera-generate/1";
constexpr const char* kManifestFile = "manifest.jsonl";

bool is_hex32(const std::string& text) {
  return text.size() == 32 &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The first bytes of the image must match the extension the manifest names.
void check_image_signature(const fs::path& path, const std::string& extension, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  in.read(head, sizeof head);
  if (!in && in.gcount() == 0) throw Error(where + ": cannot read image " + path.string());
  const std::string bytes(head, size_t(in.gcount()));
  const bool png = bytes == std::string("\x89PNG\r\n\x1a\n", 8);
  const bool jpeg = bytes.size() >= 3 && bytes.compare(0, 3, "\xFF\xD8\xFF") == 0;
  if ((extension == "png" && !png) || (extension == "jpg" && !jpeg)) {
    throw Error(where + ": field \"file\": " + path.string() + " is not a " + (extension == "png" ? "PNG" : "JPEG") +
                " file");
  }
}

// `real_dir`: the set's folder with every link resolved.
SyntheticImage parse_row(const fs::path& dir, const fs::path& real_dir, const std::string& line,
                         const std::string& where) {
  ordered_json j;
  try {
    j = ordered_json::parse(line);
  } catch (const json::parse_error& e) {
    throw Error(where + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(where + ": not a JSON object");
  const auto field = [&](const char* name) -> const ordered_json& {
    const auto it = j.find(name);
    if (it == j.end()) throw Error(where + ": field \"" + name + "\" is missing");
    return *it;
  };
  const auto bad = [&](const char* name, const std::string& why) {
    return Error(where + ": field \"" + name + "\" " + why);
  };
  SyntheticImage s;
  s.origin = where;
  auto& row = s.row;
  const auto& file = field("file");
  if (!file.is_string() || file.get<std::string>().empty()) throw bad("file", "must be a non-empty string");
  row.file = file.get<std::string>();
  const fs::path relative(row.file);
  if (relative.is_absolute()) throw bad("file", "must be relative to " + dir.string() + ": " + row.file);
  for (const auto& part : relative) {
    if (part == "..") throw bad("file", "must stay inside " + dir.string() + ": " + row.file);
  }
  const std::string extension = ascii_lowercase(relative.extension().string());
  if (extension == ".png") {
    s.extension = "png";
  } else if (extension == ".jpg" || extension == ".jpeg") {
    s.extension = "jpg";
  } else {
    throw bad("file", "must name a .png or .jpg image: " + row.file);
  }
  s.image = dir / relative;
  std::error_code ec;
  // Export copies what the row names: a link, or a folder link on the way,
  // could make it copy any file the user can read.
  if (fs::is_symlink(s.image, ec)) throw bad("file", "names a symbolic link: " + s.image.string());
  if (!fs::is_regular_file(s.image, ec)) throw bad("file", "names a missing image: " + s.image.string());
  const fs::path real = fs::canonical(s.image, ec);
  if (ec) throw bad("file", "cannot resolve " + s.image.string() + ": " + ec.message());
  const fs::path inside = real.lexically_relative(real_dir);
  if (inside.empty() || *inside.begin() == "..") {
    throw bad("file", "names an image outside " + dir.string() + ": " + s.image.string() + " is " + real.string());
  }

  const auto& prompt = field("prompt");
  if (!prompt.is_string()) throw bad("prompt", "must be a string");
  row.prompt = prompt.get<std::string>();
  const auto& prompt_id = field("prompt_id");
  if (!prompt_id.is_string() || !is_hex32(prompt_id.get<std::string>())) {
    throw bad("prompt_id", "must be 32 lowercase hex digits");
  }
  row.prompt_id = prompt_id.get<std::string>();
  const auto& seed = field("seed");
  if (!seed.is_number_unsigned()) throw bad("seed", "must be a non-negative integer");
  row.seed = seed.get<uint64_t>();
  const auto& index = field("index");
  if (!index.is_number_unsigned()) throw bad("index", "must be a non-negative integer");
  row.index = index.get<uint64_t>();
  row.fields = field("fields");
  if (!row.fields.is_object()) throw bad("fields", "must be an object");
  for (const auto& [name, value] : row.fields.items()) {
    if (!value.is_string()) throw Error(where + ": field \"fields." + name + "\" must be a string");
  }
  row.model_ids = field("model_ids");
  if (!row.model_ids.is_object()) throw bad("model_ids", "must be an object");
  row.sampler = field("sampler");
  if (!row.sampler.is_object()) throw bad("sampler", "must be an object");
  if (const auto it = j.find("synthetic"); it != j.end() && *it != true) throw bad("synthetic", "must be true");
  check_image_signature(s.image, s.extension, where);
  return s;
}

}  // namespace

SyntheticSet::SyntheticSet(fs::path dir) : dir_(std::move(dir)) {}

fs::path SyntheticSet::manifest_path() const { return dir_ / kManifestFile; }

std::string SyntheticSet::image_file(uint64_t index, const std::string& format) {
  char name[32];
  std::snprintf(name, sizeof name, "%06llu", (unsigned long long)index);
  return std::string("images/") + name + (format == "jpeg" ? ".jpg" : ".png");
}

FolderLock SyntheticSet::lock() const { return FolderLock(dir_); }

void SyntheticSet::check_settings(const json& settings) const {
  const fs::path path = dir_ / kSettingsFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (!FolderLock::holds_only_lock(dir_)) {
      throw Error("--out " + dir_.string() + " is not empty and has no generate.json: refusing to write into it");
    }
    return;
  }
  std::ifstream in(path);
  json existing;
  try {
    existing = json::parse(in);
  } catch (const json::parse_error& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
  if (!existing.is_object() || existing.value("format", "") != kSettingsFormat || !existing.contains("settings")) {
    throw Error(path.string() + ": not a " + std::string(kSettingsFormat) + " file");
  }
  const json& old = existing["settings"];
  std::vector<std::string> differences;
  std::set<std::string> keys;
  for (const auto& [key, value] : old.items()) keys.insert(key);
  for (const auto& [key, value] : settings.items()) keys.insert(key);
  for (const auto& key : keys) {
    const json a = old.contains(key) ? old[key] : json();
    const json b = settings.contains(key) ? settings[key] : json();
    if (a != b) differences.push_back(key + " " + a.dump() + " (now " + b.dump() + ")");
  }
  if (!differences.empty()) {
    std::string list;
    for (const auto& d : differences) list += (list.empty() ? "" : ", ") + d;
    throw Error(dir_.string() + " was generated with other settings: " + list +
                "; rerun with the same settings to continue, or choose another --out");
  }
}

void SyntheticSet::write_settings(const json& settings, uint64_t n, const std::string& checkpoint,
                                  const std::string& updated) const {
  const json file = {
      {"format", kSettingsFormat}, {"settings", settings}, {"n", n}, {"checkpoint", checkpoint}, {"updated", updated}};
  tessera::write_file_atomically(dir_ / kSettingsFile, file.dump(2) + "\n");
}

bool SyntheticSet::has_manifest() const {
  std::error_code ec;
  return fs::exists(manifest_path(), ec);
}

std::vector<SyntheticImage> SyntheticSet::read_rows() const {
  const fs::path manifest = manifest_path();
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) throw Error("synthetic folder " + dir_.string() + " does not exist");
  std::ifstream in(manifest);
  if (!in) throw Error("synthetic folder " + dir_.string() + " has no readable manifest.jsonl");
  const fs::path real_dir = fs::canonical(dir_, ec);
  if (ec) throw Error("synthetic folder " + dir_.string() + ": " + ec.message());
  std::vector<SyntheticImage> rows;
  std::unordered_map<uint64_t, std::string> index_lines;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = manifest.string() + ":" + std::to_string(number);
    auto row = parse_row(dir_, real_dir, line, where);
    // The index names the sample's files; two equal ones would overwrite each other.
    const auto [it, inserted] = index_lines.emplace(row.row.index, where);
    if (!inserted) {
      throw Error(where + ": field \"index\" " + std::to_string(row.row.index) + " is already used at " + it->second);
    }
    rows.push_back(std::move(row));
  }
  if (in.bad()) throw Error("cannot read " + manifest.string());
  return rows;
}

bool SyntheticSet::drop_unfinished_row() const {
  if (!has_manifest()) return false;
  const fs::path manifest = manifest_path();
  const std::string text = tessera::read_file(manifest);
  if (text.empty() || text.back() == '\n') return false;
  const size_t last_newline = text.rfind('\n');
  fs::resize_file(manifest, last_newline == std::string::npos ? 0 : last_newline + 1);
  return true;
}

void SyntheticSet::append_rows(const std::vector<SyntheticRow>& rows) const {
  std::string lines;
  for (const auto& row : rows) lines += row_line(row) + '\n';
  const fs::path manifest = manifest_path();
  std::ofstream out(manifest, std::ios::binary | std::ios::app);
  out << lines;
  out.close();
  if (!out) throw Error("cannot append to " + manifest.string() + ": " + std::strerror(errno));
}

std::string SyntheticSet::row_line(const SyntheticRow& row) {
  ordered_json line;
  line["file"] = row.file;
  line["prompt"] = row.prompt;
  line["prompt_id"] = row.prompt_id;
  line["seed"] = row.seed;
  line["index"] = row.index;
  line["fields"] = row.fields;
  line["model_ids"] = row.model_ids;
  line["sampler"] = row.sampler;
  line["synthetic"] = true;
  return line.dump();
}

}  // namespace tessera::stages
