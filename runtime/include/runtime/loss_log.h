#pragma once

// A run folder's loss.csv and loss.png (runtime/run_folder.h). loss.csv is a
// header line and one row per optimiser step, the step first:
//   LDM runs  step,epoch,loss,learning_rate,grad_norm       numbers to 9 significant digits
//   VAE runs  step,loss,rec,codebook_or_kl,perceptual,lr    numbers in shortest round-trip form
// One process writes it (a data-parallel run's rank 0); loss.png is drawn from it.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/run_folder.h"

namespace tessera::runtime {

struct LdmStepLoss;
struct VaeStepLoss;

// A plotted column of loss.csv, by position, and its legend.
struct LossColumn {
  size_t index = 0;
  std::string name;
};

class LossLog {
 public:
  explicit LossLog(const RunFolder& run);

  // Rewrites loss.csv with the header and the rows of steps up to `step`:
  // those written after the checkpoint a resumed run starts from go, and so
  // does a row a kill cut short. Throws tessera::Error naming the file when
  // its header is another kind's or it cannot be written.
  void keep_rows_through(int64_t step) const;
  // Appends one step's row. Throws tessera::Error naming the file when it
  // cannot be written.
  void append(int64_t step, const LdmStepLoss& loss) const;
  void append(int64_t step, const VaeStepLoss& loss) const;
  // Draws loss.png on a log axis from loss.csv. A picture that cannot be
  // drawn is a warning: it never costs the run.
  void plot(const std::string& title, const std::vector<LossColumn>& columns) const;

 private:
  void append_row(const std::string& row) const;
  // The well-formed rows, each split into its fields.
  std::vector<std::vector<std::string>> read_rows() const;

  std::filesystem::path csv_;
  std::filesystem::path png_;
  std::string header_;
};

}  // namespace tessera::runtime
