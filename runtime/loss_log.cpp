#include "runtime/loss_log.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/file_io.h"
#include "base/number_text.h"
#include "imaging/loss_plot.h"
#include "runtime/ldm_training.h"
#include "runtime/vae_training.h"

namespace tessera::runtime {
namespace {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream text(line);
  for (std::string field; std::getline(text, field, ',');) fields.push_back(field);
  return fields;
}

bool is_number(const std::string& text) {
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size();
}

}  // namespace

LossLog::LossLog(const RunFolder& run)
    : csv_(run.loss_csv()),
      png_(run.loss_png()),
      header_(run.kind() == RunKind::kLdm ? "step,epoch,loss,learning_rate,grad_norm"
                                          : "step,loss,rec,codebook_or_kl,perceptual,lr") {}

std::vector<std::vector<std::string>> LossLog::read_rows() const {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(csv_);
  std::string line;
  if (!std::getline(in, line) || line.empty()) return rows;
  if (line != header_) throw Error(csv_.string() + ": not this run's loss.csv (header '" + line + "')");
  const size_t columns = split(header_).size();
  while (std::getline(in, line)) {
    auto fields = split(line);
    if (fields.size() != columns || fields[0].find_first_not_of("0123456789") != std::string::npos) continue;
    bool numbers = true;
    for (const auto& field : fields) numbers = numbers && is_number(field);
    if (numbers) rows.push_back(std::move(fields));
  }
  return rows;
}

void LossLog::keep_rows_through(int64_t step) const {
  std::string kept = header_ + "\n";
  for (const auto& fields : read_rows()) {
    if (std::stoll(fields[0]) > step) continue;
    std::string row;
    for (const auto& field : fields) row += (row.empty() ? "" : ",") + field;
    kept += row + "\n";
  }
  tessera::write_file_atomically(csv_, kept);
}

void LossLog::append_row(const std::string& row) const {
  std::ofstream out(csv_, std::ios::app);
  out << row << '\n';
  if (!out.flush()) throw Error("cannot append to " + csv_.string());
}

void LossLog::append(int64_t step, const LdmStepLoss& loss) const {
  char row[160];
  std::snprintf(row, sizeof row, "%lld,%llu,%.9g,%.9g,%.9g", (long long)step, (unsigned long long)loss.epoch, loss.loss,
                loss.learning_rate, loss.grad_norm);
  append_row(row);
}

void LossLog::append(int64_t step, const VaeStepLoss& loss) const {
  append_row(std::to_string(step) + "," + shortest_decimal(loss.loss) + "," + shortest_decimal(loss.rec) + "," +
             shortest_decimal(loss.regulariser) + "," + shortest_decimal(loss.perceptual) + "," +
             shortest_decimal(loss.learning_rate));
}

void LossLog::plot(const std::string& title, const std::vector<LossColumn>& columns) const {
  try {
    std::vector<stages::LossSeries> series;
    for (const auto& column : columns) series.push_back({column.name, {}});
    for (const auto& fields : read_rows()) {
      for (size_t i = 0; i < columns.size(); ++i) {
        series[i].points.push_back({std::stoll(fields[0]), std::stod(fields.at(columns[i].index))});
      }
    }
    if (series.empty() || series.front().points.empty()) return;
    stages::LossPlotOptions options;
    options.title = title;
    options.log_y = true;
    stages::write_loss_plot(series, options, png_.string());
  } catch (const std::exception& e) {
    spdlog::warn("{} not drawn: {}", png_.string(), e.what());
  }
}

}  // namespace tessera::runtime
