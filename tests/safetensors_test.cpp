#include "model/safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>

#include "test_data.h"

namespace tessera::model {
namespace {
namespace fs = std::filesystem;

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A file from a raw header (not padded) and `buffer_size` zero bytes.
std::vector<uint8_t> raw_file(const std::string& header, size_t buffer_size) {
  std::vector<uint8_t> bytes(8 + header.size() + buffer_size, 0);
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  std::copy(header.begin(), header.end(), bytes.begin() + 8);
  return bytes;
}

std::vector<uint16_t> halves(const TensorView& t) {
  std::vector<uint16_t> out(t.element_count());
  std::memcpy(out.data(), t.data, t.bytes);
  return out;
}

TEST(HalfFloats, EncodeToHandComputedBitPatterns) {
  EXPECT_EQ(float_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(float_to_f16(-2.5f), 0xC100);
  EXPECT_EQ(float_to_f16(65504.0f), 0x7BFF);               // largest finite half
  EXPECT_EQ(float_to_f16(65519.0f), 0x7BFF);               // below the rounding midpoint
  EXPECT_EQ(float_to_f16(65520.0f), 0x7C00);               // the midpoint rounds to even: infinity
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_f16(std::ldexp(1023.0f, -24)), 0x03FF);
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie with zero rounds to even
  EXPECT_EQ(float_to_f16(std::ldexp(3.0f, -26)), 0x0001);
  EXPECT_EQ(float_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp: tie rounds to even
  EXPECT_EQ(float_to_f16(0.1f), 0x2E66);
  EXPECT_EQ(float_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_f16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(float_to_f16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_EQ(float_to_f16(std::numeric_limits<float>::quiet_NaN()) & 0x7E00, 0x7E00);
  EXPECT_EQ(float_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie, even stays
  EXPECT_EQ(float_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie, odd rounds up

  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bf16(-2.5f), 0xC020);
  EXPECT_EQ(float_to_bf16(65504.0f), 0x4780);  // 65536 in bfloat16
  EXPECT_EQ(float_to_bf16(0.1f), 0x3DCD);
  EXPECT_EQ(float_to_bf16(std::ldexp(1.0f, -133)), 0x0001);  // float subnormal -> bf16 subnormal
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::quiet_NaN()) & 0x7FC0, 0x7FC0);
}

TEST(HalfFloats, DecodeBitPatterns) {
  EXPECT_EQ(f16_to_float(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_float(0xC100), -2.5f);
  EXPECT_EQ(f16_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(f16_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_float(0x83FF), -std::ldexp(1023.0f, -24));
  EXPECT_TRUE(std::signbit(f16_to_float(0x8000)));
  EXPECT_EQ(f16_to_float(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f16_to_float(0x7E00)));
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_float(0xC020), -2.5f);
  EXPECT_EQ(bf16_to_float(0x0001), std::ldexp(1.0f, -133));
  // Every finite half survives half -> float -> half.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00) continue;
    ASSERT_EQ(float_to_f16(f16_to_float(static_cast<uint16_t>(h))), h);
  }
  EXPECT_EQ(f8e5m2_to_float(0x3C), 1.0f);
  EXPECT_EQ(f8e5m2_to_float(0x7C), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f8e4m3_to_float(0x38), 1.0f);
  EXPECT_EQ(f8e4m3_to_float(0x7E), 448.0f);  // largest finite E4M3
  EXPECT_EQ(f8e4m3_to_float(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(f8e4m3_to_float(0xC4), -3.0f);
  EXPECT_TRUE(std::isnan(f8e4m3_to_float(0x7F)));
}

TEST(Json, ParsesEscapesNumbersAndNesting) {
  const auto v = parse_json(
      R"( {"a": [1, -2, 3.5e2, true, false, null], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "o": {}} )", "test");
  ASSERT_EQ(v.kind, JsonValue::Kind::kObject);
  const JsonValue* a = v.find("a");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->items.size(), 6u);
  EXPECT_EQ(a->items[1].as_int64(), -2);
  EXPECT_FALSE(a->items[2].as_int64());
  EXPECT_EQ(a->items[2].text, "3.5e2");
  EXPECT_TRUE(a->items[3].boolean);
  EXPECT_EQ(v.find("s")->text, "x\"\\/\b\f\n\r\t\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(v.dump(), R"({"a":[1,-2,3.5e2,true,false,null],"s":"x\"\\/\u0008\u000c\n\r\t)"
                      "\xC3\xA9\xF0\x9F\x98\x80"
                      R"(","o":{}})");
  EXPECT_EQ(parse_json("9223372036854775807", "t").as_int64(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(parse_json("-9223372036854775808", "t").as_int64(), std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(parse_json("9223372036854775808", "t").as_int64());
}

TEST(Json, RejectsMalformedInput) {
  const std::vector<std::string> bad = {
      "",
      "{",
      "{\"a\":1,}",
      "[1,]",
      "{\"a\" 1}",
      "{a:1}",
      "01",
      "1.",
      "-",
      "1e",
      "tru",
      "\"abc",
      "\"\\x\"",
      "\"\\u12\"",
      "\"\\ud800\"",
      "\"\\udc00\"",
      "\"\\ud800\\u0041\"",
      "\"a\nb\"",
      "\"\xFF\"",
      "\"\xC0\x80\"",
      "\"\xED\xA0\x80\"",
      "\"\xE2\x82\"",
      "{} x",
      "{\"a\":1,\"a\":2}",
      "[] []",
      "nul",
  };
  for (const auto& text : bad) {
    EXPECT_THROW(parse_json(text, "case"), WeightsError) << text;
  }
  EXPECT_NO_THROW(parse_json(std::string(64, '[') + std::string(64, ']'), "deep"));
  try {
    parse_json(std::string(65, '[') + std::string(65, ']'), "deep");
    FAIL() << "no error for 65 levels";
  } catch (const WeightsError& e) {
    EXPECT_NE(std::string(e.what()).find("deep"), std::string::npos);
  }
}

class SafetensorsRoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    tensors_ = {
        TensorData::from_floats("f32", {2, 3}, {0.f, 1.f, -2.5f, 3.25f, 1e-30f, -65504.f}),
        TensorData::from_floats("f16", {6}, {1.f, -2.5f, 65504.f, std::ldexp(1.f, -24), std::ldexp(5.f, -24), 0.f},
                                DType::kF16),
        TensorData::from_floats("bf16", {2, 2}, {1.f, -2.5f, 0.1f, std::ldexp(1.f, -133)}, DType::kBF16),
        TensorData::from_int64("a.i64", {3}, {-1, 0, std::numeric_limits<int64_t>::max()}),
        TensorData::from_doubles("z.f64", {2}, {0.1, -1e300}),
        TensorData::from_floats("empty", {0, 4}, {}),
        TensorData::from_floats("scalar", {}, {7.f}),
    };
    write_safetensors((dir_ / "w.safetensors").string(), tensors_, {{"format", "pt"}, {"quote", "a\"b\n"}});
  }

  testing::TempDir dir_;
  std::vector<TensorData> tensors_;
};

TEST_F(SafetensorsRoundTrip, ReadsBackExactValues) {
  const auto file = SafetensorsFile::open((dir_ / "w.safetensors").string());
  ASSERT_EQ(file.tensors().size(), 7u);
  std::vector<std::string> names;
  for (const auto& t : file.tensors()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a.i64", "bf16", "empty", "f16", "f32", "scalar", "z.f64"}));
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.metadata().at("quote"), "a\"b\n");

  const TensorView* f32 = file.find("f32");
  ASSERT_TRUE(f32);
  EXPECT_EQ(f32->dtype, DType::kF32);
  EXPECT_EQ(f32->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f32->element_count(), 6u);
  EXPECT_EQ(f32->to_float32(), (std::vector<float>{0.f, 1.f, -2.5f, 3.25f, 1e-30f, -65504.f}));

  const TensorView* f16 = file.find("f16");
  ASSERT_TRUE(f16);
  EXPECT_EQ(halves(*f16), (std::vector<uint16_t>{0x3C00, 0xC100, 0x7BFF, 0x0001, 0x0005, 0x0000}));
  EXPECT_EQ(f16->to_float32(),
            (std::vector<float>{1.f, -2.5f, 65504.f, std::ldexp(1.f, -24), std::ldexp(5.f, -24), 0.f}));

  const TensorView* bf16 = file.find("bf16");
  ASSERT_TRUE(bf16);
  EXPECT_EQ(halves(*bf16), (std::vector<uint16_t>{0x3F80, 0xC020, 0x3DCD, 0x0001}));
  EXPECT_EQ(bf16->to_float64()[2], static_cast<double>(bf16_to_float(0x3DCD)));

  const TensorView* i64 = file.find("a.i64");
  ASSERT_TRUE(i64);
  EXPECT_EQ(i64->to_int64(), (std::vector<int64_t>{-1, 0, std::numeric_limits<int64_t>::max()}));
  EXPECT_EQ(i64->to_float64()[0], -1.0);
  EXPECT_THROW(f32->to_int64(), WeightsError);

  EXPECT_EQ(file.find("z.f64")->to_float64(), (std::vector<double>{0.1, -1e300}));
  EXPECT_EQ(file.find("z.f64")->to_float32()[0], 0.1f);
  EXPECT_EQ(file.find("empty")->bytes, 0u);
  EXPECT_TRUE(file.find("empty")->to_float32().empty());
  EXPECT_EQ(file.find("scalar")->to_float32(), std::vector<float>{7.f});
  EXPECT_FALSE(file.find("missing"));
  EXPECT_FALSE(file.find(""));
}

TEST_F(SafetensorsRoundTrip, LayoutIsPaddedSortedAndFromBytesAgrees) {
  const auto bytes = read_bytes(dir_ / "w.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<ptrdiff_t>(n));
  EXPECT_EQ(header.rfind("{\"__metadata__\":", 0), 0u);
  EXPECT_LT(header.find("\"a.i64\""), header.find("\"bf16\""));
  EXPECT_EQ(bytes.size() - 8 - n, 24u + 12 + 8 + 24 + 16 + 0 + 4);
  EXPECT_FALSE(fs::exists(dir_ / "w.safetensors.tmp"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 1);

  const auto mem = SafetensorsFile::from_bytes(bytes, "memory");
  EXPECT_EQ(mem.path(), "memory");
  EXPECT_EQ(mem.find("f16")->to_float32(),
            SafetensorsFile::open((dir_ / "w.safetensors").string()).find("f16")->to_float32());

  // Moving keeps the views valid.
  auto moved = SafetensorsFile::open((dir_ / "w.safetensors").string());
  SafetensorsFile other = std::move(moved);
  EXPECT_EQ(other.find("a.i64")->to_int64()[0], -1);
}

TEST_F(SafetensorsRoundTrip, WriterRejectsInconsistentTensors) {
  const std::string path = (dir_ / "bad.safetensors").string();
  auto wrong = TensorData::from_floats("x", {2, 2}, {1.f, 2.f, 3.f});
  EXPECT_THROW(write_safetensors(path, {wrong}), WeightsError);
  EXPECT_THROW(
      write_safetensors(path, {TensorData::from_floats("x", {1}, {1.f}), TensorData::from_floats("x", {1}, {2.f})}),
      WeightsError);
  EXPECT_THROW(write_safetensors(path, {TensorData::from_floats("__metadata__", {1}, {1.f})}), WeightsError);
  EXPECT_THROW(write_safetensors(path, {TensorData::from_floats("n", {-1}, {})}), WeightsError);
  EXPECT_THROW(write_safetensors((dir_ / "no/such/dir/x.safetensors").string(), {}), WeightsError);
  EXPECT_FALSE(fs::exists(path));
  // An empty file list is a valid file with header "{}" padded to 8 bytes.
  write_safetensors(path, {});
  EXPECT_EQ(read_bytes(path).size(), 16u);
  EXPECT_TRUE(SafetensorsFile::open(path).tensors().empty());
}

struct Corruption {
  std::string label;
  std::function<std::vector<uint8_t>(const std::vector<uint8_t>& good)> make;
  std::string expect;  // a fragment of the message besides the file name
};

TEST_F(SafetensorsRoundTrip, CorruptFilesAreErrorsNamingTheFile) {
  const auto good = read_bytes(dir_ / "w.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, good.data(), 8);
  auto truncate = [](size_t size) {
    return [size](const std::vector<uint8_t>& g) {
      return std::vector<uint8_t>(g.begin(), g.begin() + static_cast<ptrdiff_t>(size));
    };
  };
  auto with_length = [](uint64_t len) {
    return [len](const std::vector<uint8_t>& g) {
      auto b = g;
      std::memcpy(b.data(), &len, 8);
      return b;
    };
  };
  auto header = [](const std::string& json, size_t buffer) {
    return [json, buffer](const std::vector<uint8_t>&) { return raw_file(json, buffer); };
  };
  const std::vector<Corruption> cases = {
      {"empty", truncate(0), "shorter than the 8-byte"},
      {"4 bytes", truncate(4), "shorter than the 8-byte"},
      {"7 bytes", truncate(7), "shorter than the 8-byte"},
      {"length only", truncate(8), "exceeds the 0 bytes"},
      {"mid header", truncate(8 + n / 2), "exceeds"},
      {"header end - 1", truncate(8 + n - 1), "exceeds"},
      {"no buffer", truncate(8 + n), "outside the 0-byte data buffer"},
      {"mid buffer", truncate(8 + n + 10), "outside the 10-byte"},
      {"last byte missing", truncate(good.size() - 1), "outside"},
      {"length too big", with_length(uint64_t{1} << 40), "100 MB"},
      {"length 2^64-1", with_length(~uint64_t{0}), "100 MB"},
      {"length past end", with_length(good.size() - 7), "exceeds"},
      {"length short", with_length(n - 8), "invalid JSON"},
      {"extra byte",
       [](const std::vector<uint8_t>& g) {
         auto b = g;
         b.push_back(0);
         return b;
       },
       "belong to no tensor"},
      {"not JSON", header("hello!!!", 0), "invalid JSON"},
      {"zero length", header("", 0), "invalid JSON"},
      {"not an object", header("[1, 2]  ", 0), "must be a JSON object"},
      {"trailing garbage", header("{}  x", 0), "trailing"},
      {"NUL padding", header(std::string("{}\0\0", 4), 0), "trailing"},
      {"bad dtype", header(R"({"t":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}})", 4), "unknown dtype \"F31\""},
      {"dtype not string", header(R"({"t":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4),
       "dtype must be a string"},
      {"negative dim", header(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "non-negative"},
      {"fractional dim", header(R"({"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4), "non-negative"},
      {"count overflow", header(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
       "overflows"},
      {"huge dim", header(R"({"t":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}})", 4),
       "non-negative"},
      {"missing field", header(R"({"t":{"dtype":"F32","shape":[1]}})", 4), "needs"},
      {"extra field", header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", 4), "unexpected field"},
      {"entry not object", header(R"({"t":[1]})", 0), "must be an object"},
      {"offsets not pair", header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4), "[begin, end]"},
      {"offsets reversed", header(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", 4), "outside"},
      {"offsets past buffer", header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4), "outside"},
      {"wrong byte count", header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4), "need 8"},
      {"overlap",
       header(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
           12),
       "overlaps"},
      {"duplicate range",
       header(
           R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})",
           4),
       "overlaps"},
      {"hole",
       header(
           R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
           12),
       "belong to no tensor"},
      {"leading hole", header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2), "belong to no tensor"},
      {"duplicate name",
       header(
           R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
           2),
       "duplicate key"},
      {"metadata not strings", header(R"({"__metadata__":{"a":1}})", 0), "must be a string"},
      {"metadata not object", header(R"({"__metadata__":"x"})", 0), "must be an object"},
      {"bad UTF-8 name", header("{\"\xFF\":{}}", 0), "invalid UTF-8"},
      {"deep nesting", header("{\"a\":" + std::string(200, '[') + std::string(200, ']') + "}", 0), "nesting"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const auto bytes = c.make(good);
    const fs::path path = dir_ / ("case-" + std::to_string(&c - cases.data()) + ".safetensors");
    write_bytes(path, bytes);
    try {
      SafetensorsFile::open(path.string());
      ADD_FAILURE() << "no error";
    } catch (const WeightsError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path.string()), std::string::npos) << what;
      EXPECT_NE(what.find(c.expect), std::string::npos) << what;
    }
    EXPECT_THROW(SafetensorsFile::from_bytes(bytes, "mem"), WeightsError);
  }
  // A header padded with trailing spaces (as the writer pads) is fine.
  EXPECT_NO_THROW(SafetensorsFile::from_bytes(raw_file("{}      ", 0), "padded"));
  EXPECT_THROW(SafetensorsFile::open((dir_ / "absent.safetensors").string()), WeightsError);
  EXPECT_THROW(SafetensorsFile::open(dir_.path().string()), WeightsError);
}

class ShardedWeights : public ::testing::Test {
 protected:
  void SetUp() override {
    write_safetensors((dir_ / "m-1.safetensors").string(), {TensorData::from_floats("enc.w", {2, 1, 1, 1}, {1.f, 2.f}),
                                                            TensorData::from_floats("enc.b", {2}, {3.f, 4.f})});
    write_safetensors((dir_ / "m-2.safetensors").string(), {TensorData::from_floats("dec.w", {1}, {5.f})});
  }
  std::string index(const std::string& json) {
    const fs::path path = dir_ / "m.safetensors.index.json";
    std::ofstream(path) << json;
    return path.string();
  }
  std::string error_of(const std::string& path) {
    try {
      WeightsSet::open(path);
    } catch (const WeightsError& e) {
      return e.what();
    }
    return "no error";
  }

  testing::TempDir dir_;
};

TEST_F(ShardedWeights, FindsTensorsAcrossShards) {
  const auto set = WeightsSet::open(index(R"({"metadata": {"total_size": 20, "note": "x", "list": [1, "a"]},
    "weight_map": {"enc.w": "m-1.safetensors", "enc.b": "m-1.safetensors", "dec.w": "m-2.safetensors"}})"));
  EXPECT_EQ(set.names(), (std::vector<std::string>{"dec.w", "enc.b", "enc.w"}));
  EXPECT_EQ(set.size(), 3u);
  ASSERT_TRUE(set.find("enc.w"));
  EXPECT_EQ(set.find("enc.w")->shape, (std::vector<int64_t>{2, 1, 1, 1}));
  EXPECT_EQ(set.find("dec.w")->to_float32(), std::vector<float>{5.f});
  EXPECT_EQ(set.at("enc.b").to_float32(), (std::vector<float>{3.f, 4.f}));
  EXPECT_FALSE(set.find("nope"));
  EXPECT_THROW(set.at("nope"), WeightsError);
  EXPECT_EQ(set.metadata().at("total_size"), "20");
  EXPECT_EQ(set.metadata().at("note"), "x");
  EXPECT_EQ(set.metadata().at("list"), "[1,\"a\"]");

  // Moving the set keeps its views valid.
  auto moved = WeightsSet::open(index(R"({"weight_map": {"enc.w": "m-1.safetensors", "enc.b": "m-1.safetensors"}})"));
  // A shard whose other tensors the index omits is an error, checked below;
  // here the index lists all of m-1.
  WeightsSet other = std::move(moved);
  EXPECT_EQ(other.at("enc.w").to_float32(), (std::vector<float>{1.f, 2.f}));

  const auto single = WeightsSet::open((dir_ / "m-2.safetensors").string());
  EXPECT_EQ(single.names(), std::vector<std::string>{"dec.w"});
}

TEST_F(ShardedWeights, InconsistentIndexesAreErrors) {
  EXPECT_NE(error_of(index(R"({"weight_map": {"enc.w": "m-1.safetensors", "enc.b": "m-1.safetensors",
    "dec.w": "m-2.safetensors", "extra": "m-2.safetensors"}})"))
                .find("\"extra\" is listed for shard \"m-2.safetensors\", which does not hold it"),
            std::string::npos);
  EXPECT_NE(error_of(index(R"({"weight_map": {"enc.w": "m-1.safetensors", "enc.b": "m-1.safetensors",
    "dec.w": "m-3.safetensors"}})"))
                .find("shard \"m-3.safetensors\""),
            std::string::npos);
  EXPECT_NE(error_of(index(R"({"weight_map": {"enc.w": "m-1.safetensors", "dec.w": "m-2.safetensors"}})"))
                .find("holds tensor \"enc.b\", which the index does not list"),
            std::string::npos);
  EXPECT_NE(error_of(index(R"({"weight_map": {"enc.w": "../m-1.safetensors"}})")).find("relative"), std::string::npos);
  EXPECT_NE(error_of(index(R"({"weight_map": {"enc.w": 3}})")).find("relative"), std::string::npos);
  EXPECT_NE(error_of(index(R"({"metadata": {}})")).find("weight_map"), std::string::npos);
  EXPECT_NE(error_of(index(R"({"weight_map": {)")).find("invalid JSON"), std::string::npos);
  EXPECT_NE(error_of((dir_ / "absent.index.json").string()).find("cannot open"), std::string::npos);

  write_safetensors((dir_ / "m-3.safetensors").string(), {TensorData::from_floats("dec.w", {1}, {6.f})});
  const std::string dup = error_of(index(R"({"weight_map": {"enc.w": "m-1.safetensors", "enc.b": "m-1.safetensors",
    "dec.w": "m-2.safetensors", "x": "m-3.safetensors"}})"));
  EXPECT_NE(dup.find("\"dec.w\" is in two shards, \"m-2.safetensors\" and \"m-3.safetensors\""), std::string::npos)
      << dup;
  EXPECT_NE(dup.find("m.safetensors.index.json"), std::string::npos);
}

void expect_tensor(const WeightsSet& set, const std::string& name, const std::vector<int64_t>& shape) {
  const TensorView* t = set.find(name);
  ASSERT_TRUE(t) << name;
  EXPECT_EQ(t->dtype, DType::kF32) << name;
  EXPECT_EQ(t->shape, shape) << name;
  for (const float v : t->to_float32()) ASSERT_TRUE(std::isfinite(v)) << name;
}

TEST(SharedFixtures, KlTinyShards) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto set = WeightsSet::open((data / "parity/kl_tiny.weights.index.json").string());
  EXPECT_EQ(set.size(), 124u);
  expect_tensor(set, "first_stage_model.encoder.conv_in.weight", {32, 3, 3, 3});
  expect_tensor(set, "first_stage_model.encoder.conv_in.bias", {32});
  expect_tensor(set, "first_stage_model.decoder.conv_in.weight", {64, 4, 3, 3});
  expect_tensor(set, "first_stage_model.decoder.conv_out.weight", {3, 32, 3, 3});
  expect_tensor(set, "first_stage_model.decoder.mid.attn_1.q.weight", {64, 64, 1, 1});
  EXPECT_EQ(set.metadata().at("model"), "ldm.models.autoencoder.AutoencoderKL");
  EXPECT_EQ(set.metadata().at("total_parameters"), "658375");
  // Norm weights are ~N(1, 0.1): their mean is near 1.
  const auto norm = set.at("first_stage_model.decoder.norm_out.weight").to_float64();
  double mean = 0;
  for (const double v : norm) mean += v / static_cast<double>(norm.size());
  EXPECT_NEAR(mean, 1.0, 0.1);
}

TEST(SharedFixtures, UnetTinyShards) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto set = WeightsSet::open((data / "parity/unet_tiny.weights.index.json").string());
  EXPECT_EQ(set.size(), 208u);
  expect_tensor(set, "model.diffusion_model.input_blocks.0.0.weight", {32, 3, 3, 3});
  expect_tensor(set, "model.diffusion_model.out.2.weight", {3, 32, 3, 3});
  expect_tensor(set, "model.diffusion_model.time_embed.0.weight", {128, 32});
  expect_tensor(set, "model.diffusion_model.time_embed.0.bias", {128});
}

TEST(SharedFixtures, ScheduleFile) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto file = SafetensorsFile::open((data / "parity/schedule.safetensors").string());
  EXPECT_EQ(file.tensors().size(), 20u);
  ASSERT_TRUE(file.find("betas_float64"));
  EXPECT_EQ(file.find("betas_float64")->dtype, DType::kF64);
  EXPECT_EQ(file.find("betas_float64")->shape, std::vector<int64_t>{1000});
  EXPECT_EQ(file.find("betas_float64")->to_float64().front(), 0.0015);
  ASSERT_TRUE(file.find("ddim_timesteps"));
  EXPECT_EQ(file.find("ddim_timesteps")->dtype, DType::kI64);
  EXPECT_EQ(file.find("ddim_timesteps")->to_int64().back(), 981);
  EXPECT_EQ(file.find("alphas_cumprod")->dtype, DType::kF32);
  EXPECT_NE(file.metadata().at("note").find("float32"), std::string::npos);
}

}  // namespace
}  // namespace tessera::model
