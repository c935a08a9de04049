// The box's log lines: text (spdlog's "[2026-01-01 10:00:00.000] [info] message", the default)
// or one JSON object per line for log collectors, as the controller writes them (log.format):
//   {"ts":"2026-01-01T00:00:00.000Z","level":"info","box":"box-0001","msg":"box box-0001 running"}
// Chosen by the configuration's log.format or `reclothes-box --log-format` (docs/firmware.md,
// "Configuration reference").
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace spdlog {
class formatter;  // <spdlog/formatter.h>: only the users of make_log_formatter need it
}  // namespace spdlog

namespace reclothes::firmware {

enum class LogFormat { kText, kJson };

std::optional<LogFormat> parse_log_format(std::string_view name);  // "text", "json"
std::string_view to_string(LogFormat format);

// A formatter for spdlog sinks. `box_id` goes into every JSON line as "box" (empty: left out,
// before the configuration is read).
std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format,
                                                      const std::string& box_id = "");

// Makes the default logger (what spdlog::info and friends write to) use the format.
void use_log_format(LogFormat format, const std::string& box_id = "");

}  // namespace reclothes::firmware
