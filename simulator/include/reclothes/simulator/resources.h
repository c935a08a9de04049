// What this process costs: resident memory, CPU time, threads. For fleet mode's progress lines
// and summary (the bench figures: how many boxes fit in one process, memory per box).
#pragma once

#include <cstdint>

namespace reclothes::simulator {

struct ProcessResources {
  std::uint64_t rss_kb = 0;       // VmRSS now
  std::uint64_t peak_rss_kb = 0;  // VmHWM: the most it ever was
  double user_s = 0;              // CPU time in user space, all threads
  double system_s = 0;            // CPU time in the kernel, all threads
  int threads = 0;
  int open_fds = 0;
};

// Reads /proc/self/status, /proc/self/fd and getrusage. Fields it cannot read stay 0.
ProcessResources read_process_resources();

}  // namespace reclothes::simulator
