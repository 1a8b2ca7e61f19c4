#pragma once

// One writer per output folder (a training run, a synthetic set, an export):
// every command that writes a folder holds its FolderLock for as long as it
// writes. The lock is flock(2) on FOLDER/.tessera-lock, so the kernel releases
// it when the process ends, kill -9 included, and a resumed run takes it
// again. Readers of a folder never lock it.
//
// The lock file is the folder's own bookkeeping, not its content: whatever
// lists a folder's content skips it (is_lock_file, holds_only_lock).

#include <filesystem>
#include <string>

namespace tessera {

class FolderLock {
 public:
  static constexpr const char* kFileName = ".tessera-lock";

  // Creates `folder` when it does not exist, then takes its lock without
  // waiting. Throws tessera::Error naming the folder when it is a file, when
  // it cannot be created or locked, and when another process holds the lock:
  // "FOLDER is in use by another tessera process (lock FOLDER/.tessera-lock
  // is held by process PID)".
  explicit FolderLock(std::filesystem::path folder);
  // Removes the lock file, then releases the lock; removes the folder too
  // when this lock created it and nothing else was put in it.
  ~FolderLock();
  FolderLock(FolderLock&& other) noexcept;
  FolderLock& operator=(FolderLock&&) = delete;
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

  const std::filesystem::path& folder() const { return folder_; }

  static bool is_lock_file(const std::filesystem::path& entry) { return entry.filename() == kFileName; }
  // True when `folder` does not exist or holds nothing but a lock file.
  // Throws tessera::Error naming the folder when it cannot be listed.
  static bool holds_only_lock(const std::filesystem::path& folder);

 private:
  std::filesystem::path folder_;
  int fd_ = -1;
  bool created_folder_ = false;
};

}  // namespace tessera
