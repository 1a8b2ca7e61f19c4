#include "slide/dicom_level_reader.h"

// osconfig.h first: DCMTK's headers depend on its definitions.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfcache.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include <algorithm>

#include "base/error.h"
#include "dicom_read_limits.h"
#include "handle_pool.h"
#include "slide/jpeg2000_decoder.h"
#include "slide/jpeg_tile_decoder.h"

namespace tessera::stages {
namespace {

// A frame's compressed bytes beyond this multiple of its decoded size mean a
// corrupt length, refused before anything is allocated for it.
constexpr uint64_t kMaxCompressedRatio = 4;

int largest_scale(const DicomInstance& instance) {
  if (is_uncompressed(instance.transfer_syntax)) return 1;
  return largest_scale_dividing(instance.frame_columns, instance.frame_rows);
}

}  // namespace

struct DicomLevelReader::Handle {
  DcmFileFormat file;
  DcmFileCache cache;  // keeps the file open between frames
  DcmPixelData* pixel_data = nullptr;
  DcmPixelSequence* fragments = nullptr;  // encapsulated frames; null when uncompressed
  std::unique_ptr<JpegTileDecoder> jpeg;
  std::vector<uint8_t> compressed;
};

DicomLevelReader::DicomLevelReader(std::vector<DicomInstance> parts)
    : TiledLevelReader(parts.front().path, parts.front().total_columns, parts.front().total_rows,
                       parts.front().frame_columns, parts.front().frame_rows, largest_scale(parts.front())),
      parts_(std::move(parts)) {
  const DicomInstance& first = parts_.front();
  tiles_across_ = uint32_t((first.total_columns + first.frame_columns - 1) / first.frame_columns);
  tiles_down_ = uint32_t((first.total_rows + first.frame_rows - 1) / first.frame_rows);
  for (const auto& part : parts_) {
    part_first_frame_.push_back(part.concatenation_frame_offset);
    handles_.push_back(std::make_unique<HandlePool<Handle>>());
  }
  if (!first.sparse) return;
  frame_of_tile_.assign(size_t(tiles_across_) * tiles_down_, -1);
  for (uint32_t p = 0; p < parts_.size(); ++p) {
    const auto& part = parts_[p];
    for (uint32_t f = 0; f < part.positions.size(); ++f) {
      const auto& position = part.positions[f];
      if (position.column < 0 || position.row < 0 || position.column % part.frame_columns != 0 ||
          position.row % part.frame_rows != 0 || position.column / part.frame_columns >= tiles_across_ ||
          position.row / part.frame_rows >= tiles_down_) {
        throw Error(part.path + ": frame " + std::to_string(f + 1) + " is at column " +
                    std::to_string(position.column + 1) + ", row " + std::to_string(position.row + 1) +
                    ", off the grid of " + std::to_string(part.frame_columns) + "x" + std::to_string(part.frame_rows) +
                    " frames");
      }
      int64_t& slot = frame_of_tile_[size_t(position.row / part.frame_rows) * tiles_across_ +
                                     size_t(position.column / part.frame_columns)];
      // Other focal planes and optical paths repeat a position: the first frame there is read.
      if (slot < 0) slot = int64_t(p) << 32 | f;
    }
  }
}

DicomLevelReader::~DicomLevelReader() = default;

std::unique_ptr<DicomLevelReader::Handle> DicomLevelReader::open_handle(uint32_t part) const {
  const std::string& file = parts_[part].path;
  auto handle = std::make_unique<Handle>();
  const OFCondition status =
      handle->file.loadFile(file.c_str(), EXS_Unknown, EGL_noChange, kDicomMaxLoadedValue, ERM_autoDetect);
  if (status.bad()) throw Error(file + ": DCMTK cannot read the file: " + status.text());
  DcmDataset& data = *handle->file.getDataset();
  DcmElement* element = nullptr;
  if (data.findAndGetElement(DCM_PixelData, element).bad() || !element) throw Error(file + ": no PixelData");
  handle->pixel_data = static_cast<DcmPixelData*>(element);
  if (!is_uncompressed(parts_[part].transfer_syntax)) {
    if (handle->pixel_data->getEncapsulatedRepresentation(data.getOriginalXfer(), nullptr, handle->fragments).bad() ||
        !handle->fragments) {
      throw Error(file + ": PixelData is not encapsulated as its transfer syntax says");
    }
    // The first item is the basic offset table; one fragment per frame after it.
    const int64_t fragments = int64_t(handle->fragments->card()) - 1;
    if (fragments != parts_[part].frames) {
      throw Error(file + ": " + std::to_string(fragments) + " fragments for " + std::to_string(parts_[part].frames) +
                  " frames; tessera reads one fragment per frame, as whole-slide images are written");
    }
  }
  const std::string& photometric = parts_[part].photometric;
  handle->jpeg = std::make_unique<JpegTileDecoder>(
      std::vector<uint8_t>{}, photometric.rfind("YBR", 0) == 0 ? JpegTileDecoder::Colour::kMarkersElseYCbCr
                                                               : JpegTileDecoder::Colour::kMarkersElseRgb);
  return handle;
}

void DicomLevelReader::read_frame(Handle& handle, const FrameRef& frame, std::vector<uint8_t>& bytes) const {
  const DicomInstance& part = parts_[frame.part];
  const uint64_t decoded = uint64_t(part.frame_columns) * part.frame_rows * 3;
  if (!handle.fragments) {
    const uint64_t offset = decoded * frame.frame;
    if (offset + decoded > UINT32_MAX) throw Error(part.path + ": uncompressed pixel data beyond 4 GiB");
    bytes.resize(size_t(decoded));
    const OFCondition status =
        handle.pixel_data->getPartialValue(bytes.data(), Uint32(offset), Uint32(decoded), &handle.cache);
    if (status.bad()) throw Error(status.text());
    return;
  }
  DcmPixelItem* item = nullptr;
  if (handle.fragments->getItem(item, frame.frame + 1).bad() || !item) throw Error("no fragment");
  const uint32_t length = item->getLength();
  if (length == 0) throw Error("its fragment is empty");
  if (length > kMaxCompressedRatio * decoded) {
    throw Error("its length " + std::to_string(length) + " is implausible");
  }
  bytes.resize(length);
  const OFCondition status = item->getPartialValue(bytes.data(), 0, length, &handle.cache);
  if (status.bad()) throw Error(std::string("DCMTK: ") + status.text());
}

bool DicomLevelReader::decode_tile(uint32_t column, uint32_t row, int scale, std::vector<uint8_t>& pixels) const {
  FrameRef frame;
  if (!frame_of_tile_.empty()) {
    const int64_t slot = frame_of_tile_[size_t(row) * tiles_across_ + column];
    if (slot < 0) return false;
    frame = {uint32_t(slot >> 32), uint32_t(slot & 0xffffffff)};
  } else {
    // TILED_FULL: row-major over the first focal plane of the first optical path.
    const int64_t global = int64_t(row) * tiles_across_ + column;
    const auto after = std::upper_bound(part_first_frame_.begin(), part_first_frame_.end(), global);
    frame.part = uint32_t(after - part_first_frame_.begin() - 1);
    frame.frame = uint32_t(global - part_first_frame_[frame.part]);
  }
  const DicomInstance& part = parts_[frame.part];
  auto handle = handles_[frame.part]->acquire([&] { return open_handle(frame.part); });
  const int width = int(part.frame_columns) / scale, height = int(part.frame_rows) / scale;
  std::string failure;
  try {
    read_frame(*handle, frame, handle->compressed);
    const auto& bytes = handle->compressed;
    if (handle->fragments == nullptr) {
      pixels.assign(bytes.begin(), bytes.end());
    } else if (is_jpeg2000(part.transfer_syntax)) {
      if (!decode_jpeg2000(bytes.data(), bytes.size(), scale, pixels.data(), width, height, failure)) {
        failure = "JPEG 2000: " + failure;
      }
    } else if (!handle->jpeg->decode(bytes.data(), bytes.size(), scale, pixels.data(), width, height, failure)) {
      failure = "JPEG: " + failure;
    }
  } catch (const Error& e) {
    failure = e.what();
  }
  if (!failure.empty()) {
    throw Error(part.path + ": cannot decode frame " + std::to_string(frame.frame + 1) + " (tile " +
                std::to_string(column) + "," + std::to_string(row) + ")" +
                (scale > 1 ? " at 1/" + std::to_string(scale) : std::string()) + " (" + failure + ")");
  }
  handles_[frame.part]->release(std::move(handle));
  return true;
}

}  // namespace tessera::stages
