// FakeGpio: an in-memory GpioPort for testing the linux backend without a GPIO chip.
//
// It behaves like the kernel where the backend depends on it: opening an unknown chip fails with
// ENOENT, a line can be requested once (EBUSY after), an offset past the chip's end gives EINVAL,
// and an input requested with events queues an edge when its level changes. Tests drive input
// wires, inject errno failures, and observe every level written to an output wire.
//
// Levels are physical (true = high), as in GpioPort. Thread-safe: a test may drive inputs from
// one thread while the backend uses the lines from another.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "reclothes/hal/linux/gpio_port.h"

namespace reclothes::hal::linux_backend::testing {

enum class FakeLineMode { kUnrequested, kOutput, kInput, kInputEvents };

class FakeGpio final : public GpioPort {
 public:
  FakeGpio();
  ~FakeGpio() override;
  FakeGpio(const FakeGpio&) = delete;
  FakeGpio& operator=(const FakeGpio&) = delete;

  // Makes a chip with `lines` lines exist.
  void add_chip(const std::string& chip, unsigned int lines = 64);
  // Every open of `chip` fails with `err` (0 clears).
  void fail_open(const std::string& chip, int err);
  // Every request of the line fails with `err` (0 clears), as if another process held it (EBUSY)
  // or we lacked the rights (EPERM).
  void fail_request(const std::string& chip, unsigned int line, int err);
  // The next `count` set_value() / get_value() calls on the line fail with `err`.
  void fail_set_value(const std::string& chip, unsigned int line, int err, int count = 1);
  void fail_get_value(const std::string& chip, unsigned int line, int err, int count = 1);

  // Sets an input wire's level. When the line is requested with events and the level changes,
  // an edge is queued.
  void set_input(const std::string& chip, unsigned int line, bool high);
  // Queues an edge without changing the level, as switch bounce does.
  void push_edge(const std::string& chip, unsigned int line, bool rising);

  FakeLineMode mode(const std::string& chip, unsigned int line) const;
  bool requested(const std::string& chip, unsigned int line) const {
    return mode(chip, line) != FakeLineMode::kUnrequested;
  }
  // The wire's level now: last driven for an output, last set_input() for an input.
  bool level(const std::string& chip, unsigned int line) const;
  // Every level driven on the line since it was first requested, the request's initial level
  // first. Failed writes are not included.
  std::vector<bool> writes(const std::string& chip, unsigned int line) const;
  std::string consumer(const std::string& chip, unsigned int line) const;
  LineBias bias(const std::string& chip, unsigned int line) const;
  // The timeout of the line's most recent event_wait().
  std::chrono::nanoseconds last_wait(const std::string& chip, unsigned int line) const;
  // Lines requested now, over all chips.
  std::size_t requested_count() const;
  // Chips opened and not yet closed.
  std::size_t open_chips() const;

  Result<std::unique_ptr<GpioChip>> open_chip(const std::string& name) override;

  struct State;  // shared with the fake chips and lines; defined in fake_gpio.cpp

 private:
  std::shared_ptr<State> state_;
};

}  // namespace reclothes::hal::linux_backend::testing
