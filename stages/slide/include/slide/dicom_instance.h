#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::stages {

// What tessera needs from one file of a DICOM VL Whole Slide Microscopy
// series: its place in the series, its pixel matrix and how its frames are
// encoded and laid out. Read with DCMTK without loading the pixel data.
struct DicomInstance {
  enum class Flavour { kVolume, kLabel, kOverview, kThumbnail, kOther };
  // A frame's top-left in the total pixel matrix, 0-based (TILED_SPARSE).
  struct FramePosition {
    int64_t column = 0;
    int64_t row = 0;
  };

  std::string path;
  std::string sop_class_uid;
  std::string series_uid;
  std::string sop_instance_uid;
  std::string container_id;  // the slide's barcode or accession, often a TCGA barcode
  std::string manufacturer;
  std::string model;
  std::string image_type;  // as written, e.g. "DERIVED\PRIMARY\VOLUME\NONE"
  Flavour flavour = Flavour::kOther;
  bool resampled = false;  // ImageType's 4th value is RESAMPLED: not the base level

  std::string transfer_syntax;  // UID
  std::string photometric;
  int samples_per_pixel = 0;
  int bits_allocated = 0;
  uint32_t frame_columns = 0;
  uint32_t frame_rows = 0;
  int64_t total_columns = 0;
  int64_t total_rows = 0;
  int64_t frames = 0;
  bool sparse = false;                   // TILED_SPARSE: per-frame positions; else TILED_FULL
  std::vector<FramePosition> positions;  // sparse: one per frame
  int optical_paths = 1;
  int focal_planes = 1;
  bool fluorescence_only = false;  // every optical path is lit by epifluorescence
  double objective_power = 0;      // 0: not given

  // PixelSpacing of the shared functional groups, in mm (row, column); 0 when absent.
  double spacing_row_mm = 0;
  double spacing_column_mm = 0;

  // Concatenations: one instance's frames spread over several files.
  std::string concatenation_uid;
  int64_t concatenation_frame_offset = 0;
  int concatenation_part = 0;   // InConcatenationNumber, 1-based; 0 outside a concatenation
  int concatenation_parts = 0;  // InConcatenationTotalNumber

  bool is_whole_slide() const;  // the VL Whole Slide Microscopy SOP class
};

// "VOLUME", "LABEL", "OVERVIEW", "THUMBNAIL" or "other".
const char* to_string(DicomInstance::Flavour flavour);

// True when the file starts with DICOM's 128-byte preamble and "DICM".
bool is_dicom_file(const std::string& path);

// Reads one file's attributes. Throws tessera::Error naming the file, with
// DCMTK's own reason, when it cannot be parsed, and naming the attribute when
// a required one is missing or implausible.
DicomInstance read_dicom_instance(const std::string& path);

// The transfer syntaxes whose frames tessera decodes, by name.
bool is_jpeg_baseline(const std::string& transfer_syntax);
bool is_jpeg2000(const std::string& transfer_syntax);
bool is_uncompressed(const std::string& transfer_syntax);
// DCMTK's name of a transfer syntax UID, or the UID when DCMTK has none.
std::string transfer_syntax_name(const std::string& transfer_syntax);

}  // namespace tessera::stages
