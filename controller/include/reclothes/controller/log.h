// Structured log lines over spdlog: a message plus key=value fields, written either as text
// ("msg key=value key2=\"a b\"") or as one JSON object per line. Request handling always passes
// the request id as a field, so every line of a request can be found by it.
#pragma once

#include <spdlog/spdlog.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "reclothes/controller/config.h"

namespace reclothes::controller {

struct LogField {
  std::string_view key;
  std::string value;
  LogField(std::string_view k, std::string v) : key(k), value(std::move(v)) {}
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(v) {}
  template <typename N>
  requires std::is_arithmetic_v<N> LogField(std::string_view k, N n)
      : key(k), value(std::to_string(n)) {}
};

// Thread-safe (spdlog loggers are).
class Log {
 public:
  // A logger writing to stderr with the configured level and format.
  static Log to_stderr(const ControllerConfig::Log& config);
  // Discards everything (tests that do not look at logs).
  static Log null();
  Log(std::shared_ptr<spdlog::logger> logger, LogFormat format);

  void debug(std::string_view msg, std::initializer_list<LogField> fields = {}) const {
    write(spdlog::level::debug, msg, fields);
  }
  void info(std::string_view msg, std::initializer_list<LogField> fields = {}) const {
    write(spdlog::level::info, msg, fields);
  }
  void warn(std::string_view msg, std::initializer_list<LogField> fields = {}) const {
    write(spdlog::level::warn, msg, fields);
  }
  void error(std::string_view msg, std::initializer_list<LogField> fields = {}) const {
    write(spdlog::level::err, msg, fields);
  }

  // The line as it would be written (without time and level), for tests.
  std::string format_line(std::string_view msg, std::initializer_list<LogField> fields) const;

 private:
  void write(spdlog::level::level_enum level, std::string_view msg,
             std::initializer_list<LogField> fields) const;
  std::shared_ptr<spdlog::logger> logger_;
  LogFormat format_;
};

}  // namespace reclothes::controller
