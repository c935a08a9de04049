#include "reclothes/hal/linux/testing/fake_gpio.h"

#include <cerrno>
#include <deque>
#include <map>
#include <mutex>
#include <utility>

#include "reclothes/hal/linux/errno_error.h"

namespace reclothes::hal::linux_backend::testing {

struct FakeGpio::State {
  struct Line {
    FakeLineMode mode = FakeLineMode::kUnrequested;
    bool level = false;
    std::vector<bool> writes;
    std::string consumer;
    LineBias bias = LineBias::kAsIs;
    int request_err = 0;
    int set_err = 0;
    int set_failures = 0;
    int get_err = 0;
    int get_failures = 0;
    std::deque<EdgeEvent> edges;
    std::chrono::nanoseconds last_wait{0};
  };
  struct Chip {
    unsigned int lines = 0;
    int open_err = 0;
  };

  using Key = std::pair<std::string, unsigned int>;

  mutable std::mutex mu;
  std::map<std::string, Chip> chips;
  std::map<Key, Line> lines;
  std::size_t open_chips = 0;
  std::int64_t next_timestamp_ns = 1'000'000;

  // Caller holds mu.
  void queue_edge(Line& line, bool rising) {
    next_timestamp_ns += 1'000'000;
    line.edges.push_back(EdgeEvent{rising, std::chrono::nanoseconds(next_timestamp_ns)});
  }
};

namespace {

using State = FakeGpio::State;

std::string label(const std::string& chip, unsigned int line) {
  return chip + " line " + std::to_string(line);
}

class FakeLine final : public GpioLine {
 public:
  FakeLine(std::shared_ptr<State> state, std::string chip, unsigned int offset)
      : state_(std::move(state)), chip_(std::move(chip)), offset_(offset) {}

  ~FakeLine() override {
    std::lock_guard lock(state_->mu);
    State::Line& line = get();
    line.mode = FakeLineMode::kUnrequested;
    line.edges.clear();
  }

  Status set_value(bool high) override {
    std::lock_guard lock(state_->mu);
    State::Line& line = get();
    std::string what = label(chip_, offset_) + ": cannot set value";
    if (line.set_failures > 0) {
      --line.set_failures;
      return errno_error(line.set_err, what);
    }
    if (line.mode != FakeLineMode::kOutput) return errno_error(EPERM, what);
    line.level = high;
    line.writes.push_back(high);
    return ok_status();
  }

  Result<bool> get_value() override {
    std::lock_guard lock(state_->mu);
    State::Line& line = get();
    if (line.get_failures > 0) {
      --line.get_failures;
      return errno_error(line.get_err, label(chip_, offset_) + ": cannot read value");
    }
    return line.level;
  }

  Result<bool> event_wait(std::chrono::nanoseconds timeout) override {
    std::lock_guard lock(state_->mu);
    State::Line& line = get();
    line.last_wait = timeout;
    if (line.mode != FakeLineMode::kInputEvents) {
      return errno_error(EPERM, label(chip_, offset_) + ": cannot wait for events");
    }
    // Never actually waits: a test queues edges before it polls.
    return !line.edges.empty();
  }

  Result<EdgeEvent> event_read() override {
    std::lock_guard lock(state_->mu);
    State::Line& line = get();
    if (line.mode != FakeLineMode::kInputEvents || line.edges.empty()) {
      // The real call would block forever here; the fake reports the misuse instead.
      return errno_error(EAGAIN, label(chip_, offset_) + ": cannot read event");
    }
    EdgeEvent edge = line.edges.front();
    line.edges.pop_front();
    return edge;
  }

 private:
  State::Line& get() { return state_->lines[{chip_, offset_}]; }

  std::shared_ptr<State> state_;
  std::string chip_;
  unsigned int offset_;
};

class FakeChip final : public GpioChip {
 public:
  FakeChip(std::shared_ptr<State> state, std::string name)
      : state_(std::move(state)), name_(std::move(name)) {}

  ~FakeChip() override {
    std::lock_guard lock(state_->mu);
    --state_->open_chips;
  }

  const std::string& name() const override { return name_; }

  Result<std::unique_ptr<GpioLine>> request_output(unsigned int line, const std::string& consumer,
                                                   bool initial_high) override {
    return request(line, consumer, FakeLineMode::kOutput, LineBias::kAsIs, initial_high, "output");
  }

  Result<std::unique_ptr<GpioLine>> request_input(unsigned int line, const std::string& consumer,
                                                  LineBias bias) override {
    return request(line, consumer, FakeLineMode::kInput, bias, false, "input");
  }

  Result<std::unique_ptr<GpioLine>> request_input_events(unsigned int line,
                                                         const std::string& consumer,
                                                         LineBias bias) override {
    return request(line, consumer, FakeLineMode::kInputEvents, bias, false,
                   "input with edge events");
  }

 private:
  Result<std::unique_ptr<GpioLine>> request(unsigned int offset, const std::string& consumer,
                                            FakeLineMode mode, LineBias bias, bool initial_high,
                                            const char* kind) {
    std::lock_guard lock(state_->mu);
    std::string what = label(name_, offset) + ": cannot request as " + kind;
    if (offset >= state_->chips[name_].lines) return errno_error(EINVAL, what);
    State::Line& line = state_->lines[{name_, offset}];
    if (line.request_err != 0) return errno_error(line.request_err, what);
    if (line.mode != FakeLineMode::kUnrequested) return errno_error(EBUSY, what);
    line.mode = mode;
    line.consumer = consumer;
    line.bias = bias;
    line.edges.clear();
    if (mode == FakeLineMode::kOutput) {
      line.level = initial_high;
      line.writes.push_back(initial_high);
    }
    return std::unique_ptr<GpioLine>(std::make_unique<FakeLine>(state_, name_, offset));
  }

  std::shared_ptr<State> state_;
  std::string name_;
};

}  // namespace

FakeGpio::FakeGpio() : state_(std::make_shared<State>()) {}
FakeGpio::~FakeGpio() = default;

void FakeGpio::add_chip(const std::string& chip, unsigned int lines) {
  std::lock_guard lock(state_->mu);
  state_->chips[chip].lines = lines;
}

void FakeGpio::fail_open(const std::string& chip, int err) {
  std::lock_guard lock(state_->mu);
  state_->chips[chip].open_err = err;
}

void FakeGpio::fail_request(const std::string& chip, unsigned int line, int err) {
  std::lock_guard lock(state_->mu);
  state_->lines[{chip, line}].request_err = err;
}

void FakeGpio::fail_set_value(const std::string& chip, unsigned int line, int err, int count) {
  std::lock_guard lock(state_->mu);
  State::Line& l = state_->lines[{chip, line}];
  l.set_err = err;
  l.set_failures = count;
}

void FakeGpio::fail_get_value(const std::string& chip, unsigned int line, int err, int count) {
  std::lock_guard lock(state_->mu);
  State::Line& l = state_->lines[{chip, line}];
  l.get_err = err;
  l.get_failures = count;
}

void FakeGpio::set_input(const std::string& chip, unsigned int line, bool high) {
  std::lock_guard lock(state_->mu);
  State::Line& l = state_->lines[{chip, line}];
  if (l.level == high) return;
  l.level = high;
  if (l.mode == FakeLineMode::kInputEvents) state_->queue_edge(l, high);
}

void FakeGpio::push_edge(const std::string& chip, unsigned int line, bool rising) {
  std::lock_guard lock(state_->mu);
  State::Line& l = state_->lines[{chip, line}];
  if (l.mode == FakeLineMode::kInputEvents) state_->queue_edge(l, rising);
}

FakeLineMode FakeGpio::mode(const std::string& chip, unsigned int line) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->lines.find({chip, line});
  return it == state_->lines.end() ? FakeLineMode::kUnrequested : it->second.mode;
}

bool FakeGpio::level(const std::string& chip, unsigned int line) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->lines.find({chip, line});
  return it != state_->lines.end() && it->second.level;
}

std::vector<bool> FakeGpio::writes(const std::string& chip, unsigned int line) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->lines.find({chip, line});
  return it == state_->lines.end() ? std::vector<bool>{} : it->second.writes;
}

std::string FakeGpio::consumer(const std::string& chip, unsigned int line) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->lines.find({chip, line});
  return it == state_->lines.end() ? std::string{} : it->second.consumer;
}

LineBias FakeGpio::bias(const std::string& chip, unsigned int line) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->lines.find({chip, line});
  return it == state_->lines.end() ? LineBias::kAsIs : it->second.bias;
}

std::chrono::nanoseconds FakeGpio::last_wait(const std::string& chip, unsigned int line) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->lines.find({chip, line});
  return it == state_->lines.end() ? std::chrono::nanoseconds{0} : it->second.last_wait;
}

std::size_t FakeGpio::requested_count() const {
  std::lock_guard lock(state_->mu);
  std::size_t count = 0;
  for (const auto& [key, line] : state_->lines) {
    if (line.mode != FakeLineMode::kUnrequested) ++count;
  }
  return count;
}

std::size_t FakeGpio::open_chips() const {
  std::lock_guard lock(state_->mu);
  return state_->open_chips;
}

Result<std::unique_ptr<GpioChip>> FakeGpio::open_chip(const std::string& name) {
  std::lock_guard lock(state_->mu);
  std::string what = name + ": cannot open GPIO chip";
  auto it = state_->chips.find(name);
  if (it == state_->chips.end()) return errno_error(ENOENT, what);
  if (it->second.open_err != 0) return errno_error(it->second.open_err, what);
  ++state_->open_chips;
  return std::unique_ptr<GpioChip>(std::make_unique<FakeChip>(state_, name));
}

}  // namespace reclothes::hal::linux_backend::testing
