#include "prompts/tile_attributes.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <tuple>

#include "base/error.h"
#include "prompts/csv_table.h"

namespace tessera::stages {
namespace {

double parse_number(const CsvTable& table, size_t row, size_t column, const std::string& name) {
  const std::string& text = table.rows[row][column];
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value)) {
    throw Error(table.where(row) + ": column '" + name + "' is not a finite number: '" + text + "'");
  }
  return value;
}

std::optional<double> probability(const CsvTable& table, size_t row, std::optional<size_t> column,
                                  const std::string& name) {
  if (!column || table.rows[row][*column].empty()) return std::nullopt;
  const double p = parse_number(table, row, *column, name);
  if (!(p >= 0 && p <= 1))
    throw Error(table.where(row) + ": column '" + name + "' is outside [0, 1]: " + table.rows[row][*column]);
  return p;
}

std::optional<size_t> optional_column(const CsvTable& table, const std::string& name) {
  for (size_t i = 0; i < table.header.size(); ++i) {
    if (table.header[i] == name) return i;
  }
  return std::nullopt;
}

}  // namespace

std::map<std::string, SlideAttributes> read_tile_attributes(const std::string& path, const TileAttributeOptions& o) {
  const CsvTable table = read_csv(path);
  const size_t slide = table.column(o.slide_column), x = table.column(o.x_column), y = table.column(o.y_column);
  const size_t w = table.column(o.w_column), h = table.column(o.h_column);
  const auto tumor = optional_column(table, o.tumor_column), til = optional_column(table, o.til_column);
  const auto mpp_column = optional_column(table, "mpp");
  if (!tumor && !til) {
    throw Error(path + ":1: neither a '" + o.tumor_column + "' nor a '" + o.til_column + "' column");
  }
  if (!mpp_column && !(o.mpp > 0)) {
    throw Error(path +
                ": the table has no 'mpp' column; give the coordinates' microns per pixel (--tile-attributes-mpp)");
  }
  std::map<std::string, SlideAttributes> by_slide;
  // The line of each patch, by slide and x, y, w, h: one listed twice would
  // count twice in a tile's average.
  std::map<std::tuple<std::string, double, double, double, double>, size_t> lines;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    AttributePatch patch{parse_number(table, r, x, o.x_column),        parse_number(table, r, y, o.y_column),
                         parse_number(table, r, w, o.w_column),        parse_number(table, r, h, o.h_column),
                         probability(table, r, tumor, o.tumor_column), probability(table, r, til, o.til_column)};
    if (!(patch.w > 0 && patch.h > 0)) throw Error(table.where(r) + ": patch width and height must be positive");
    const double mpp = mpp_column ? parse_number(table, r, *mpp_column, "mpp") : o.mpp;
    if (!(mpp > 0)) throw Error(table.where(r) + ": column 'mpp' must be positive");
    patch.line = table.row_lines[r];
    const auto [first, inserted] =
        lines.emplace(std::make_tuple(table.rows[r][slide], patch.x, patch.y, patch.w, patch.h), patch.line);
    if (!inserted) {
      throw Error(table.where(r) + ": slide '" + table.rows[r][slide] + "' has this patch (x, y, w, h) on line " +
                  std::to_string(first->second) + " already");
    }
    auto& entry = by_slide[table.rows[r][slide]];
    entry.source = path;
    if (entry.patches.empty()) entry.mpp = mpp;
    if (entry.mpp != mpp) throw Error(table.where(r) + ": slide '" + table.rows[r][slide] + "' mixes µm/px values");
    entry.patches.push_back(patch);
  }
  return by_slide;
}

void check_patches_on_slide(const SlideAttributes& attributes, const std::string& slide_id, double slide_mpp,
                            int64_t width0, int64_t height0) {
  // The slide in the table's pixel space.
  const double scale = slide_mpp / attributes.mpp;
  const double width = double(width0) * scale, height = double(height0) * scale;
  for (const auto& p : attributes.patches) {
    // Overlapping the slide only in part is fine (edge patches), and so is a
    // patch covering all of it (one value for the whole slide).
    if (p.x < width && p.y < height && p.x + p.w > 0 && p.y + p.h > 0) continue;
    std::ostringstream message;
    message << attributes.source << ":" << p.line << ": the patch at (" << p.x << ", " << p.y << ") of " << p.w << " x "
            << p.h << " px lies off slide " << slide_id << ", which is " << width << " x " << height
            << " px at the table's " << attributes.mpp << " um/px";
    throw Error(message.str());
  }
}

TileProbabilities average_over_tile(const SlideAttributes& attributes, double slide_mpp, int64_t x, int64_t y,
                                    int64_t extent) {
  // The tile in the table's pixel space.
  const double scale = slide_mpp / attributes.mpp;
  const double tx0 = double(x) * scale, ty0 = double(y) * scale;
  const double tx1 = double(x + extent) * scale, ty1 = double(y + extent) * scale;
  double tumor_sum = 0, tumor_area = 0, til_sum = 0, til_area = 0;
  for (const auto& p : attributes.patches) {
    const double ox = std::min(tx1, p.x + p.w) - std::max(tx0, p.x);
    const double oy = std::min(ty1, p.y + p.h) - std::max(ty0, p.y);
    if (ox <= 0 || oy <= 0) continue;
    const double area = ox * oy;
    if (p.tumor) tumor_sum += *p.tumor * area, tumor_area += area;
    if (p.til) til_sum += *p.til * area, til_area += area;
  }
  TileProbabilities out;
  if (tumor_area > 0) out.tumor = tumor_sum / tumor_area;
  if (til_area > 0) out.til = til_sum / til_area;
  return out;
}

}  // namespace tessera::stages
