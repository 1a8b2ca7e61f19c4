#include "interrupt.h"

#include <atomic>
#include <csignal>

namespace tessera::pipeline {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_interrupt(int) { g_stop.store(true); }

}  // namespace

InterruptScope::InterruptScope() {
  g_stop.store(false);
  previous_ = std::signal(SIGINT, on_interrupt);
}

InterruptScope::~InterruptScope() { std::signal(SIGINT, previous_); }

bool stop_requested() { return g_stop.load(); }

void request_stop() { g_stop.store(true); }

}  // namespace tessera::pipeline
