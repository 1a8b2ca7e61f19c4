#pragma once

// The samples of an export (docs/EXPORT.md): a store's tile or a synthetic
// set's image, with its name, label and metadata. A real tile is named
// <slide>_r<row>_c<col>, a synthetic image syn<k>_<index>, k being its
// set's position on the command line.

#include <cstddef>
#include <optional>
#include <string>

#include "dataset/dataset_writer.h"
#include "dataset/synthetic_set.h"
#include "store/keys.h"
#include "store/prompt_record.h"
#include "store/slide_record.h"
#include "store/tile_record.h"

namespace tessera::pipeline {

// The slide's case, or the slide itself when it matched none.
std::string case_of(const store::SlideRecord& slide);

// `label_by`: "" (every sample is "all"), "tumor", "til", "case" or "slide".
stages::DatasetSample real_sample(const store::SlideRecord& slide, const store::TileKey& key,
                                  const store::TileRecord& tile, std::string jpeg,
                                  const std::optional<store::PromptRecord>& prompt, const std::string& label_by,
                                  const std::string& split);
// Synthetic samples always go to train: validation must be real data.
stages::DatasetSample synthetic_sample(size_t set_number, const stages::SyntheticImage& image, std::string bytes,
                                       const std::string& label_by);

}  // namespace tessera::pipeline
