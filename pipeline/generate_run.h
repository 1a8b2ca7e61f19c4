#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dataset/synthetic_set.h"
#include "generate_prompts.h"
#include "imaging/rgb_image.h"
#include "pipeline/generate.h"
#include "pipeline/progress.h"
#include "runtime/image_sampler.h"
#include "store/tensor_record.h"

namespace tessera::pipeline {

// The flow graph of run_generate (pipeline/generate.h): makes every batch
// with an index that OUT lacks, writes its missing images, then appends their
// manifest rows in one write.
class GenerateRun {
 public:
  // `assignment`: image index -> choice of `plan`; `contexts`: prompt id ->
  // text context, for every assigned prompt and the empty one; `rows`: index
  // -> file of the images OUT holds, extended as batches are written.
  GenerateRun(const GenerateOptions& options, runtime::ImageSampler& sampler, const PromptPlan& plan,
              const std::vector<size_t>& assignment, const std::map<std::string, store::TensorRecord>& contexts,
              const std::string& cond_stage_id, std::map<uint64_t, std::string>& rows, Progress& progress);

  // Stops at SIGINT after the batches in flight. Throws tessera::Error with
  // the first batch that failed, after the batches before it are written.
  void run(GenerateSummary& summary);

 private:
  struct BatchJob {
    uint64_t batch = 0;
    std::vector<uint64_t> indices;  // every index of the batch
    std::vector<bool> missing;      // which of them OUT lacks
    std::vector<stages::RgbImage> images;
  };
  using JobPtr = std::shared_ptr<BatchJob>;

  std::optional<JobPtr> next_batch();
  void sample(BatchJob& job);
  void write(BatchJob& job, GenerateSummary& summary);
  stages::SyntheticRow manifest_row(uint64_t index, const std::string& file) const;

  const GenerateOptions& options_;
  const stages::SyntheticSet set_;
  runtime::ImageSampler& sampler_;
  const PromptPlan& plan_;
  const std::vector<size_t>& assignment_;
  const std::map<std::string, store::TensorRecord>& contexts_;
  std::string cond_stage_id_;
  std::map<uint64_t, std::string>& rows_;  // extended by the writer
  const std::set<uint64_t> present_;       // the rows before the run, read by the source
  Progress& progress_;
  uint64_t next_batch_ = 0;
  std::string failure_;  // the first error; the source stops at it
};

}  // namespace tessera::pipeline
