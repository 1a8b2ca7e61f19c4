#include "pipeline/export.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <unordered_map>

#include "base/crash_point.h"
#include "base/error.h"
#include "base/file_io.h"
#include "base/folder_lock.h"
#include "dataset/image_folder_writer.h"
#include "dataset/path_component.h"
#include "dataset/synthetic_set.h"
#include "dataset/webdataset_writer.h"
#include "export_dataset_json.h"
#include "export_output_folder.h"
#include "export_samples.h"
#include "export_split.h"
#include "interrupt.h"
#include "pipeline/progress.h"
#include "run_clock.h"
#include "store/store.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
namespace {

void check_options(const ExportOptions& o) {
  if (o.store.empty()) throw Error("export needs a store folder");
  if (o.out.empty()) throw Error("export needs an output folder");
  if (!(o.val >= 0 && o.val < 1)) throw Error("--val " + std::to_string(o.val) + " must be in [0, 1)");
  if (o.shard_bytes == 0) throw Error("--shard-bytes must be positive");
  static const std::set<std::string> labels = {"", "tumor", "til", "case", "slide"};
  if (!labels.count(o.label)) throw Error("--label " + o.label + " is not one of tumor, til, case, slide");
}

// The store's complete slides by id, and the ids of the others.
struct StoreSlides {
  std::vector<store::SlideRecord> complete;
  std::vector<std::string> not_complete;
};

StoreSlides read_slides(const store::Store& store, const fs::path& store_dir) {
  StoreSlides slides;
  for (auto& slide : store.slides()) {
    if (slide.status == store::SlideStatus::kComplete) {
      slides.complete.push_back(std::move(slide));
    } else {
      slides.not_complete.push_back(slide.id);
    }
  }
  std::sort(slides.complete.begin(), slides.complete.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  // A sample's key is the slide's key plus _r<row>_c<col>, so distinct slide keys give distinct sample keys.
  std::map<std::string, std::string> slide_keys;
  for (const auto& slide : slides.complete) {
    const auto key = stages::WebDatasetWriter::key_of(stages::path_component(slide.id));
    const auto [it, inserted] = slide_keys.emplace(key, slide.id);
    if (!inserted) {
      throw Error("slides " + it->second + " and " + slide.id + " in store " + store_dir.string() +
                  " would get the same export name " + it->first);
    }
  }
  return slides;
}

std::unique_ptr<stages::DatasetWriter> make_writer(const ExportOptions& options, stages::OwnedFiles& owned) {
  if (options.format == ExportOptions::Format::kWebDataset) {
    return std::make_unique<stages::WebDatasetWriter>(options.out, options.shard_bytes, owned);
  }
  return std::make_unique<stages::ImageFolderWriter>(options.out, owned);
}

// Writes samples in the export's order and counts them into the summary.
// write_slide and write_synthetic_set stop before the next sample once SIGINT
// asked to: they mark the summary interrupted and return false.
class SampleExport {
 public:
  SampleExport(const ExportOptions& options, const store::Store& store, stages::DatasetWriter& writer,
               Progress& progress, ExportSummary& summary)
      : options_(options), store_(store), writer_(writer), progress_(progress), summary_(summary) {
    summary_.splits = {{kTrain, 0}, {kVal, 0}};
    summary_.split_sources = {{kTrain, {{"real", 0}, {"synthetic", 0}}}, {kVal, {{"real", 0}, {"synthetic", 0}}}};
  }

  bool write_slide(const store::SlideRecord& slide, const std::string& split) {
    std::vector<std::pair<store::TileKey, store::TileRecord>> tiles;
    store_.for_each_tile(slide.id,
                         [&](const store::TileKey& k, const store::TileRecord& r) { tiles.emplace_back(k, r); });
    for (const auto& [key, tile] : tiles) {
      if ((summary_.interrupted = stop_requested())) return false;
      auto pixels = store_.tile_pixels(slide.id, key.row, key.col);
      if (!pixels) {
        throw Error("store " + options_.store.string() + ": tile row " + std::to_string(key.row) + " col " +
                    std::to_string(key.col) + " of slide " + slide.id + " has no pixels");
      }
      const auto& prompt = prompt_of(tile.prompt_id);
      if (!tile.prompt_id.empty() && !prompt) {
        throw Error("store " + options_.store.string() + ": prompt " + tile.prompt_id + " of slide " + slide.id +
                    " is missing");
      }
      write(real_sample(slide, key, tile, std::move(*pixels), prompt, options_.label, split), "real");
      ++summary_.real;
    }
    progress_.slide_finished("export: " + slide.id + ": " + std::to_string(tiles.size()) + " tiles to " + split);
    return true;
  }

  bool write_synthetic_set(size_t number, const fs::path& dir, const std::vector<stages::SyntheticImage>& images) {
    for (const auto& image : images) {
      if ((summary_.interrupted = stop_requested())) return false;
      write(synthetic_sample(number, image, tessera::read_file(image.image), options_.label), "synthetic");
      ++summary_.synthetic;
    }
    progress_.slide_finished("export: " + dir.string() + ": " + std::to_string(images.size()) +
                             " synthetic samples to train");
    return true;
  }

 private:
  void write(const stages::DatasetSample& sample, const char* source) {
    writer_.write(sample);
    crash_point("export.sample_written");
    ++summary_.splits[sample.split];
    ++summary_.labels[sample.label];
    ++summary_.split_sources[sample.split][source];
    progress_.tiles_done(1);
  }

  const std::optional<store::PromptRecord>& prompt_of(const std::string& id) {
    auto it = prompts_.find(id);
    if (it == prompts_.end()) it = prompts_.emplace(id, id.empty() ? std::nullopt : store_.prompt(id)).first;
    return it->second;
  }

  const ExportOptions& options_;
  const store::Store& store_;
  stages::DatasetWriter& writer_;
  Progress& progress_;
  ExportSummary& summary_;
  std::unordered_map<std::string, std::optional<store::PromptRecord>> prompts_;  // by id, read once
};

}  // namespace

ExportSummary run_export(const ExportOptions& options) {
  const RunClock clock;
  check_options(options);
  // Held until the export returns: a second export into OUT is refused.
  const FolderLock lock(options.out);
  const auto earlier = earlier_export(options);
  std::vector<std::vector<stages::SyntheticImage>> synthetic;
  size_t synthetic_total = 0;
  for (const auto& dir : options.synthetic) {
    synthetic.push_back(stages::SyntheticSet(dir).read_rows());
    synthetic_total += synthetic.back().size();
  }
  store::StoreOptions read_only;
  read_only.read_only = true;
  const auto store = store::Store::open(options.store, read_only);
  const StoreSlides slides = read_slides(*store, options.store);
  if (slides.complete.empty() && synthetic_total == 0) {
    throw Error("nothing to export: store " + options.store.string() + " has no complete slides" +
                (options.synthetic.empty() ? "" : " and the synthetic manifests are empty"));
  }
  const ValSplit split(slides.complete, options);

  // Every input is checked: only now is anything removed or written.
  remove_earlier_export(options.out, earlier);
  stages::OwnedFiles owned(options.out);
  auto writer = make_writer(options, owned);
  ExportSummary summary;
  InterruptScope interrupt;
  Progress progress(resolve_mode(options.progress), slides.complete.size() + synthetic.size());
  for (const auto& slide : slides.complete) progress.slide_planned(uint64_t(std::max<int64_t>(0, slide.tiles_kept)));
  for (const auto& images : synthetic) progress.slide_planned(images.size());
  SampleExport samples(options, *store, *writer, progress, summary);
  for (const auto& slide : slides.complete) {
    if (!samples.write_slide(slide, split.split_of(slide))) break;
  }
  for (size_t k = 0; k < synthetic.size() && !summary.interrupted; ++k) {
    if (!samples.write_synthetic_set(k, options.synthetic[k], synthetic[k])) break;
  }
  progress.finish();
  if (summary.interrupted) {
    // The writer's open shards are removed with it; finished ones stay, and
    // without dataset.json the folder reads as unfinished.
    writer.reset();
    summary.seconds = clock.seconds();
    return summary;
  }
  summary.shards = writer->finish();
  summary.dataset_json = dataset_json(options, summary, split, slides.complete, slides.not_complete).dump(2);
  write_dataset_json(options.out, summary.dataset_json + "\n", owned);
  summary.seconds = clock.seconds();
  return summary;
}

}  // namespace tessera::pipeline
