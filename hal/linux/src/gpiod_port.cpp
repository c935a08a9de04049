// The only file that includes <gpiod.hpp>: libgpiod 1.6's C++ bindings behind GpioPort.
// libgpiod reports failure by throwing (std::system_error carrying errno, std::out_of_range for a
// line offset past the chip's end, std::logic_error for misuse). Every call is wrapped here and
// its exception turned into an Error naming the chip and line, so nothing above this file ever
// sees an exception from the library.
#include "reclothes/hal/linux/gpiod_port.h"

#include <bitset>
#include <gpiod.hpp>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "reclothes/hal/linux/errno_error.h"

namespace reclothes::hal::linux_backend {
namespace {

Error from_exception(const std::exception& e, std::string what) {
  if (const auto* sys = dynamic_cast<const std::system_error*>(&e)) {
    if (sys->code().category() == std::generic_category() ||
        sys->code().category() == std::system_category()) {
      return errno_error(sys->code().value(), std::move(what));
    }
  }
  ErrorCode code = dynamic_cast<const std::out_of_range*>(&e) != nullptr
                       ? ErrorCode::kInvalidArgument
                       : ErrorCode::kIo;
  return make_error(code, std::move(what) + ": " + e.what());
}

Error unknown_exception(std::string what) {
  return make_error(ErrorCode::kInternal, std::move(what) + ": unknown exception from libgpiod");
}

std::bitset<32> bias_flags(LineBias bias) {
  switch (bias) {
    case LineBias::kAsIs:
      return {};
    case LineBias::kDisabled:
      return gpiod::line_request::FLAG_BIAS_DISABLE;
    case LineBias::kPullUp:
      return gpiod::line_request::FLAG_BIAS_PULL_UP;
    case LineBias::kPullDown:
      return gpiod::line_request::FLAG_BIAS_PULL_DOWN;
  }
  return {};
}

class GpiodLine final : public GpioLine {
 public:
  GpiodLine(gpiod::line line, std::string label)
      : line_(std::move(line)), label_(std::move(label)) {}

  ~GpiodLine() override {
    try {
      line_.release();
    } catch (...) {
      // Closing the file descriptor cannot be retried; the kernel frees the line with the process.
    }
  }

  Status set_value(bool high) override {
    try {
      line_.set_value(high ? 1 : 0);
      return ok_status();
    } catch (const std::exception& e) {
      return from_exception(e, label_ + ": cannot set value");
    } catch (...) {
      return unknown_exception(label_ + ": cannot set value");
    }
  }

  Result<bool> get_value() override {
    try {
      return line_.get_value() != 0;
    } catch (const std::exception& e) {
      return from_exception(e, label_ + ": cannot read value");
    } catch (...) {
      return unknown_exception(label_ + ": cannot read value");
    }
  }

  Result<bool> event_wait(std::chrono::nanoseconds timeout) override {
    try {
      return line_.event_wait(timeout);
    } catch (const std::exception& e) {
      return from_exception(e, label_ + ": cannot wait for events");
    } catch (...) {
      return unknown_exception(label_ + ": cannot wait for events");
    }
  }

  Result<EdgeEvent> event_read() override {
    try {
      gpiod::line_event event = line_.event_read();
      return EdgeEvent{event.event_type == gpiod::line_event::RISING_EDGE, event.timestamp};
    } catch (const std::exception& e) {
      return from_exception(e, label_ + ": cannot read event");
    } catch (...) {
      return unknown_exception(label_ + ": cannot read event");
    }
  }

 private:
  gpiod::line line_;  // holds a reference to its chip, so the chip stays open while it lives
  std::string label_;
};

class GpiodChip final : public GpioChip {
 public:
  GpiodChip(gpiod::chip chip, std::string name) : chip_(std::move(chip)), name_(std::move(name)) {}

  const std::string& name() const override { return name_; }

  Result<std::unique_ptr<GpioLine>> request_output(unsigned int line, const std::string& consumer,
                                                   bool initial_high) override {
    return request(line, "output", {consumer, gpiod::line_request::DIRECTION_OUTPUT, {}},
                   initial_high ? 1 : 0);
  }

  Result<std::unique_ptr<GpioLine>> request_input(unsigned int line, const std::string& consumer,
                                                  LineBias bias) override {
    return request(line, "input",
                   {consumer, gpiod::line_request::DIRECTION_INPUT, bias_flags(bias)}, 0);
  }

  Result<std::unique_ptr<GpioLine>> request_input_events(unsigned int line,
                                                         const std::string& consumer,
                                                         LineBias bias) override {
    return request(line, "input with edge events",
                   {consumer, gpiod::line_request::EVENT_BOTH_EDGES, bias_flags(bias)}, 0);
  }

 private:
  Result<std::unique_ptr<GpioLine>> request(unsigned int offset, const char* kind,
                                            const gpiod::line_request& config, int default_val) {
    std::string label = name_ + " line " + std::to_string(offset);
    std::string what = label + ": cannot request as " + kind;
    try {
      gpiod::line line = chip_.get_line(offset);
      line.request(config, default_val);
      return std::unique_ptr<GpioLine>(std::make_unique<GpiodLine>(std::move(line), label));
    } catch (const std::exception& e) {
      return from_exception(e, std::move(what));
    } catch (...) {
      return unknown_exception(std::move(what));
    }
  }

  gpiod::chip chip_;
  std::string name_;  // as the configuration spelled it, so errors match the pin map
};

class GpiodPort final : public GpioPort {
 public:
  Result<std::unique_ptr<GpioChip>> open_chip(const std::string& name) override {
    std::string what = name + ": cannot open GPIO chip";
    try {
      gpiod::chip chip(name);
      return std::unique_ptr<GpioChip>(std::make_unique<GpiodChip>(std::move(chip), name));
    } catch (const std::exception& e) {
      return from_exception(e, std::move(what));
    } catch (...) {
      return unknown_exception(std::move(what));
    }
  }
};

}  // namespace

std::unique_ptr<GpioPort> make_gpiod_port() { return std::make_unique<GpiodPort>(); }

}  // namespace reclothes::hal::linux_backend
