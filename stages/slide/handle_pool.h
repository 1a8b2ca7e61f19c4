#pragma once

#include <memory>
#include <mutex>
#include <vector>

namespace tessera::stages {

// Open file handles of one level, one per reading thread: a thread takes a
// handle (or opens a new one) and gives it back when its read succeeded. A
// handle whose read threw is dropped with the exception, so that codec state
// left by a corrupt tile is never used again.
template <typename Handle>
class HandlePool {
 public:
  template <typename Open>
  std::unique_ptr<Handle> acquire(const Open& open) const {
    {
      std::lock_guard lock(mutex_);
      if (!free_.empty()) {
        auto handle = std::move(free_.back());
        free_.pop_back();
        return handle;
      }
    }
    return open();
  }
  void release(std::unique_ptr<Handle> handle) const {
    std::lock_guard lock(mutex_);
    free_.push_back(std::move(handle));
  }

 private:
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<Handle>> free_;
};

}  // namespace tessera::stages
