#include "reclothes/controller/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

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

// Lines to stderr, gathered in memory and written at most every kFlushInterval (or when 32 KiB
// are waiting): a busy controller logs a line per request, and one write(2) per line was 4% of
// its CPU on a GET (docs/performance.md, B5). Warnings and errors are written at once, with
// everything before them (flush_on(warn) below), and everything is written when the logger goes.
// What a crash can lose is at most the last kFlushInterval of info and debug lines.
class BufferedStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  static constexpr std::chrono::milliseconds kFlushInterval{100};
  static constexpr std::size_t kMaxBuffered = 32 * 1024;

  BufferedStderrSink() : flusher_([this] { run(); }) {}
  ~BufferedStderrSink() override {
    {
      std::lock_guard lock(stop_mu_);
      stopping_ = true;
    }
    stop_cv_.notify_all();
    flusher_.join();
    std::lock_guard lock(mutex_);
    write_out();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    buffer_.append(formatted.data(), formatted.size());
    if (buffer_.size() >= kMaxBuffered) write_out();
  }
  void flush_() override { write_out(); }

 private:
  void write_out() {  // with mutex_ held
    std::size_t done = 0;
    while (done < buffer_.size()) {
      const auto n = ::write(STDERR_FILENO, buffer_.data() + done, buffer_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // stderr is gone: nothing better to do with the lines
      done += static_cast<std::size_t>(n);
    }
    buffer_.clear();
  }
  void run() {
    std::unique_lock stop(stop_mu_);
    while (!stop_cv_.wait_for(stop, kFlushInterval, [this] { return stopping_; })) {
      std::lock_guard lock(mutex_);
      if (!buffer_.empty()) write_out();
    }
  }

  std::string buffer_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread flusher_;  // last: starts once the rest is built
};

}  // namespace

Log::Log(std::shared_ptr<spdlog::logger> logger, LogFormat format)
    : logger_(std::move(logger)), format_(format) {}

Log Log::to_stderr(const ControllerConfig::Log& config) {
  auto logger =
      std::make_shared<spdlog::logger>("controller", std::make_shared<BufferedStderrSink>());
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
