#include "examples/dicom_series_writer.h"

// osconfig.h first: DCMTK's headers depend on its definitions.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <openjpeg.h>
#include <vips/vips.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>

#include "base/error.h"
#include "imaging/jpeg_codec.h"
#include "imaging/vips_runtime.h"

namespace tessera::examples {
namespace fs = std::filesystem;
using namespace stages;
namespace {

std::string new_uid() {
  char uid[100];
  return dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
}

void check(const OFCondition& status, const std::string& what) {
  if (status.bad()) throw Error(what + ": " + status.text());
}

struct ByteSink {
  std::vector<uint8_t> bytes;
  size_t position = 0;
};

OPJ_SIZE_T sink_write(void* data, OPJ_SIZE_T size, void* user) {
  auto& sink = *static_cast<ByteSink*>(user);
  if (sink.position + size > sink.bytes.size()) sink.bytes.resize(sink.position + size);
  std::memcpy(sink.bytes.data() + sink.position, data, size);
  sink.position += size;
  return size;
}

OPJ_OFF_T sink_skip(OPJ_OFF_T size, void* user) {
  auto& sink = *static_cast<ByteSink*>(user);
  sink.position += size_t(size);
  if (sink.position > sink.bytes.size()) sink.bytes.resize(sink.position);
  return size;
}

OPJ_BOOL sink_seek(OPJ_OFF_T position, void* user) {
  auto& sink = *static_cast<ByteSink*>(user);
  sink.position = size_t(position);
  if (sink.position > sink.bytes.size()) sink.bytes.resize(sink.position);
  return OPJ_TRUE;
}

// A lossy JPEG 2000 codestream (9/7 wavelet, colour transform, ratio 10).
std::vector<uint8_t> encode_jpeg2000(const RgbImage& frame) {
  opj_cparameters_t parameters;
  opj_set_default_encoder_parameters(&parameters);
  parameters.tcp_numlayers = 1;
  parameters.tcp_rates[0] = 10;
  parameters.cp_disto_alloc = 1;
  parameters.irreversible = 1;
  parameters.tcp_mct = 1;
  parameters.numresolution = 5;
  opj_image_cmptparm_t components[3];
  std::memset(components, 0, sizeof components);
  for (auto& c : components) {
    c.dx = c.dy = 1;
    c.w = OPJ_UINT32(frame.width);
    c.h = OPJ_UINT32(frame.height);
    c.prec = 8;
  }
  std::unique_ptr<opj_image_t, void (*)(opj_image_t*)> image(opj_image_create(3, components, OPJ_CLRSPC_SRGB),
                                                             opj_image_destroy);
  image->x1 = OPJ_UINT32(frame.width);
  image->y1 = OPJ_UINT32(frame.height);
  const size_t pixels = size_t(frame.width) * size_t(frame.height);
  for (int c = 0; c < 3; ++c) {
    for (size_t i = 0; i < pixels; ++i) image->comps[c].data[i] = frame.pixels[i * 3 + size_t(c)];
  }
  std::unique_ptr<opj_codec_t, void (*)(opj_codec_t*)> codec(opj_create_compress(OPJ_CODEC_J2K), opj_destroy_codec);
  ByteSink sink;
  std::unique_ptr<opj_stream_t, void (*)(opj_stream_t*)> stream(opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_FALSE),
                                                                opj_stream_destroy);
  opj_stream_set_user_data(stream.get(), &sink, nullptr);
  opj_stream_set_write_function(stream.get(), sink_write);
  opj_stream_set_skip_function(stream.get(), sink_skip);
  opj_stream_set_seek_function(stream.get(), sink_seek);
  if (!opj_setup_encoder(codec.get(), &parameters, image.get()) ||
      !opj_start_compress(codec.get(), image.get(), stream.get()) || !opj_encode(codec.get(), stream.get()) ||
      !opj_end_compress(codec.get(), stream.get())) {
    throw Error("OpenJPEG cannot encode a frame");
  }
  return sink.bytes;
}

RgbImage crop(const RgbImage& image, int x, int y, int w, int h) {
  RgbImage out(w, h, 255);
  const int cw = std::min(w, image.width - x), ch = std::min(h, image.height - y);
  for (int row = 0; row < ch; ++row) std::memcpy(out.at(0, row), image.at(x, y + row), size_t(cw) * 3);
  return out;
}

// Nothing darker than bright glass: a sparse series has no frame there.
bool only_glass(const RgbImage& frame) {
  return std::all_of(frame.pixels.begin(), frame.pixels.end(), [](uint8_t v) { return v >= 200; });
}

RgbImage reduce(const RgbImage& image, double factor) {
  if (factor == 1) return image;
  VipsRef in = wrap_rgb(image);
  VipsRef out;
  if (vips_resize(in.get(), out.out(), 1.0 / factor, "kernel", VIPS_KERNEL_LANCZOS3, nullptr)) {
    throw_vips_error("dicom level");
  }
  return to_rgb(out.get(), "dicom level");
}

struct Frame {
  std::vector<uint8_t> bytes;
  int column = 0;  // top-left in the level, 0-based
  int row = 0;
};

std::vector<Frame> cut_frames(const RgbImage& level, const DicomSeriesSpec& spec, uint32_t frame_w, uint32_t frame_h,
                              bool sparse) {
  std::vector<Frame> frames;
  for (int y = 0; y < level.height; y += int(frame_h)) {
    for (int x = 0; x < level.width; x += int(frame_w)) {
      const RgbImage pixels = crop(level, x, y, int(frame_w), int(frame_h));
      if (sparse && only_glass(pixels)) continue;
      Frame frame{{}, x, y};
      if (spec.codec == DicomSeriesSpec::Codec::kJpeg2000) {
        frame.bytes = encode_jpeg2000(pixels);
      } else {
        JpegOptions options;
        options.quality = spec.jpeg_quality;
        options.full_chroma = false;
        const std::string jpeg = encode_jpeg(pixels, options);
        frame.bytes.assign(jpeg.begin(), jpeg.end());
      }
      if (frame.bytes.size() % 2) frame.bytes.push_back(0);  // DICOM values have even lengths
      frames.push_back(std::move(frame));
    }
  }
  return frames;
}

struct Instance {
  std::string image_type;
  const RgbImage* pixels;
  uint32_t frame_w, frame_h;
  std::vector<Frame> frames;
  double mpp;
  bool sparse;
  // Concatenation
  std::string concatenation_uid;
  std::string concatenation_source_uid;
  int64_t frame_offset = 0;
  int part = 0, parts = 0;
};

void write_instance(const std::string& path, const Instance& instance, const DicomSeriesSpec& spec,
                    const std::string& study_uid, const std::string& series_uid, const std::string& sop_uid) {
  DcmFileFormat file;
  DcmDataset& data = *file.getDataset();
  const bool j2k = spec.codec == DicomSeriesSpec::Codec::kJpeg2000;
  const E_TransferSyntax syntax = j2k ? EXS_JPEG2000 : EXS_JPEGProcess1;
  const auto put = [&](DcmItem& item, const DcmTagKey& tag, const std::string& value) {
    check(item.putAndInsertString(tag, value.c_str()), path);
  };
  put(data, DCM_SOPClassUID, UID_VLWholeSlideMicroscopyImageStorage);
  put(data, DCM_SOPInstanceUID, sop_uid);
  put(data, DCM_StudyInstanceUID, study_uid);
  put(data, DCM_SeriesInstanceUID, series_uid);
  put(data, DCM_Modality, "SM");
  put(data, DCM_Manufacturer, "tessera examples");
  put(data, DCM_ImageType, instance.image_type);
  if (!spec.container_id.empty()) put(data, DCM_ContainerIdentifier, spec.container_id);
  put(data, DCM_DimensionOrganizationType, instance.sparse ? "TILED_SPARSE" : "TILED_FULL");
  put(data, DCM_SamplesPerPixel, "3");
  put(data, DCM_PhotometricInterpretation, j2k ? "YBR_ICT" : "YBR_FULL_422");
  put(data, DCM_PlanarConfiguration, "0");
  put(data, DCM_BitsAllocated, "8");
  put(data, DCM_BitsStored, "8");
  put(data, DCM_HighBit, "7");
  put(data, DCM_PixelRepresentation, "0");
  put(data, DCM_Columns, std::to_string(instance.frame_w));
  put(data, DCM_Rows, std::to_string(instance.frame_h));
  put(data, DCM_NumberOfFrames, std::to_string(instance.frames.size()));
  put(data, DCM_TotalPixelMatrixColumns, std::to_string(instance.pixels->width));
  put(data, DCM_TotalPixelMatrixRows, std::to_string(instance.pixels->height));
  put(data, DCM_LossyImageCompression, "01");
  DcmItem* path_item = nullptr;
  check(data.findOrCreateSequenceItem(DCM_OpticalPathSequence, path_item, 0), path);
  put(*path_item, DCM_OpticalPathIdentifier, "1");
  DcmItem* illumination = nullptr;
  check(path_item->findOrCreateSequenceItem(DCM_IlluminationTypeCodeSequence, illumination, 0), path);
  put(*illumination, DCM_CodeValue, spec.fluorescence ? "111743" : "111744");
  put(*illumination, DCM_CodingSchemeDesignator, "DCM");
  put(*illumination, DCM_CodeMeaning, spec.fluorescence ? "Epifluorescence illumination" : "Brightfield illumination");
  if (spec.write_spacing) {
    DcmItem* shared = nullptr;
    DcmItem* measures = nullptr;
    check(data.findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0), path);
    check(shared->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, measures, 0), path);
    const std::string mm = std::to_string(instance.mpp / 1000);
    put(*measures, DCM_PixelSpacing, mm + "\\" + mm);
  }
  if (instance.sparse) {
    for (const auto& frame : instance.frames) {
      DcmItem* per_frame = nullptr;
      DcmItem* position = nullptr;
      check(data.findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence, per_frame, -2), path);
      check(per_frame->findOrCreateSequenceItem(DCM_PlanePositionSlideSequence, position, 0), path);
      check(position->putAndInsertSint32(DCM_ColumnPositionInTotalImagePixelMatrix, frame.column + 1), path);
      check(position->putAndInsertSint32(DCM_RowPositionInTotalImagePixelMatrix, frame.row + 1), path);
    }
  }
  if (!instance.concatenation_uid.empty()) {
    put(data, DCM_ConcatenationUID, instance.concatenation_uid);
    put(data, DCM_SOPInstanceUIDOfConcatenationSource, instance.concatenation_source_uid);
    put(data, DCM_ConcatenationFrameOffsetNumber, std::to_string(instance.frame_offset));
    put(data, DCM_InConcatenationNumber, std::to_string(instance.part));
    put(data, DCM_InConcatenationTotalNumber, std::to_string(instance.parts));
  }
  auto* fragments = new DcmPixelSequence(DcmTag(DCM_PixelData, EVR_OB));
  fragments->insert(new DcmPixelItem(DcmTag(DCM_PixelItemTag)));  // an empty basic offset table
  for (const auto& frame : instance.frames) {
    DcmOffsetList offsets;
    check(
        fragments->storeCompressedFrame(offsets, const_cast<Uint8*>(frame.bytes.data()), Uint32(frame.bytes.size()), 0),
        path);
  }
  auto* pixel_data = new DcmPixelData(DCM_PixelData);
  pixel_data->putOriginalRepresentation(syntax, nullptr, fragments);
  check(data.insert(pixel_data, true), path);
  check(file.saveFile(path.c_str(), syntax), path);
}

}  // namespace

std::vector<std::string> write_dicom_series(const RgbImage& image, const std::string& folder,
                                            const DicomSeriesSpec& spec) {
  fs::create_directories(folder);
  const std::string study_uid = new_uid();
  const std::string series_uid = spec.series_uid.empty() ? new_uid() : spec.series_uid;
  std::vector<std::string> written;
  for (size_t l = 0; l < spec.downsamples.size(); ++l) {
    const RgbImage level = reduce(image, spec.downsamples[l]);
    Instance instance;
    instance.image_type = l == 0 ? "ORIGINAL\\PRIMARY\\VOLUME\\NONE" : "DERIVED\\PRIMARY\\VOLUME\\RESAMPLED";
    instance.pixels = &level;
    instance.frame_w = instance.frame_h = spec.frame;
    instance.mpp = spec.mpp * spec.downsamples[l];
    instance.sparse = spec.sparse;
    auto frames = cut_frames(level, spec, spec.frame, spec.frame, spec.sparse);
    const std::string name = (fs::path(folder) / ("level-" + std::to_string(l))).string();
    if (l == 0 && spec.drop_last_frame) frames.pop_back();
    const int parts = l == 0 ? std::max(1, spec.base_parts) : 1;
    if (parts == 1) {
      instance.frames = std::move(frames);
      write_instance(name + ".dcm", instance, spec, study_uid, series_uid, new_uid());
      written.push_back(name + ".dcm");
      continue;
    }
    instance.concatenation_uid = new_uid();
    instance.concatenation_source_uid = new_uid();
    instance.parts = parts;
    const size_t per_part = (frames.size() + size_t(parts) - 1) / size_t(parts);
    for (int p = 0; p < parts; ++p) {
      const size_t begin = std::min(frames.size(), size_t(p) * per_part);
      const size_t end = std::min(frames.size(), begin + per_part);
      instance.frames.assign(frames.begin() + long(begin), frames.begin() + long(end));
      instance.frame_offset = int64_t(begin);
      instance.part = p + 1;
      const std::string file = name + "-part-" + std::to_string(p + 1) + ".dcm";
      write_instance(file, instance, spec, study_uid, series_uid, new_uid());
      written.push_back(file);
    }
  }
  if (spec.thumbnail_side > 0) {
    const double factor = double(std::max(image.width, image.height)) / spec.thumbnail_side;
    const RgbImage thumbnail = reduce(image, std::max(1.0, factor));
    Instance instance;
    instance.image_type = "DERIVED\\PRIMARY\\THUMBNAIL\\RESAMPLED";
    instance.pixels = &thumbnail;
    instance.frame_w = uint32_t(thumbnail.width);
    instance.frame_h = uint32_t(thumbnail.height);
    instance.mpp = spec.mpp * double(image.width) / thumbnail.width;
    instance.sparse = false;
    instance.frames = cut_frames(thumbnail, spec, instance.frame_w, instance.frame_h, false);
    const std::string file = (fs::path(folder) / "thumbnail.dcm").string();
    write_instance(file, instance, spec, study_uid, series_uid, new_uid());
    written.push_back(file);
  }
  if (spec.label) {
    RgbImage label(240, 120, 255);
    for (int y = 40; y < 80; ++y) {
      for (int x = 20; x < 220; x += 2) std::memset(label.at(x, y), 0, 3);
    }
    Instance instance;
    instance.image_type = "ORIGINAL\\PRIMARY\\LABEL\\NONE";
    instance.pixels = &label;
    instance.frame_w = 240;
    instance.frame_h = 120;
    instance.mpp = 20;
    instance.sparse = false;
    instance.frames = cut_frames(label, spec, 240, 120, false);
    const std::string file = (fs::path(folder) / "label.dcm").string();
    write_instance(file, instance, spec, study_uid, series_uid, new_uid());
    written.push_back(file);
  }
  return written;
}

RgbImage read_level0(const std::string& path) {
  ensure_vips();
  VipsRef image(vips_image_new_from_file(path.c_str(), "access", VIPS_ACCESS_SEQUENTIAL, nullptr));
  if (!image.get()) throw_vips_error(path);
  VipsRef flat;
  if (vips_image_hasalpha(image.get())) {
    if (vips_flatten(image.get(), flat.out(), nullptr)) throw_vips_error(path);
    image = std::move(flat);
  }
  return to_rgb(image.get(), path);
}

}  // namespace tessera::examples
