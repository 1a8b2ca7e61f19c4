#include "export_samples.h"

#include <cstdio>
#include <cstdlib>

#include "dataset/path_component.h"
#include "dataset/webdataset_writer.h"
#include "export_output_folder.h"

namespace tessera::pipeline {
namespace {
using nlohmann::json;

std::string real_label(const std::string& label_by, const store::SlideRecord& slide,
                       const std::optional<store::PromptRecord>& prompt) {
  if (label_by.empty()) return "all";
  if (label_by == "case") return case_of(slide);
  if (label_by == "slide") return slide.id;
  const std::string value = !prompt ? "" : label_by == "tumor" ? prompt->tumor : prompt->til;
  return value.empty() ? "unlabeled" : value;
}

std::string synthetic_label(const std::string& label_by, const nlohmann::ordered_json& fields) {
  if (label_by.empty()) return "all";
  const auto it = fields.find(label_by);
  return it == fields.end() || it->get<std::string>().empty() ? "unlabeled" : it->get<std::string>();
}

// The float as its shortest decimal (0.499f, not 0.49900001287460327).
double float_value(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.7g", double(value));
  return std::strtod(text, nullptr);
}

}  // namespace

std::string case_of(const store::SlideRecord& slide) { return slide.case_id.empty() ? slide.id : slide.case_id; }

stages::DatasetSample real_sample(const store::SlideRecord& slide, const store::TileKey& key,
                                  const store::TileRecord& tile, std::string jpeg,
                                  const std::optional<store::PromptRecord>& prompt, const std::string& label_by,
                                  const std::string& split) {
  stages::DatasetSample s;
  s.name = stages::path_component(slide.id) + "_r" + std::to_string(key.row) + "_c" + std::to_string(key.col);
  s.extension = "jpg";
  s.image = std::move(jpeg);
  s.prompt = prompt ? prompt->text : "";
  s.label = real_label(label_by, slide, prompt);
  s.split = split;
  s.meta = {{"key", stages::WebDatasetWriter::key_of(s.name)},
            {"source", "real"},
            {"slide_id", slide.id},
            {"case_id", case_of(slide)},
            {"row", key.row},
            {"col", key.col},
            {"x", tile.x},
            {"y", tile.y},
            {"size", tile.size},
            {"mpp", float_value(tile.mpp)},
            {"prompt_id", tile.prompt_id.empty() ? json(nullptr) : json(tile.prompt_id)},
            {"label", s.label},
            {"split", s.split}};
  return s;
}

stages::DatasetSample synthetic_sample(size_t set_number, const stages::SyntheticImage& image, std::string bytes,
                                       const std::string& label_by) {
  const auto& row = image.row;
  stages::DatasetSample s;
  s.name = "syn" + std::to_string(set_number) + "_" + std::to_string(row.index);
  s.extension = image.extension;
  s.image = std::move(bytes);
  s.prompt = row.prompt;
  s.label = synthetic_label(label_by, row.fields);
  s.split = kTrain;
  s.meta = {{"key", stages::WebDatasetWriter::key_of(s.name)},
            {"source", "synthetic"},
            {"slide_id", nullptr},
            {"case_id", nullptr},
            {"row", nullptr},
            {"col", nullptr},
            {"x", nullptr},
            {"y", nullptr},
            {"size", nullptr},
            {"mpp", nullptr},
            {"prompt_id", row.prompt_id},
            {"label", s.label},
            {"split", s.split},
            {"seed", row.seed},
            {"index", row.index},
            {"fields", json(row.fields)},
            {"model_ids", json(row.model_ids)},
            {"sampler", json(row.sampler)},
            {"manifest", image.origin},
            {"file", row.file}};
  return s;
}

}  // namespace tessera::pipeline
