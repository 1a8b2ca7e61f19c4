#include "generate_run.h"

#include <tbb/flow_graph.h>
#include <tbb/parallel_for.h>

#include <algorithm>

#include "base/crash_point.h"
#include "base/error.h"
#include "base/file_io.h"
#include "generate_seed.h"
#include "imaging/jpeg_codec.h"
#include "imaging/vips_runtime.h"
#include "interrupt.h"
#include "store/keys.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
namespace {

// Two batches: the next one samples while the last one's images are written.
constexpr size_t kBatchesInFlight = 2;

std::set<uint64_t> keys_of(const std::map<uint64_t, std::string>& rows) {
  std::set<uint64_t> keys;
  for (const auto& [index, file] : rows) keys.insert(index);
  return keys;
}

}  // namespace

GenerateRun::GenerateRun(const GenerateOptions& options, runtime::ImageSampler& sampler, const PromptPlan& plan,
                         const std::vector<size_t>& assignment,
                         const std::map<std::string, store::TensorRecord>& contexts, const std::string& cond_stage_id,
                         std::map<uint64_t, std::string>& rows, Progress& progress)
    : options_(options),
      set_(options.out),
      sampler_(sampler),
      plan_(plan),
      assignment_(assignment),
      contexts_(contexts),
      cond_stage_id_(cond_stage_id),
      rows_(rows),
      present_(keys_of(rows)),
      progress_(progress) {}

std::optional<GenerateRun::JobPtr> GenerateRun::next_batch() {
  const uint64_t batch = options_.batch;
  const uint64_t batches = (options_.n + batch - 1) / batch;
  while (!stop_requested() && failure_.empty() && next_batch_ < batches) {
    auto job = std::make_shared<BatchJob>();
    job->batch = next_batch_++;
    bool any = false;
    for (uint64_t i = job->batch * batch; i < std::min(options_.n, (job->batch + 1) * batch); ++i) {
      job->indices.push_back(i);
      job->missing.push_back(!present_.count(i));
      any = any || job->missing.back();
    }
    if (any) return job;
  }
  return std::nullopt;
}

void GenerateRun::sample(BatchJob& job) {
  if (!failure_.empty()) return;
  try {
    std::vector<const store::TensorRecord*> contexts;
    std::vector<uint64_t> noise_seeds;
    for (const uint64_t i : job.indices) {
      contexts.push_back(&contexts_.at(plan_.choices[assignment_[i]].id));
      noise_seeds.push_back(derive_seed(options_.seed, "x_T", i));
    }
    job.images = sampler_.sample(contexts, contexts_.at(store::prompt_id("")), noise_seeds,
                                 derive_seed(options_.seed, "steps", job.batch));
  } catch (const std::exception& e) {
    failure_ = "batch " + std::to_string(job.batch) + ": " + e.what();
  }
}

stages::SyntheticRow GenerateRun::manifest_row(uint64_t index, const std::string& file) const {
  const auto& choice = plan_.choices[assignment_[index]];
  stages::SyntheticRow row;
  row.file = file;
  row.prompt = choice.text;
  row.prompt_id = choice.id;
  row.seed = options_.seed;
  row.index = index;
  if (!choice.tumor.empty()) row.fields["tumor"] = choice.tumor;
  if (!choice.til.empty()) row.fields["til"] = choice.til;
  row.model_ids = {
      {"unet", sampler_.unet_id()}, {"first_stage", sampler_.first_stage_id()}, {"cond_stage", cond_stage_id_}};
  row.sampler = {{"name", sampler_.sampler_name()},
                 {"steps", sampler_.steps()},
                 {"eta", sampler_.eta()},
                 {"guidance", sampler_.guidance()}};
  return row;
}

void GenerateRun::write(BatchJob& job, GenerateSummary& summary) {
  if (!failure_.empty() || job.images.size() != job.indices.size()) return;
  try {
    std::vector<size_t> unwritten;
    for (size_t k = 0; k < job.indices.size(); ++k) {
      if (job.missing[k]) unwritten.push_back(k);
    }
    std::vector<std::string> files(job.indices.size());
    tbb::parallel_for(size_t{0}, unwritten.size(), [&](size_t t) {
      const size_t k = unwritten[t];
      files[k] = stages::SyntheticSet::image_file(job.indices[k], options_.format);
      const fs::path path = options_.out / files[k];
      if (options_.format == "jpeg") {
        // The stored tiles' codec, so that real and synthetic tiles compare.
        tessera::write_file_atomically(path, stages::encode_jpeg(job.images[k], stages::JpegOptions{}));
      } else {
        stages::save_png(job.images[k], path.string());
      }
    });
    // Rows only once their images exist, in one append: the manifest never
    // names a file that is not there.
    std::vector<stages::SyntheticRow> rows;
    for (const size_t k : unwritten) rows.push_back(manifest_row(job.indices[k], files[k]));
    set_.append_rows(rows);
    for (const size_t k : unwritten) rows_[job.indices[k]] = files[k];
    summary.generated += unwritten.size();
    ++summary.batches;
    progress_.tiles_done(unwritten.size());
  } catch (const std::exception& e) {
    failure_ = "batch " + std::to_string(job.batch) + ": " + e.what();
    return;
  }
  job.images.clear();
  crash_point("generate.batch_written");
}

void GenerateRun::run(GenerateSummary& summary) {
  using namespace tbb::flow;
  graph g;
  input_node<JobPtr> source(g, [this](tbb::flow_control& control) -> JobPtr {
    if (auto job = next_batch()) return *job;
    control.stop();
    return {};
  });
  limiter_node<JobPtr> limiter(g, kBatchesInFlight);
  function_node<JobPtr, JobPtr> sampler(g, serial, [this](const JobPtr& job) {
    sample(*job);
    return job;
  });
  function_node<JobPtr, continue_msg> writer(g, serial, [this, &summary](const JobPtr& job) {
    write(*job, summary);
    return continue_msg();
  });
  make_edge(source, limiter);
  make_edge(limiter, sampler);
  make_edge(sampler, writer);
  make_edge(writer, limiter.decrementer());
  source.activate();
  g.wait_for_all();
  if (!failure_.empty()) throw Error(failure_);
}

}  // namespace tessera::pipeline
