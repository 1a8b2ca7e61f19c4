#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace tessera::pipeline {

// What a run counts: items ("tiles", "steps", ...) in groups ("slide", or ""
// when the items are not grouped).
struct ProgressUnits {
  const char* items = "tiles";
  const char* group = "slide";
};

// Progress of a run over slides and their tiles (or other units, such as a
// training run's steps). On a terminal it redraws one
// line (bar, tiles/s, ETA) at most ten times a second; otherwise it logs a plain
// line every `log_every`. Thread-safe.
class Progress {
 public:
  enum class Mode { kBar, kLines, kQuiet };
  Progress(Mode mode, size_t slides_total, std::chrono::seconds log_every = std::chrono::seconds(10),
           ProgressUnits units = {});
  ~Progress();

  void slide_planned(uint64_t tiles);
  void tiles_done(uint64_t count);
  void slide_finished(const std::string& line);  // a line kept in the log, e.g. a slide's outcome
  // Shown after the counts from the next render on, e.g. a training step's loss.
  void set_detail(std::string detail);
  void finish();

  static Mode detect();  // kBar when stderr is a terminal, else kLines

 private:
  void render(bool force);
  std::string status_text(double elapsed) const;

  std::mutex mutex_;
  Mode mode_;
  size_t slides_total_;
  size_t slides_planned_ = 0;
  size_t slides_finished_ = 0;
  uint64_t tiles_planned_ = 0;
  uint64_t tiles_done_ = 0;
  std::chrono::seconds log_every_;
  ProgressUnits units_;
  std::string detail_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_render_;
  bool line_open_ = false;
};

std::string format_duration(double seconds);

// What --progress asked for: auto is a bar on a terminal, lines otherwise.
enum class ProgressDisplay { kAuto, kBar, kLines, kQuiet };
// "auto", "bar", "lines" or "quiet"; throws tessera::Error otherwise.
ProgressDisplay parse_progress_display(const std::string& text);
Progress::Mode resolve_mode(ProgressDisplay display);

}  // namespace tessera::pipeline
