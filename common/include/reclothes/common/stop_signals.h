// SIGTERM and SIGINT for programs that stop from their own main loop (the box, the simulator).
#pragma once

#include <pthread.h>

#include <csignal>

namespace reclothes {

// Blocks SIGTERM and SIGINT in the calling thread and returns that set for sigtimedwait. Call it
// before any thread exists: every thread (Paho's too) inherits the mask, so the signals wait for
// the main loop and never interrupt anyone. Also ignores SIGPIPE, so a broken socket gives an
// error instead of killing the process.
inline sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return signals;
}

}  // namespace reclothes
