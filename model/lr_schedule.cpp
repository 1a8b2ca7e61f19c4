#include "model/lr_schedule.h"

#include <stdexcept>
#include <string>
#include <utility>

namespace tessera::model {

LrSchedule constant_lr_schedule() {
  return [](int64_t) { return 1.0; };
}

LambdaLinearScheduler::LambdaLinearScheduler(std::vector<int64_t> warm_up_steps, std::vector<double> f_start,
                                             std::vector<double> f_min, std::vector<double> f_max,
                                             std::vector<int64_t> cycle_lengths)
    : warm_up_steps_(std::move(warm_up_steps)),
      f_start_(std::move(f_start)),
      f_min_(std::move(f_min)),
      f_max_(std::move(f_max)),
      cycle_lengths_(std::move(cycle_lengths)) {
  const size_t n = warm_up_steps_.size();
  if (n == 0 || f_start_.size() != n || f_min_.size() != n || f_max_.size() != n || cycle_lengths_.size() != n) {
    throw std::invalid_argument(
        "lr schedule: warm_up_steps, f_start, f_min, f_max and cycle_lengths must be non-empty lists of one length");
  }
  int64_t end = 0;
  for (size_t i = 0; i < n; ++i) {
    if (warm_up_steps_[i] < 0) throw std::invalid_argument("lr schedule: warm_up_steps must not be negative");
    if (cycle_lengths_[i] <= 0) throw std::invalid_argument("lr schedule: cycle_lengths must be positive");
    end += cycle_lengths_[i];
    cycle_ends_.push_back(end);
  }
}

double LambdaLinearScheduler::operator()(int64_t step) const {
  if (step < 0) throw std::out_of_range("lr schedule: step " + std::to_string(step) + " is negative");
  size_t cycle = 0;
  while (cycle < cycle_ends_.size() && step > cycle_ends_[cycle]) ++cycle;
  if (cycle == cycle_ends_.size()) {
    throw std::out_of_range("lr schedule: step " + std::to_string(step) + " is past the last cycle, which ends at " +
                            std::to_string(cycle_ends_.back()));
  }
  const int64_t m = step - (cycle == 0 ? 0 : cycle_ends_[cycle - 1]);
  if (m < warm_up_steps_[cycle]) {
    return (f_max_[cycle] - f_start_[cycle]) / static_cast<double>(warm_up_steps_[cycle]) * static_cast<double>(m) +
           f_start_[cycle];
  }
  return f_min_[cycle] + (f_max_[cycle] - f_min_[cycle]) * static_cast<double>(cycle_lengths_[cycle] - m) /
                             static_cast<double>(cycle_lengths_[cycle]);
}

}  // namespace tessera::model
