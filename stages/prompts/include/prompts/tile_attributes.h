#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tessera::stages {

// One patch of a wsinfer-style per-patch prediction table.
struct AttributePatch {
  double x = 0, y = 0, w = 0, h = 0;  // pixels at the table's µm/px
  std::optional<double> tumor;        // probabilities in [0, 1]
  std::optional<double> til;
  size_t line = 0;  // of the table, for messages
};

struct SlideAttributes {
  std::string source;  // the table's file, for messages
  double mpp = 0;      // µm/px of the patch coordinates
  std::vector<AttributePatch> patches;
};

struct TileAttributeOptions {
  // µm/px of the coordinates when the table has no `mpp` column. Default: 0
  // (required then).
  double mpp = 0;
  // Column names. Defaults: slide, x, y, w, h, tumor, til.
  std::string slide_column = "slide", x_column = "x", y_column = "y", w_column = "w", h_column = "h";
  std::string tumor_column = "tumor", til_column = "til";
};

// Reads the table: one row per patch, with slide id, x, y, w, h, and the
// tumour and TIL probabilities (either column may be absent, or a cell empty).
// Errors name the file, line and column: a value that is not a finite number,
// a probability outside [0, 1], a patch of no area, a slide with two µm/px
// values, and a patch (slide, x, y, w, h) listed twice, with both lines.
std::map<std::string, SlideAttributes> read_tile_attributes(const std::string& path,
                                                            const TileAttributeOptions& options = {});

// Throws tessera::Error naming the table's file and line for a patch that
// lies wholly off the slide: its coordinates are not the slide's (another
// slide's, another unit or µm/px), or absurdly large.
// `width0` x `height0` are the slide's level-0 pixels at `slide_mpp`.
void check_patches_on_slide(const SlideAttributes& attributes, const std::string& slide_id, double slide_mpp,
                            int64_t width0, int64_t height0);

struct TileProbabilities {
  std::optional<double> tumor;
  std::optional<double> til;
};

// Area-weighted mean of the patches overlapping a tile given in level-0 pixels
// of a slide at `slide_mpp`; an attribute no overlapping patch has stays empty.
TileProbabilities average_over_tile(const SlideAttributes& attributes, double slide_mpp, int64_t x, int64_t y,
                                    int64_t extent);

}  // namespace tessera::stages
