#include "slide/resolution.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace tessera::stages {
namespace {

struct Case {
  const char* name;
  PropertyMap properties;
  ResolutionOptions options;
  double mpp;
  const char* source;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ResolutionSources : public ::testing::TestWithParam<Case> {};

TEST_P(ResolutionSources, ResolvesFromTheFirstPlausibleSource) {
  const auto& c = GetParam();
  const auto r = resolve_resolution(c.properties, c.options);
  EXPECT_NEAR(r.mpp_x, c.mpp, 1e-12);
  EXPECT_EQ(r.source, c.source);
}

INSTANTIATE_TEST_SUITE_P(
    All, ResolutionSources,
    ::testing::Values(
        Case{"openslide",
             {{"openslide.mpp-x", "0.499"}, {"openslide.mpp-y", "0.499"}, {"openslide.objective-power", "20"}},
             {},
             0.499,
             "openslide"},
        Case{"tiff_cm",
             {{"tiff.XResolution", "20000"}, {"tiff.YResolution", "20000"}, {"tiff.ResolutionUnit", "centimeter"}},
             {},
             0.5,
             "tiff-resolution"},
        Case{"tiff_inch",
             {{"tiff.XResolution", "101600"}, {"tiff.YResolution", "101600"}, {"tiff.ResolutionUnit", "inch"}},
             {},
             0.25,
             "tiff-resolution"},
        // 72 dpi is a writer's default, not a scan: it is skipped as implausible.
        Case{"default_dpi_then_override",
             {{"tiff.XResolution", "72"}, {"tiff.YResolution", "72"}, {"tiff.ResolutionUnit", "inch"}},
             {0.26, std::nullopt},
             0.26,
             "override-csv"},
        Case{"zero_openslide_then_objective",
             {{"openslide.mpp-x", "0"}, {"openslide.mpp-y", "0"}, {"openslide.objective-power", "40"}},
             {},
             0.25,
             "objective-power"},
        Case{"assumed", {{"openslide.vendor", "generic-tiff"}}, {std::nullopt, 0.5}, 0.5, "assumed"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Resolution, NoSourceIsAnErrorThatNamesEverySourceTried) {
  try {
    resolve_resolution({{"tiff.XResolution", "72"}, {"tiff.YResolution", "72"}, {"tiff.ResolutionUnit", "inch"}}, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("openslide.mpp-x/y (absent)"), std::string::npos) << message;
    EXPECT_NE(message.find("tiff resolution tags = 352.778"), std::string::npos) << message;
    EXPECT_NE(message.find("override CSV (no row)"), std::string::npos) << message;
    EXPECT_NE(message.find("openslide.objective-power (absent)"), std::string::npos) << message;
    EXPECT_NE(message.find("--assume-mpp (not given)"), std::string::npos) << message;
  }
}

TEST(Resolution, ImplausibleAssumptionIsRefused) {
  EXPECT_THROW(resolve_resolution({}, {std::nullopt, 50.0}), Error);
  EXPECT_THROW(resolve_resolution({}, {std::nullopt, 0.01}), Error);
}

}  // namespace
}  // namespace tessera::stages
