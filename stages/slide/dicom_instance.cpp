#include "slide/dicom_instance.h"

// osconfig.h first: DCMTK's headers depend on its definitions.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/oflog/oflog.h>

#include <array>
#include <cstring>
#include <fstream>
#include <mutex>

#include "base/error.h"
#include "dicom_read_limits.h"
#include "slide/slide_format.h"

namespace tessera::stages {
namespace {

constexpr const char* kWholeSlideSopClass = "1.2.840.10008.5.1.4.1.1.77.1.6";
// Illumination method codes (DICOM CID 8123).
constexpr const char* kEpifluorescence = "111743";

std::string text(DcmItem& item, const DcmTagKey& tag, unsigned long position = 0) {
  OFString value;
  return item.findAndGetOFString(tag, value, position).good() ? std::string(value.c_str()) : std::string();
}

std::string all_values(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  return item.findAndGetOFStringArray(tag, value).good() ? std::string(value.c_str()) : std::string();
}

int64_t integer(DcmItem& item, const DcmTagKey& tag, int64_t fallback = 0) {
  const std::string value = text(item, tag);
  if (value.empty()) return fallback;
  try {
    return std::stoll(value);
  } catch (const std::exception&) {
    return fallback;
  }
}

double decimal(DcmItem& item, const DcmTagKey& tag, unsigned long position = 0) {
  Float64 value = 0;
  return item.findAndGetFloat64(tag, value, position).good() ? double(value) : 0.0;
}

DcmItem* first_item(DcmItem& item, const DcmTagKey& sequence, int index = 0) {
  DcmItem* found = nullptr;
  return item.findAndGetSequenceItem(sequence, found, index).good() ? found : nullptr;
}

std::vector<std::string> split_backslash(const std::string& values) {
  std::vector<std::string> parts(1);
  for (const char c : values) {
    if (c == '\\') {
      parts.emplace_back();
    } else {
      parts.back().push_back(c);
    }
  }
  return parts;
}

DicomInstance::Flavour flavour_of(const std::vector<std::string>& image_type) {
  if (image_type.size() < 3) return DicomInstance::Flavour::kOther;
  const std::string& kind = image_type[2];
  if (kind == "VOLUME") return DicomInstance::Flavour::kVolume;
  if (kind == "LABEL") return DicomInstance::Flavour::kLabel;
  if (kind == "OVERVIEW") return DicomInstance::Flavour::kOverview;
  if (kind == "THUMBNAIL") return DicomInstance::Flavour::kThumbnail;
  return DicomInstance::Flavour::kOther;
}

void read_optical_paths(DcmDataset& data, DicomInstance& instance) {
  DcmSequenceOfItems* paths = nullptr;
  if (data.findAndGetSequence(DCM_OpticalPathSequence, paths).bad() || !paths || paths->card() == 0) return;
  instance.optical_paths = int(std::max<int64_t>(integer(data, DCM_NumberOfOpticalPaths, 1), paths->card()));
  bool every_path_fluorescent = true;
  for (unsigned long i = 0; i < paths->card(); ++i) {
    DcmItem* path = paths->getItem(i);
    DcmItem* illumination = first_item(*path, DCM_IlluminationTypeCodeSequence);
    every_path_fluorescent &= illumination && text(*illumination, DCM_CodeValue) == kEpifluorescence;
    if (instance.objective_power == 0) instance.objective_power = decimal(*path, DCM_ObjectiveLensPower);
  }
  instance.fluorescence_only = every_path_fluorescent;
}

void read_spacing(DcmDataset& data, DicomInstance& instance) {
  DcmItem* shared = first_item(data, DCM_SharedFunctionalGroupsSequence);
  DcmItem* measures = shared ? first_item(*shared, DCM_PixelMeasuresSequence) : nullptr;
  if (!measures) return;
  instance.spacing_row_mm = decimal(*measures, DCM_PixelSpacing, 0);
  instance.spacing_column_mm = decimal(*measures, DCM_PixelSpacing, 1);
}

void read_positions(DcmDataset& data, DicomInstance& instance) {
  DcmSequenceOfItems* frames = nullptr;
  if (data.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, frames).bad() || !frames) return;
  if (int64_t(frames->card()) != instance.frames) {
    throw Error(instance.path + ": PerFrameFunctionalGroupsSequence has " + std::to_string(frames->card()) +
                " items for NumberOfFrames " + std::to_string(instance.frames));
  }
  instance.positions.reserve(frames->card());
  for (unsigned long i = 0; i < frames->card(); ++i) {
    DcmItem* position = first_item(*frames->getItem(i), DCM_PlanePositionSlideSequence);
    if (!position) {
      throw Error(instance.path + ": frame " + std::to_string(i + 1) + " has no PlanePositionSlideSequence");
    }
    Sint32 column = 0, row = 0;
    if (position->findAndGetSint32(DCM_ColumnPositionInTotalImagePixelMatrix, column).bad() ||
        position->findAndGetSint32(DCM_RowPositionInTotalImagePixelMatrix, row).bad()) {
      throw Error(instance.path + ": frame " + std::to_string(i + 1) +
                  " has no Column/RowPositionInTotalImagePixelMatrix");
    }
    // 1-based in DICOM.
    instance.positions.push_back({int64_t(column) - 1, int64_t(row) - 1});
  }
}

// DCMTK logs what it finds wrong on stderr as well as returning it; tessera
// reports the returned error with the file's name, once.
void quiet_dcmtk() {
  static std::once_flag once;
  std::call_once(once, [] { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); });
}

void require_positive(const DicomInstance& instance, const char* attribute, int64_t value) {
  if (value <= 0) throw Error(instance.path + ": " + attribute + " is missing or not positive");
}

}  // namespace

bool DicomInstance::is_whole_slide() const { return sop_class_uid == kWholeSlideSopClass; }

const char* to_string(DicomInstance::Flavour flavour) {
  switch (flavour) {
    case DicomInstance::Flavour::kVolume:
      return "VOLUME";
    case DicomInstance::Flavour::kLabel:
      return "LABEL";
    case DicomInstance::Flavour::kOverview:
      return "OVERVIEW";
    case DicomInstance::Flavour::kThumbnail:
      return "THUMBNAIL";
    case DicomInstance::Flavour::kOther:
      break;
  }
  return "other";
}

bool is_dicom_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 132> head{};
  return in.read(head.data(), head.size()) && std::memcmp(head.data() + 128, "DICM", 4) == 0;
}

bool is_jpeg_baseline(const std::string& ts) {
  return ts == UID_JPEGProcess1TransferSyntax || ts == UID_JPEGProcess2_4TransferSyntax;
}

bool is_jpeg2000(const std::string& ts) {
  // JPEG 2000 (lossless only, and lossy), and High-Throughput JPEG 2000 (lossless, RPCL, lossy).
  return ts == UID_JPEG2000LosslessOnlyTransferSyntax || ts == UID_JPEG2000TransferSyntax ||
         ts == "1.2.840.10008.1.2.4.201" || ts == "1.2.840.10008.1.2.4.202" || ts == "1.2.840.10008.1.2.4.203";
}

bool is_uncompressed(const std::string& ts) {
  return ts == UID_LittleEndianExplicitTransferSyntax || ts == UID_LittleEndianImplicitTransferSyntax;
}

std::string transfer_syntax_name(const std::string& ts) {
  const DcmXfer xfer(ts.c_str());
  return xfer.getXfer() == EXS_Unknown ? ts : std::string(xfer.getXferName());
}

DicomInstance read_dicom_instance(const std::string& path) {
  quiet_dcmtk();
  DcmFileFormat file;
  const OFCondition status =
      file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, kDicomMaxLoadedValue, ERM_autoDetect);
  if (status.bad()) throw Error(path + ": DCMTK cannot read the file: " + status.text());
  DcmDataset& data = *file.getDataset();
  DicomInstance instance;
  instance.path = path;
  instance.sop_class_uid = text(data, DCM_SOPClassUID);
  instance.series_uid = text(data, DCM_SeriesInstanceUID);
  instance.sop_instance_uid = text(data, DCM_SOPInstanceUID);
  instance.container_id = text(data, DCM_ContainerIdentifier);
  instance.manufacturer = text(data, DCM_Manufacturer);
  instance.model = text(data, DCM_ManufacturerModelName);
  instance.image_type = all_values(data, DCM_ImageType);
  const auto image_type = split_backslash(instance.image_type);
  instance.flavour = flavour_of(image_type);
  instance.resampled = image_type.size() >= 4 && image_type[3] == "RESAMPLED";
  instance.transfer_syntax = DcmXfer(data.getOriginalXfer()).getXferID();
  if (!instance.is_whole_slide()) {
    const std::string sop = instance.sop_class_uid.empty() ? "none" : instance.sop_class_uid;
    const char* name = dcmFindNameOfUID(instance.sop_class_uid.c_str(), nullptr);
    throw UnsupportedFormatError(path + ": a DICOM file of SOP class " + (name ? std::string(name) : sop) +
                                 ", not VL Whole Slide Microscopy Image Storage (" + kWholeSlideSopClass + ")");
  }
  if (instance.series_uid.empty()) throw Error(path + ": SeriesInstanceUID is missing");
  instance.photometric = text(data, DCM_PhotometricInterpretation);
  instance.samples_per_pixel = int(integer(data, DCM_SamplesPerPixel));
  instance.bits_allocated = int(integer(data, DCM_BitsAllocated));
  instance.frame_columns = uint32_t(integer(data, DCM_Columns));
  instance.frame_rows = uint32_t(integer(data, DCM_Rows));
  instance.frames = integer(data, DCM_NumberOfFrames, 1);
  instance.total_columns = integer(data, DCM_TotalPixelMatrixColumns, instance.frame_columns);
  instance.total_rows = integer(data, DCM_TotalPixelMatrixRows, instance.frame_rows);
  require_positive(instance, "Columns", instance.frame_columns);
  require_positive(instance, "Rows", instance.frame_rows);
  require_positive(instance, "NumberOfFrames", instance.frames);
  require_positive(instance, "TotalPixelMatrixColumns", instance.total_columns);
  require_positive(instance, "TotalPixelMatrixRows", instance.total_rows);
  instance.focal_planes = int(std::max<int64_t>(1, integer(data, DCM_TotalPixelMatrixFocalPlanes, 1)));
  read_optical_paths(data, instance);
  read_spacing(data, instance);
  const std::string organisation = text(data, DCM_DimensionOrganizationType);
  if (organisation == "TILED_SPARSE" ||
      (organisation != "TILED_FULL" && data.tagExists(DCM_PerFrameFunctionalGroupsSequence))) {
    instance.sparse = true;
    read_positions(data, instance);
    if (instance.positions.empty()) throw Error(path + ": TILED_SPARSE without per-frame positions");
  }
  instance.concatenation_uid = text(data, DCM_ConcatenationUID);
  if (!instance.concatenation_uid.empty()) {
    instance.concatenation_frame_offset = integer(data, DCM_ConcatenationFrameOffsetNumber);
    instance.concatenation_part = int(integer(data, DCM_InConcatenationNumber));
    instance.concatenation_parts = int(integer(data, DCM_InConcatenationTotalNumber));
  }
  return instance;
}

}  // namespace tessera::stages
