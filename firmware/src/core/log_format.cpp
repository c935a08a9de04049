#include "reclothes/firmware/log_format.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace reclothes::firmware {
namespace {

// A JSON string literal for any bytes: invalid UTF-8 becomes U+FFFD instead of an exception.
std::string json_string(std::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class JsonLineFormatter final : public spdlog::formatter {
 public:
  explicit JsonLineFormatter(std::string box_id) : box_id_(std::move(box_id)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since_epoch = msg.time.time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs);
    const auto t = static_cast<std::time_t>(secs.count());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[40];
    const auto n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string line = "{\"ts\":\"";
    line.append(ts, n);
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms.count()));
    line += frac;
    const auto level = spdlog::level::to_string_view(msg.level);
    line += "\",\"level\":\"";
    line.append(level.data(), level.size());
    line += '"';
    if (!box_id_.empty()) line += ",\"box\":" + json_string(box_id_);
    line += ",\"msg\":" + json_string(std::string_view(msg.payload.data(), msg.payload.size()));
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>(box_id_);
  }

 private:
  std::string box_id_;
};

}  // namespace

std::optional<LogFormat> parse_log_format(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::string_view to_string(LogFormat format) {
  return format == LogFormat::kJson ? "json" : "text";
}

std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format, const std::string& box_id) {
  if (format == LogFormat::kJson) return std::make_unique<JsonLineFormatter>(box_id);
  // spdlog's own pattern, as the box has always written: "[2026-01-01 10:00:00.000] [info] ...".
  return std::make_unique<spdlog::pattern_formatter>();
}

void use_log_format(LogFormat format, const std::string& box_id) {
  spdlog::default_logger()->set_formatter(make_log_formatter(format, box_id));
}

}  // namespace reclothes::firmware
