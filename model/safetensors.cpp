#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tessera_model_io reads safetensors data in place and needs a little-endian host"
#endif

namespace tessera::model {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

std::string errno_text() { return std::strerror(errno); }

// The elements of `t`, each converted from its dtype to Out.
template <typename Out>
std::vector<Out> convert(const TensorView& t) {
  const size_t n = t.element_count();
  std::vector<Out> out(n);
  const uint8_t* p = t.data;
  const size_t es = element_size(t.dtype);
  for (size_t i = 0; i < n; ++i, p += es) {
    switch (t.dtype) {
      case DType::kBool:
        out[i] = static_cast<Out>(p[0] != 0 ? 1 : 0);
        break;
      case DType::kU8:
        out[i] = static_cast<Out>(p[0]);
        break;
      case DType::kI8:
        out[i] = static_cast<Out>(load<int8_t>(p));
        break;
      case DType::kF8E5M2:
        out[i] = static_cast<Out>(f8e5m2_to_float(p[0]));
        break;
      case DType::kF8E4M3:
        out[i] = static_cast<Out>(f8e4m3_to_float(p[0]));
        break;
      case DType::kI16:
        out[i] = static_cast<Out>(load<int16_t>(p));
        break;
      case DType::kU16:
        out[i] = static_cast<Out>(load<uint16_t>(p));
        break;
      case DType::kF16:
        out[i] = static_cast<Out>(f16_to_float(load<uint16_t>(p)));
        break;
      case DType::kBF16:
        out[i] = static_cast<Out>(bf16_to_float(load<uint16_t>(p)));
        break;
      case DType::kI32:
        out[i] = static_cast<Out>(load<int32_t>(p));
        break;
      case DType::kU32:
        out[i] = static_cast<Out>(load<uint32_t>(p));
        break;
      case DType::kF32:
        out[i] = static_cast<Out>(load<float>(p));
        break;
      case DType::kI64:
        out[i] = static_cast<Out>(load<int64_t>(p));
        break;
      case DType::kU64:
        out[i] = static_cast<Out>(load<uint64_t>(p));
        break;
      case DType::kF64:
        out[i] = static_cast<Out>(load<double>(p));
        break;
    }
  }
  return out;
}

// Element count of `shape`, or an error naming the file and tensor (negative dims, overflow).
uint64_t checked_count(const std::vector<int64_t>& shape, size_t esize, const std::string& file,
                       const std::string& tensor) {
  const std::string where = file + ": tensor \"" + tensor + "\"";
  uint64_t count = 1;
  for (const int64_t d : shape) {
    if (d < 0) throw WeightsError(where + ": negative dimension " + std::to_string(d), file, tensor);
    const auto dim = static_cast<uint64_t>(d);
    if (dim != 0 && count > std::numeric_limits<uint64_t>::max() / esize / dim) {
      throw WeightsError(where + ": element count overflows", file, tensor);
    }
    count *= dim;
  }
  return count;
}

void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw WeightsError(path + ": write failed: " + errno_text(), path);
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
}

bool has_dotdot(const std::string& relative) {
  std::stringstream ss(relative);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part == "..") return true;
  }
  return false;
}

}  // namespace

float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);  // zero or subnormal
    return sign ? -v : v;
  }
  const uint32_t bits = exp == 31 ? (sign | 0x7F800000u | (mant << 13)) : (sign | ((exp + 112) << 23) | (mant << 13));
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint16_t float_to_f16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, sizeof x);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t a = x & 0x7FFFFFFFu;
  if (a >= 0x7F800000u) {  // infinity or NaN (NaNs stay quiet NaNs)
    return static_cast<uint16_t>(sign | 0x7C00u | (a > 0x7F800000u ? 0x200u | ((a >> 13) & 0x3FFu) : 0u));
  }
  if (a >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65520 rounds to infinity
  if (a < 0x38800000u) {                                               // below 2^-14: subnormal or zero
    const uint32_t exp = a >> 23;
    if (exp < 102) return sign;  // below 2^-25 rounds to zero
    const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126 - exp;
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = (a >> 13) - (112u << 10);
  const uint32_t rem = a & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return static_cast<uint16_t>(sign | r);
}

float bf16_to_float(uint16_t bits) {
  const uint32_t x = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}

uint16_t float_to_bf16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, sizeof x);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

float f8e5m2_to_float(uint8_t bits) { return f16_to_float(static_cast<uint16_t>(bits << 8)); }

float f8e4m3_to_float(uint8_t bits) {
  const bool negative = (bits & 0x80u) != 0;
  const int exp = (bits >> 3) & 0xF;
  const int mant = bits & 0x7;
  float v;
  if (exp == 15 && mant == 7) {
    v = std::numeric_limits<float>::quiet_NaN();
  } else if (exp == 0) {
    v = std::ldexp(static_cast<float>(mant), -9);
  } else {
    v = std::ldexp(static_cast<float>(8 + mant), exp - 10);
  }
  return negative ? -v : v;
}

size_t TensorView::element_count() const {
  size_t n = 1;
  for (const int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

std::vector<float> TensorView::to_float32() const { return convert<float>(*this); }

std::vector<double> TensorView::to_float64() const { return convert<double>(*this); }

std::vector<int64_t> TensorView::to_int64() const {
  switch (dtype) {
    case DType::kF8E5M2:
    case DType::kF8E4M3:
    case DType::kF16:
    case DType::kBF16:
    case DType::kF32:
    case DType::kF64:
      throw WeightsError("tensor \"" + name + "\" is " + std::string(dtype_name(dtype)) + ", not an integer type", "",
                         name);
    case DType::kU64:
      for (size_t i = 0; i < element_count(); ++i) {
        if (load<uint64_t>(data + 8 * i) > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          throw WeightsError("tensor \"" + name + "\" holds a U64 value above INT64_MAX", "", name);
        }
      }
      break;
    default:
      break;
  }
  return convert<int64_t>(*this);
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile file;
  file.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw WeightsError(path + ": cannot open: " + errno_text(), path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    throw WeightsError(path + ": cannot stat: " + why, path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw WeightsError(path + ": not a regular file", path);
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw WeightsError(path + ": file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length",
                       path);
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const std::string why = m == MAP_FAILED ? errno_text() : std::string();
  ::close(fd);
  if (m == MAP_FAILED) throw WeightsError(path + ": mmap failed: " + why, path);
  file.mapping_ = m;
  file.mapping_size_ = size;
  file.parse(static_cast<const uint8_t*>(m), size);
  return file;
}

SafetensorsFile SafetensorsFile::from_bytes(std::vector<uint8_t> bytes, const std::string& name) {
  SafetensorsFile file;
  file.path_ = name;
  file.owned_ = std::move(bytes);
  file.parse(file.owned_.data(), file.owned_.size());
  return file;
}

void SafetensorsFile::parse(const uint8_t* bytes, size_t size) {
  if (size < 8) {
    throw WeightsError(path_ + ": file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length",
                       path_);
  }
  const auto n = load<uint64_t>(bytes);
  if (n > kMaxHeaderBytes) {
    throw WeightsError(path_ + ": header length " + std::to_string(n) + " exceeds the 100 MB limit", path_);
  }
  if (n > size - 8) {
    throw WeightsError(path_ + ": header length " + std::to_string(n) + " exceeds the " + std::to_string(size - 8) +
                           " bytes that follow it",
                       path_);
  }
  const std::string_view json(reinterpret_cast<const char*>(bytes + 8), static_cast<size_t>(n));
  const uint8_t* buffer = bytes + 8 + n;
  auto header = parse_safetensors_header(json, size - 8 - n, path_);
  tensors_.reserve(header.tensors.size());
  for (auto& e : header.tensors) {
    TensorView v;
    v.name = std::move(e.name);
    v.dtype = e.dtype;
    v.shape = std::move(e.shape);
    v.data = buffer + e.begin;
    v.bytes = static_cast<size_t>(e.end - e.begin);
    tensors_.push_back(std::move(v));
  }
  metadata_ = std::move(header.metadata);
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      mapping_(std::exchange(other.mapping_, nullptr)),
      mapping_size_(std::exchange(other.mapping_size_, 0)),
      owned_(std::move(other.owned_)),
      tensors_(std::move(other.tensors_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapping_size_ = std::exchange(other.mapping_size_, 0);
    owned_ = std::move(other.owned_);
    tensors_ = std::move(other.tensors_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { release(); }

void SafetensorsFile::release() noexcept {
  if (mapping_) ::munmap(mapping_, mapping_size_);
  mapping_ = nullptr;
  mapping_size_ = 0;
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
  const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const TensorView& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

TensorData TensorData::from_floats(std::string name, std::vector<int64_t> shape, const std::vector<float>& values,
                                   DType dtype) {
  TensorData t{std::move(name), dtype, std::move(shape), {}};
  const size_t es = element_size(dtype);
  t.bytes.resize(values.size() * es);
  for (size_t i = 0; i < values.size(); ++i) {
    uint8_t* p = t.bytes.data() + i * es;
    switch (dtype) {
      case DType::kF32:
        std::memcpy(p, &values[i], 4);
        break;
      case DType::kF64: {
        const double d = values[i];
        std::memcpy(p, &d, 8);
        break;
      }
      case DType::kF16: {
        const uint16_t h = float_to_f16(values[i]);
        std::memcpy(p, &h, 2);
        break;
      }
      case DType::kBF16: {
        const uint16_t h = float_to_bf16(values[i]);
        std::memcpy(p, &h, 2);
        break;
      }
      default:
        throw WeightsError("tensor \"" + t.name + "\": from_floats cannot make " + std::string(dtype_name(dtype)), "",
                           t.name);
    }
  }
  return t;
}

TensorData TensorData::from_doubles(std::string name, std::vector<int64_t> shape, const std::vector<double>& values) {
  TensorData t{std::move(name), DType::kF64, std::move(shape), std::vector<uint8_t>(values.size() * 8)};
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

TensorData TensorData::from_int64(std::string name, std::vector<int64_t> shape, const std::vector<int64_t>& values) {
  TensorData t{std::move(name), DType::kI64, std::move(shape), std::vector<uint8_t>(values.size() * 8)};
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorData*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](const TensorData* a, const TensorData* b) { return a->name < b->name; });

  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      first = false;
      append_json_string(header, k);
      header += ':';
      append_json_string(header, v);
    }
    header += '}';
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const TensorData& t = *sorted[i];
    const std::string where = path + ": tensor \"" + t.name + "\"";
    if (t.name.empty() || t.name == "__metadata__") throw WeightsError(where + ": invalid tensor name", path, t.name);
    if (i > 0 && sorted[i - 1]->name == t.name) throw WeightsError(where + ": given twice", path, t.name);
    const uint64_t need = checked_count(t.shape, element_size(t.dtype), path, t.name) * element_size(t.dtype);
    if (need != t.bytes.size()) {
      throw WeightsError(where + ": has " + std::to_string(t.bytes.size()) + " bytes but its dtype and shape need " +
                             std::to_string(need),
                         path, t.name);
    }
    if (header.size() > 1) header += ',';
    append_json_string(header, t.name);
    header += ":{\"dtype\":\"";
    header += dtype_name(t.dtype);
    header += "\",\"shape\":[";
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (d) header += ',';
      header += std::to_string(t.shape[d]);
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + need) + "]}";
    offset += need;
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');
  const uint64_t n = header.size();

  static std::atomic<unsigned> counter{0};
  const std::string temp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) throw WeightsError(temp + ": cannot create: " + errno_text(), temp);
  try {
    write_all(fd, &n, 8, temp);
    write_all(fd, header.data(), header.size(), temp);
    for (const TensorData* t : sorted) write_all(fd, t->bytes.data(), t->bytes.size(), temp);
    if (::fsync(fd) != 0) throw WeightsError(temp + ": fsync failed: " + errno_text(), temp);
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const std::string why = errno_text();
    ::unlink(temp.c_str());
    throw WeightsError(temp + ": close failed: " + why, temp);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(temp.c_str());
    throw WeightsError(path + ": cannot rename " + temp + " into place: " + why, path);
  }
}

WeightsSet WeightsSet::open(const std::string& path) {
  WeightsSet set;
  set.path_ = path;
  const bool is_index = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  if (!is_index) {
    set.add_shard(std::make_unique<SafetensorsFile>(SafetensorsFile::open(path)));
    set.metadata_ = set.shards_.front()->metadata();
    return set;
  }

  std::ifstream in(path, std::ios::binary);
  if (!in) throw WeightsError(path + ": cannot open the index", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw WeightsError(path + ": cannot read the index", path);
  const JsonValue root = parse_json(text.str(), path);
  if (root.kind != JsonValue::Kind::kObject) throw WeightsError(path + ": the index must be a JSON object", path);
  if (const JsonValue* meta = root.find("metadata")) {
    if (meta->kind != JsonValue::Kind::kObject) throw WeightsError(path + ": \"metadata\" must be an object", path);
    for (const auto& m : meta->members) {
      set.metadata_.emplace(m.key, m.value.kind == JsonValue::Kind::kString ? m.value.text : m.value.dump());
    }
  }
  const JsonValue* weight_map = root.find("weight_map");
  if (!weight_map || weight_map->kind != JsonValue::Kind::kObject) {
    throw WeightsError(path + ": the index needs a \"weight_map\" object", path);
  }

  std::map<std::string, std::string> shard_of;  // tensor -> shard
  std::set<std::string> shard_names;
  for (const auto& m : weight_map->members) {
    const std::string& shard = m.value.text;
    if (m.value.kind != JsonValue::Kind::kString || shard.empty() || shard.front() == '/' || has_dotdot(shard)) {
      throw WeightsError(
          path + ": weight_map entry for \"" + m.key + "\" must be a shard file name relative to the index's folder",
          path, m.key);
    }
    shard_of.emplace(m.key, shard);
    shard_names.insert(shard);
  }

  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
  std::map<std::string, std::vector<std::string>> holders;  // tensor -> shards holding it
  for (const auto& shard : shard_names) {
    std::unique_ptr<SafetensorsFile> file;
    try {
      file = std::make_unique<SafetensorsFile>(SafetensorsFile::open(dir + shard));
    } catch (const WeightsError& e) {
      throw WeightsError(path + ": shard \"" + shard + "\": " + e.what(), dir + shard, e.tensor());
    }
    for (const auto& t : file->tensors()) holders[t.name].push_back(shard);
    set.shards_.push_back(std::move(file));
  }
  for (const auto& [tensor, shards] : holders) {
    if (shards.size() > 1) {
      throw WeightsError(
          path + ": tensor \"" + tensor + "\" is in two shards, \"" + shards[0] + "\" and \"" + shards[1] + "\"", path,
          tensor);
    }
  }
  for (const auto& [tensor, shard] : shard_of) {
    const auto it = holders.find(tensor);
    if (it == holders.end() || it->second.front() != shard) {
      throw WeightsError(
          path + ": tensor \"" + tensor + "\" is listed for shard \"" + shard + "\", which does not hold it", path,
          tensor);
    }
  }
  for (const auto& [tensor, shards] : holders) {
    if (!shard_of.count(tensor)) {
      throw WeightsError(
          path + ": shard \"" + shards.front() + "\" holds tensor \"" + tensor + "\", which the index does not list",
          path, tensor);
    }
  }
  auto shards = std::move(set.shards_);
  set.shards_.clear();
  for (auto& s : shards) set.add_shard(std::move(s));
  return set;
}

void WeightsSet::add_shard(std::unique_ptr<SafetensorsFile> shard) {
  for (const auto& t : shard->tensors()) index_.emplace(t.name, &t);
  shards_.push_back(std::move(shard));
}

const TensorView* WeightsSet::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& WeightsSet::at(std::string_view name) const {
  const TensorView* t = find(name);
  if (!t) throw WeightsError(path_ + ": no tensor \"" + std::string(name) + "\"", path_, std::string(name));
  return *t;
}

std::vector<std::string> WeightsSet::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, view] : index_) out.push_back(name);
  return out;
}

}  // namespace tessera::model
