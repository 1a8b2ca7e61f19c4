#pragma once

// An export's output folder: the splits (folders or shards), and
// dataset.json, written last, whose presence says the export finished.

#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/export.h"

namespace tessera::pipeline {

inline constexpr const char* kTrain = "train";
inline constexpr const char* kVal = "val";

// Refuses an output folder holding anything, or with `overwrite` anything an
// export did not write, so --overwrite can never delete someone's files.
// Returns what an earlier export left there, to remove before writing.
// Throws tessera::Error naming the folder and the entry at fault.
std::vector<std::filesystem::path> earlier_export(const ExportOptions& options);

// Writes OUT/dataset.json by rename, so it is whole or absent. Throws
// tessera::Error naming the file.
void write_dataset_json(const std::filesystem::path& out, const std::string& text);

}  // namespace tessera::pipeline
