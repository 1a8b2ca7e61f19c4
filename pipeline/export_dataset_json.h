#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "export_split.h"
#include "pipeline/export.h"
#include "store/slide_record.h"

namespace tessera::pipeline {

// OUT/dataset.json of a finished export (docs/EXPORT.md): its options, the
// counts of `summary`, the val groups, the slides exported and those left out
// as not complete, and the shards.
nlohmann::json dataset_json(const ExportOptions& options, const ExportSummary& summary, const ValSplit& split,
                            const std::vector<store::SlideRecord>& exported,
                            const std::vector<std::string>& not_complete);

}  // namespace tessera::pipeline
