#include "pipeline/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <utility>

#include "base/error.h"

namespace tessera::pipeline {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto total = int64_t(std::llround(seconds));
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", (long long)(total / 3600), (long long)(total / 60 % 60),
                  (long long)(total % 60));
  } else {
    std::snprintf(text, sizeof text, "%lld:%02lld", (long long)(total / 60), (long long)(total % 60));
  }
  return text;
}

Progress::Mode Progress::detect() { return isatty(STDERR_FILENO) ? Mode::kBar : Mode::kLines; }

ProgressDisplay parse_progress_display(const std::string& text) {
  if (text == "auto") return ProgressDisplay::kAuto;
  if (text == "bar") return ProgressDisplay::kBar;
  if (text == "lines") return ProgressDisplay::kLines;
  if (text == "quiet") return ProgressDisplay::kQuiet;
  throw Error("unknown progress display '" + text + "' (expected auto, bar, lines or quiet)");
}

Progress::Mode resolve_mode(ProgressDisplay display) {
  switch (display) {
    case ProgressDisplay::kBar:
      return Progress::Mode::kBar;
    case ProgressDisplay::kLines:
      return Progress::Mode::kLines;
    case ProgressDisplay::kQuiet:
      return Progress::Mode::kQuiet;
    case ProgressDisplay::kAuto:
      break;
  }
  return Progress::detect();
}

Progress::Progress(Mode mode, size_t slides_total, std::chrono::seconds log_every, ProgressUnits units)
    : mode_(mode),
      slides_total_(slides_total),
      log_every_(log_every),
      units_(units),
      start_(std::chrono::steady_clock::now()),
      last_render_(start_) {}

Progress::~Progress() { finish(); }

void Progress::slide_planned(uint64_t tiles) {
  std::lock_guard lock(mutex_);
  ++slides_planned_;
  tiles_planned_ += tiles;
  render(false);
}

void Progress::tiles_done(uint64_t count) {
  std::lock_guard lock(mutex_);
  tiles_done_ += count;
  render(false);
}

void Progress::slide_finished(const std::string& line) {
  std::lock_guard lock(mutex_);
  ++slides_finished_;
  if (mode_ == Mode::kQuiet) return;
  if (line_open_) {
    std::fputs("\r\033[K", stderr);
    line_open_ = false;
  }
  spdlog::info("{}", line);
  render(/*force=*/mode_ == Mode::kBar);
}

void Progress::set_detail(std::string detail) {
  std::lock_guard lock(mutex_);
  detail_ = std::move(detail);
}

void Progress::finish() {
  std::lock_guard lock(mutex_);
  if (line_open_) {
    std::fputc('\n', stderr);
    line_open_ = false;
  }
}

std::string Progress::status_text(double elapsed) const {
  // Tiles of slides not opened yet are estimated from the mean of those opened.
  const size_t slides_left = slides_total_ - slides_planned_;
  const double mean = slides_planned_ ? double(tiles_planned_) / slides_planned_ : 0;
  const double expected = double(tiles_planned_) + mean * double(slides_left);
  const double rate = elapsed > 0 ? double(tiles_done_) / elapsed : 0;
  const double eta = rate > 0 ? (expected - double(tiles_done_)) / rate : NAN;
  char group[64] = "";
  if (*units_.group) std::snprintf(group, sizeof group, " | %s %zu/%zu", units_.group, slides_finished_, slides_total_);
  char text[200];
  std::snprintf(text, sizeof text, "%llu/%.0f %s%s | %.2f %s/s | elapsed %s | ETA %s", (unsigned long long)tiles_done_,
                expected, units_.items, group, rate, units_.items, format_duration(elapsed).c_str(),
                format_duration(eta).c_str());
  return detail_.empty() ? text : std::string(text) + " | " + detail_;
}

void Progress::render(bool force) {
  if (mode_ == Mode::kQuiet) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (mode_ == Mode::kBar) {
    if (!force && now - last_render_ < std::chrono::milliseconds(100)) return;
    last_render_ = now;
    const size_t slides_left = slides_total_ - slides_planned_;
    const double mean = slides_planned_ ? double(tiles_planned_) / slides_planned_ : 0;
    const double expected = double(tiles_planned_) + mean * double(slides_left);
    const double fraction = expected > 0 ? std::min(1.0, double(tiles_done_) / expected) : 0;
    constexpr int kWidth = 30;
    std::string bar(size_t(kWidth), ' ');
    for (int i = 0; i < int(fraction * kWidth); ++i) bar[size_t(i)] = '#';
    std::fprintf(stderr, "\r\033[K[%s] %3.0f%% %s", bar.c_str(), fraction * 100, status_text(elapsed).c_str());
    std::fflush(stderr);
    line_open_ = true;
  } else if (force || now - last_render_ >= log_every_) {
    last_render_ = now;
    spdlog::info("progress: {}", status_text(elapsed));
  }
}

}  // namespace tessera::pipeline
