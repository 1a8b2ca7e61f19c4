#pragma once

// An export's output folder: the splits (folders or shards), dataset.json,
// written last, whose presence says the export finished, and the list of what
// the export wrote (dataset/owned_files.h), so that --overwrite removes
// exactly that.

#include <filesystem>
#include <string>
#include <vector>

#include "dataset/owned_files.h"
#include "pipeline/export.h"

namespace tessera::pipeline {

inline constexpr const char* kTrain = "train";
inline constexpr const char* kVal = "val";

// Refuses an output folder holding anything (its lock aside), or with
// `overwrite` anything that no earlier export listed as its own, so
// --overwrite can never delete someone's files. Returns what an earlier
// export left there, each folder after what it holds.
// Throws tessera::Error naming the folder and the entry at fault.
std::vector<std::filesystem::path> earlier_export(const ExportOptions& options);

// Removes `owned` (earlier_export's answer), then the earlier export's list.
// Throws tessera::Error naming the entry that cannot be removed.
void remove_earlier_export(const std::filesystem::path& out, const std::vector<std::filesystem::path>& owned);

// Writes OUT/dataset.json by rename, so it is whole or absent, claimed in
// `owned` first. Throws tessera::Error naming the file.
void write_dataset_json(const std::filesystem::path& out, const std::string& text, stages::OwnedFiles& owned);

}  // namespace tessera::pipeline
