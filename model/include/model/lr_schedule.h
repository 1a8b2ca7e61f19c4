#pragma once

// Learning-rate schedules as multipliers of the base learning rate, evaluated
// per optimiser step n = 0, 1, 2, ... as PyTorch's LambdaLR does with LDM's
// `scheduler_config` (lr at step n = base_learning_rate * schedule(n); the
// first step uses schedule(0), the scheduler steps once per optimiser step,
// not per micro-batch).

#include <cstdint>
#include <functional>
#include <vector>

namespace tessera::model {

using LrSchedule = std::function<double(int64_t step)>;

// Always 1: LDM without a scheduler_config.
LrSchedule constant_lr_schedule();

// CompVis latent-diffusion's ldm/lr_scheduler.py LambdaLinearScheduler: the
// steps are split into cycles of cycle_lengths[i] steps (step n belongs to the
// first cycle i whose cumulative end is >= n, so a cycle's end step belongs
// to it); within a cycle, at m = n - start of the cycle,
//   m < warm_up_steps[i]:  f = (f_max[i] - f_start[i]) / warm_up_steps[i] * m + f_start[i]
//   otherwise:             f = f_min[i] + (f_max[i] - f_min[i]) * (cycle_lengths[i] - m) / cycle_lengths[i]
// in double precision, in upstream's order of operations. LDM's configs use a
// single cycle of 10^13 steps, i.e. linear warm-up then (almost) constant.
class LambdaLinearScheduler {
 public:
  // Throws std::invalid_argument when the lists are empty or differ in length,
  // a warm-up is negative, or a cycle length is not positive.
  LambdaLinearScheduler(std::vector<int64_t> warm_up_steps, std::vector<double> f_start, std::vector<double> f_min,
                        std::vector<double> f_max, std::vector<int64_t> cycle_lengths);

  // The multiplier at optimiser step `step`. Upstream fails past the last
  // cycle; this throws std::out_of_range saying where the cycles end.
  double operator()(int64_t step) const;

 private:
  std::vector<int64_t> warm_up_steps_;
  std::vector<double> f_start_, f_min_, f_max_;
  std::vector<int64_t> cycle_lengths_;
  std::vector<int64_t> cycle_ends_;  // cumulative sums of cycle_lengths_
};

}  // namespace tessera::model
