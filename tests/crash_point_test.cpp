// Fault injection stays out of release builds (base/crash_point.h): the same
// TESSERA_CRASH_AT kills the test build of the binary and does nothing to
// build/tessera.
#include <gtest/gtest.h>
#include <signal.h>

#include "store/store.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;

class CrashPointTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::make_slide(dir_ / "slides", "A.tiff", testing::small_spec()); }
  std::vector<std::string> ingest_args(const fs::path& store) const {
    return {"ingest", "--store", store.string(), "--slides", (dir_ / "slides").string(), "--jobs", "1", "--no-qc"};
  }
  const std::vector<std::string> crash_at_first_tile_ = {"TESSERA_CRASH_AT=ingest.tile_stored:1"};
  testing::TempDir dir_;
};

TEST_F(CrashPointTest, ReleaseBinaryIgnoresTheCrashPoint) {
  const fs::path store_dir = dir_ / "release";
  const auto r = testing::run_release_tessera(ingest_args(store_dir), crash_at_first_tile_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  store::StoreOptions read_only;
  read_only.read_only = true;
  const auto store = store::Store::open(store_dir, read_only);
  const auto slide = store->slide("A");
  ASSERT_TRUE(slide);
  EXPECT_EQ(slide->status, store::SlideStatus::kComplete);
  EXPECT_GT(slide->tiles_kept, 1);
  EXPECT_EQ(store->count_tiles("A"), uint64_t(slide->tiles_kept));
}

TEST_F(CrashPointTest, TestBuildDiesAtTheCrashPoint) {
  const auto r = testing::run_tessera(ingest_args(dir_ / "crashable"), crash_at_first_tile_);
  EXPECT_EQ(r.exit_code, 128 + SIGKILL) << r.output;
}

}  // namespace
}  // namespace tessera
