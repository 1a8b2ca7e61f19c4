#pragma once

// Cooperative cancellation for the long-running graphs: SIGINT (Ctrl-C) asks
// the running graph to stop taking new work; what is in flight finishes and is
// committed, and the next run resumes from there.

namespace tessera::pipeline {

// Catches SIGINT for its lifetime and clears any earlier request; restores the
// previous handler on exit.
class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  void (*previous_)(int);
};

bool stop_requested();
// As SIGINT would: the running graph stops after the work in flight.
void request_stop();

}  // namespace tessera::pipeline
