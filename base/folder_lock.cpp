#include "base/folder_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

#include "base/error.h"

namespace tessera {
namespace fs = std::filesystem;
namespace {

std::string system_error_text(int error) { return std::strerror(error); }

// ", held by process PID" from what the holder wrote into the lock file; ""
// before it has written it.
std::string holder_of(int fd) {
  char text[32] = {};
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  if (n <= 0) return "";
  std::string pid(text, size_t(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return "";
  return " by process " + pid;
}

// Whether `fd` is still the file named `path`: a holder removes the lock file
// before it releases the lock, and a lock taken on a removed file locks nothing.
bool still_named(int fd, const fs::path& path) {
  struct stat held {};
  struct stat named {};
  return ::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
         held.st_ino == named.st_ino;
}

}  // namespace

FolderLock::FolderLock(fs::path folder) : folder_(std::move(folder)) {
  const fs::path lock_file = folder_ / kFileName;
  // Each pass either takes the lock, throws, or found the file or folder
  // removed by a holder releasing it, which a later pass sees settled.
  while (fd_ < 0) {
    std::error_code error;
    if (fs::exists(folder_, error) && !fs::is_directory(folder_, error)) {
      throw Error(folder_.string() + " is not a folder");
    }
    if (fs::create_directories(folder_, error)) created_folder_ = true;
    if (error) throw Error("cannot create " + folder_.string() + ": " + error.message());
    const int fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      throw Error("cannot open the lock " + lock_file.string() + ": " + system_error_text(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int lock_error = errno;
      const std::string holder = holder_of(fd);
      ::close(fd);
      if (lock_error == EWOULDBLOCK) {
        throw Error(folder_.string() + " is in use by another tessera process (lock " + lock_file.string() +
                    " is held" + holder + ")");
      }
      throw Error("cannot lock " + lock_file.string() + ": " + system_error_text(lock_error));
    }
    if (still_named(fd, lock_file)) {
      fd_ = fd;
    } else {
      ::close(fd);
    }
  }
  // Who holds it, for the message a second writer gets.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
    const int write_error = errno;
    ::close(fd_);
    throw Error("cannot write the lock " + lock_file.string() + ": " + system_error_text(write_error));
  }
}

FolderLock::FolderLock(FolderLock&& other) noexcept
    : folder_(std::move(other.folder_)), fd_(std::exchange(other.fd_, -1)), created_folder_(other.created_folder_) {}

FolderLock::~FolderLock() {
  if (fd_ < 0) return;
  ::unlink((folder_ / kFileName).c_str());
  ::close(fd_);
  // Fails, as it should, when the folder holds anything.
  if (created_folder_) ::rmdir(folder_.c_str());
}

bool FolderLock::holds_only_lock(const fs::path& folder) {
  std::error_code error;
  if (!fs::exists(folder, error)) return true;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    if (!is_lock_file(it->path())) return false;
  }
  if (error) throw Error(folder.string() + ": cannot list: " + error.message());
  return true;
}

}  // namespace tessera
