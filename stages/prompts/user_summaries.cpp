#include "prompts/user_summaries.h"

#include "base/error.h"
#include "prompts/csv_table.h"

namespace tessera::stages {

std::map<std::string, std::string> read_user_summaries(const std::string& path, const std::string& id_column) {
  const auto table = read_csv(path);
  const size_t id = table.column(id_column), summary = table.column("summary");
  std::map<std::string, std::string> summaries;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const auto [it, inserted] = summaries.emplace(table.rows[r][id], table.rows[r][summary]);
    if (!inserted) throw Error(table.where(r) + ": case '" + it->first + "' has two summaries");
  }
  return summaries;
}

}  // namespace tessera::stages
