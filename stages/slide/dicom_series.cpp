#include "slide/dicom_series.h"

#include <algorithm>
#include <map>

#include "base/error.h"
#include "slide/slide_format.h"

namespace tessera::stages {
namespace {

std::string files_of(const std::vector<DicomInstance>& instances) {
  std::string files;
  for (size_t i = 0; i < instances.size() && i < 3; ++i) files += (i ? ", " : "") + instances[i].path;
  if (instances.size() > 3) files += " and " + std::to_string(instances.size() - 3) + " more";
  return files;
}

std::string size_text(const DicomInstance& instance) {
  return std::to_string(instance.total_columns) + "x" + std::to_string(instance.total_rows);
}

void check_decodable(const DicomInstance& instance) {
  if (instance.fluorescence_only) {
    throw UnsupportedFormatError(
        instance.path +
        ": a fluorescence-only series (every optical path is lit by epifluorescence); tessera tiles "
        "brightfield RGB slides");
  }
  if (instance.samples_per_pixel != 3) {
    throw UnsupportedFormatError(instance.path + ": frames of " + std::to_string(instance.samples_per_pixel) +
                                 " sample(s) per pixel (" + instance.photometric +
                                 "): a monochrome or fluorescence series; tessera tiles brightfield RGB slides");
  }
  if (instance.bits_allocated != 8) {
    throw UnsupportedFormatError(instance.path + ": " + std::to_string(instance.bits_allocated) +
                                 "-bit samples; tessera reads 8-bit RGB frames");
  }
  const std::string& ts = instance.transfer_syntax;
  if (!is_jpeg_baseline(ts) && !is_jpeg2000(ts) && !is_uncompressed(ts)) {
    throw UnsupportedFormatError(
        instance.path + ": frames encoded as " + transfer_syntax_name(ts) +
        "; tessera decodes JPEG baseline, JPEG 2000 (with HTJ2K) and uncompressed little-endian frames");
  }
  if (is_uncompressed(ts) && instance.photometric != "RGB") {
    throw UnsupportedFormatError(instance.path + ": uncompressed frames in " + instance.photometric +
                                 "; tessera reads RGB");
  }
}

// The parts of one level in frame order; checks a concatenation is whole.
std::vector<DicomInstance> level_parts(std::vector<DicomInstance> parts, std::vector<std::string>& warnings) {
  // Instances of one size that are not parts of one concatenation hold other
  // optical paths or focal planes: the first is read.
  std::map<std::string, std::vector<DicomInstance>> by_concatenation;
  for (auto& part : parts) {
    const std::string key =
        part.concatenation_uid.empty() ? "instance " + part.sop_instance_uid : part.concatenation_uid;
    by_concatenation[key].push_back(std::move(part));
  }
  auto chosen = std::min_element(by_concatenation.begin(), by_concatenation.end(), [](const auto& a, const auto& b) {
                  return a.second.front().path < b.second.front().path;
                })->second;
  if (by_concatenation.size() > 1) {
    warnings.push_back("level " + size_text(chosen.front()) + " has " + std::to_string(by_concatenation.size()) +
                       " images (optical paths or focal planes); reading " + chosen.front().path);
  }
  std::sort(chosen.begin(), chosen.end(), [](const DicomInstance& a, const DicomInstance& b) {
    return a.concatenation_frame_offset < b.concatenation_frame_offset;
  });
  const DicomInstance& first = chosen.front();
  if (!first.concatenation_uid.empty() && first.concatenation_parts > 0 &&
      int(chosen.size()) != first.concatenation_parts) {
    throw Error("level " + size_text(first) + " is a concatenation of " + std::to_string(first.concatenation_parts) +
                " files, of which " + std::to_string(chosen.size()) + " are here (" + files_of(chosen) + ")");
  }
  int64_t next_frame = 0;
  for (const auto& part : chosen) {
    check_decodable(part);
    if (part.concatenation_frame_offset != next_frame) {
      throw Error(part.path + ": its frames start at " + std::to_string(part.concatenation_frame_offset) +
                  " of the concatenation, expected " + std::to_string(next_frame) + ": a part is missing");
    }
    if (part.frame_columns != first.frame_columns || part.frame_rows != first.frame_rows ||
        part.transfer_syntax != first.transfer_syntax || part.sparse != first.sparse) {
      throw Error(part.path + ": its frames differ from " + first.path + ", another part of the same level");
    }
    next_frame += part.frames;
  }
  if (!first.sparse) {
    const int64_t across = (first.total_columns + first.frame_columns - 1) / first.frame_columns;
    const int64_t down = (first.total_rows + first.frame_rows - 1) / first.frame_rows;
    if (next_frame < across * down) {
      throw Error(files_of(chosen) + ": TILED_FULL level " + size_text(first) + " needs " +
                  std::to_string(across * down) + " frames of " + std::to_string(first.frame_columns) + "x" +
                  std::to_string(first.frame_rows) + ", the file(s) hold " + std::to_string(next_frame));
    }
  }
  if (first.optical_paths > 1) {
    warnings.push_back(std::to_string(first.optical_paths) + " optical paths; reading the first");
  }
  if (first.focal_planes > 1) {
    warnings.push_back(std::to_string(first.focal_planes) + " focal planes; reading the first");
  }
  return chosen;
}

}  // namespace

std::vector<DicomSeries> group_dicom_series(std::vector<DicomInstance> instances) {
  std::vector<DicomSeries> series;
  std::map<std::string, size_t> index;
  for (auto& instance : instances) {
    const auto [it, inserted] = index.emplace(instance.series_uid, series.size());
    if (inserted) series.push_back({instance.series_uid, {}});
    series[it->second].instances.push_back(std::move(instance));
  }
  for (auto& s : series) {
    std::sort(s.instances.begin(), s.instances.end(),
              [](const DicomInstance& a, const DicomInstance& b) { return a.path < b.path; });
  }
  return series;
}

bool holds_only_associated_images(const DicomSeries& series) {
  return std::none_of(series.instances.begin(), series.instances.end(),
                      [](const DicomInstance& i) { return i.flavour == DicomInstance::Flavour::kVolume; });
}

DicomPyramid arrange_pyramid(const DicomSeries& series) {
  DicomPyramid pyramid;
  std::map<std::pair<int64_t, int64_t>, std::vector<DicomInstance>, std::greater<>> by_size;
  std::vector<std::string> kinds;
  for (const auto& instance : series.instances) {
    switch (instance.flavour) {
      case DicomInstance::Flavour::kVolume:
        by_size[{instance.total_columns, instance.total_rows}].push_back(instance);
        break;
      case DicomInstance::Flavour::kThumbnail:
        if (!pyramid.thumbnail && instance.samples_per_pixel == 3) pyramid.thumbnail = instance;
        [[fallthrough]];
      default:
        kinds.push_back(to_string(instance.flavour));
    }
  }
  if (by_size.empty()) {
    std::string found;
    for (size_t i = 0; i < kinds.size(); ++i) found += (i ? ", " : "") + kinds[i];
    throw Error("DICOM series " + series.uid + " (" + files_of(series.instances) + ") has no VOLUME image, only: " +
                found + "; these are a slide's associated images, not the slide. Give the folder of the whole series");
  }
  for (auto& [size, instances] : by_size) {
    try {
      pyramid.levels.push_back(level_parts(std::move(instances), pyramid.warnings));
    } catch (const UnsupportedFormatError& e) {
      throw UnsupportedFormatError("DICOM series " + series.uid + ": " + e.what());
    } catch (const Error& e) {
      throw Error("DICOM series " + series.uid + ": " + e.what());
    }
  }
  const DicomInstance& base = pyramid.levels.front().front();
  if (base.resampled) {
    throw Error("DICOM series " + series.uid + ": its base level is missing; the largest here, " + size_text(base) +
                " in " + base.path + ", is RESAMPLED from a larger one. Give every file of the series");
  }
  std::sort(pyramid.warnings.begin(), pyramid.warnings.end());
  pyramid.warnings.erase(std::unique(pyramid.warnings.begin(), pyramid.warnings.end()), pyramid.warnings.end());
  return pyramid;
}

}  // namespace tessera::stages
