#pragma once

#include <map>
#include <string>

namespace tessera::stages {

// User summaries (e.g. from an LLM) by case id, from a CSV with the case-id
// column `id_column` and `summary`. A user summary replaces the summary
// composed from its case's report. Throws tessera::Error naming the file and
// line for a missing column or a case listed twice.
std::map<std::string, std::string> read_user_summaries(const std::string& path, const std::string& id_column);

}  // namespace tessera::stages
