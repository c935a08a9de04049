#include "reclothes/controller/log.h"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <nlohmann/json.hpp>

namespace reclothes::controller {
namespace {

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char ch : v) {
    if (ch == ' ' || ch == '"' || ch == '=' || ch == '\\' ||
        static_cast<unsigned char>(ch) < 0x20) {
      return true;
    }
  }
  return false;
}

}  // namespace

Log::Log(std::shared_ptr<spdlog::logger> logger, LogFormat format)
    : logger_(std::move(logger)), format_(format) {}

Log Log::to_stderr(const ControllerConfig::Log& config) {
  auto logger = std::make_shared<spdlog::logger>("controller",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(spdlog::level::from_str(config.level));
  if (config.format == LogFormat::kJson) {
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})",
                        spdlog::pattern_time_type::utc);
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  logger->flush_on(spdlog::level::warn);
  return Log(std::move(logger), config.format);
}

Log Log::null() {
  auto logger =
      std::make_shared<spdlog::logger>("null", std::make_shared<spdlog::sinks::null_sink_mt>());
  logger->set_level(spdlog::level::off);
  return Log(std::move(logger), LogFormat::kText);
}

std::string Log::format_line(std::string_view msg, std::initializer_list<LogField> fields) const {
  if (format_ == LogFormat::kJson) {
    // The pattern supplies the braces around the fields; here we produce "msg":...,"k":"v".
    std::string out =
        "\"msg\":" + nlohmann::json(std::string(msg))
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    for (const auto& f : fields) {
      out += "," + nlohmann::json(std::string(f.key)).dump() + ":" +
             nlohmann::json(f.value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    return out;
  }
  std::string out(msg);
  for (const auto& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    if (needs_quotes(f.value)) {
      out += nlohmann::json(f.value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      out += f.value;
    }
  }
  return out;
}

void Log::write(spdlog::level::level_enum level, std::string_view msg,
                std::initializer_list<LogField> fields) const {
  if (!logger_->should_log(level)) return;
  logger_->log(level, "{}", format_line(msg, fields));
}

}  // namespace reclothes::controller
