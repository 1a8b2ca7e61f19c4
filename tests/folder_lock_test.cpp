// One writer per output folder (base/folder_lock.h): a second lock on a held
// folder is refused naming the folder and the holder, the kernel releases the
// lock of a killed process, and a released lock leaves nothing behind.

#include "base/folder_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <string>

#include "base/error.h"
#include "test_data.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;

std::string lock_error(const fs::path& folder) {
  try {
    FolderLock second(folder);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(FolderLock, ASecondLockOnAHeldFolderIsRefusedNamingTheFolderAndTheHolder) {
  testing::TempDir dir;
  const fs::path folder = dir / "out";
  {
    FolderLock held(folder);
    EXPECT_TRUE(fs::is_directory(folder));
    EXPECT_TRUE(fs::exists(folder / FolderLock::kFileName));
    // A lock is per open file, so the same process is refused too.
    EXPECT_EQ(lock_error(folder), folder.string() + " is in use by another tessera process (lock " +
                                      (folder / FolderLock::kFileName).string() + " is held by process " +
                                      std::to_string(::getpid()) + ")");
    const FolderLock moved(std::move(held));
    EXPECT_NE(lock_error(folder).find("is in use by another tessera process"), std::string::npos);
  }
  // Released: the folder it made, empty, is gone, and a new lock is taken.
  EXPECT_FALSE(fs::exists(folder));
  EXPECT_NO_THROW(FolderLock again(folder));
}

TEST(FolderLock, AReleasedLockLeavesTheFolderAndItsFilesButNotItsLockFile) {
  testing::TempDir dir;
  const fs::path folder = dir / "out";
  {
    const FolderLock held(folder);
    std::ofstream(folder / "run.json") << "{}";
  }
  EXPECT_TRUE(fs::exists(folder / "run.json"));
  EXPECT_FALSE(fs::exists(folder / FolderLock::kFileName));
  fs::create_directories(dir / "given");
  { const FolderLock held(dir / "given"); }
  EXPECT_TRUE(fs::is_directory(dir / "given")) << "a folder the lock did not make is never removed";

  std::ofstream(dir / "file") << "x";
  EXPECT_NE(lock_error(dir / "file").find("is not a folder"), std::string::npos);
}

TEST(FolderLock, TheLockOfAKilledProcessIsFreeAndItsLockFileCountsAsNothing) {
  testing::TempDir dir;
  const fs::path folder = dir / "out";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const FolderLock held(folder);
    std::ofstream(folder / "run.json") << "{}";
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  EXPECT_NE(lock_error(folder).find("is held by process " + std::to_string(child)), std::string::npos);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(ready[0]);
  ::close(ready[1]);

  // kill -9 left the lock file; the lock itself went with the process.
  EXPECT_TRUE(fs::exists(folder / FolderLock::kFileName));
  fs::remove(folder / "run.json");
  EXPECT_TRUE(FolderLock::holds_only_lock(folder));
  EXPECT_NO_THROW(FolderLock again(folder));
  std::ofstream(folder / "notes.txt") << "mine";
  EXPECT_FALSE(FolderLock::holds_only_lock(folder));
  EXPECT_TRUE(FolderLock::holds_only_lock(dir / "absent"));
}

}  // namespace
}  // namespace tessera
