#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "slide/dicom_instance.h"
#include "slide/tiled_level_reader.h"

namespace tessera::stages {

template <typename Handle>
class HandlePool;

// Reads one level of a DICOM whole-slide series: one instance, or the parts
// of a concatenation, whose frames are the level's tiles. DCMTK parses each
// file once per reading thread and leaves the frames in the file; a tile's
// frame is read on demand and decoded with libjpeg-turbo (JPEG baseline, at
// 1/2, 1/4 or 1/8 by its scaled IDCT), OpenJPEG (JPEG 2000 and HTJ2K, at a
// reduced resolution level) or copied (uncompressed). TILED_FULL frames fill
// the grid in order; TILED_SPARSE frames sit where their positions say, and a
// tile without a frame is background.
class DicomLevelReader final : public TiledLevelReader {
 public:
  // `parts` as arrange_pyramid gives them. Throws tessera::Error naming the
  // file when a sparse frame's position is off the frame grid.
  explicit DicomLevelReader(std::vector<DicomInstance> parts);
  ~DicomLevelReader() override;

  const std::vector<DicomInstance>& parts() const { return parts_; }

 private:
  struct Handle;
  struct FrameRef {
    uint32_t part = 0;
    uint32_t frame = 0;  // within the part, 0-based
  };
  bool decode_tile(uint32_t column, uint32_t row, int scale, std::vector<uint8_t>& pixels) const override;
  std::unique_ptr<Handle> open_handle(uint32_t part) const;
  void read_frame(Handle& handle, const FrameRef& frame, std::vector<uint8_t>& bytes) const;

  std::vector<DicomInstance> parts_;
  uint32_t tiles_across_ = 0;
  uint32_t tiles_down_ = 0;
  std::vector<int64_t> frame_of_tile_;  // TILED_SPARSE: part << 32 | frame per tile, -1 for none
  std::vector<int64_t> part_first_frame_;
  std::vector<std::unique_ptr<HandlePool<Handle>>> handles_;  // per part
};

}  // namespace tessera::stages
