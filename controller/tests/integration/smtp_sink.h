// A real SMTP server for the domain suites: tests/integration/smtp_sink.py (Debian's
// python3-aiosmtpd) as a child process on a free port, each accepted mail a file. Used by the
// notification and the alarms suites.
// RECLOTHES_SMTP_SINK names the script (controller/CMakeLists.txt).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "reclothes/testsupport/process.h"
#include "reclothes/testsupport/temp_dir.h"

namespace reclothes::controller::testing {

// A mail the sink accepted: the envelope and the message as received.
struct Mail {
  std::string mail_from;
  std::vector<std::string> rcpt_tos;
  std::string message;
  // The value of one header (first occurrence, unfolded), "" if absent.
  std::string header(const std::string& name) const {
    const auto head = message.substr(0, message.find("\r\n\r\n"));
    std::istringstream in(head);
    std::string line, value;
    bool in_header = false;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (in_header && !line.empty() && (line[0] == ' ' || line[0] == '\t')) {
        value += line;
        continue;
      }
      if (in_header) return value;
      if (line.rfind(name + ": ", 0) == 0) {
        in_header = true;
        value = line.substr(name.size() + 2);
      }
    }
    return value;
  }
  std::string body() const { return message.substr(message.find("\r\n\r\n") + 4); }
};

// tests/integration/smtp_sink.py as a child process on a free port; each accepted mail is a file.
class SmtpSink {
 public:
  explicit SmtpSink(int port = 0) : dir_(testsupport::TempDir::create_or_throw("smtp-sink-")) {
    port_ = port;
    if (port_ == 0) {
      auto p = testsupport::free_tcp_port();
      if (!p.ok()) throw std::runtime_error(p.error().to_string());
      port_ = *p;
    }
    std::filesystem::create_directory(dir_ / "mail");
  }
  // Starts the server (again, after stop()). False (with a test failure) when it does not listen.
  bool start() {
    testsupport::SpawnOptions o;
    o.log_path = dir_ / "sink.log";
    auto p = testsupport::Process::spawn(
        {"/usr/bin/python3", RECLOTHES_SMTP_SINK, std::to_string(port_), (dir_ / "mail").string()},
        o);
    if (!p.ok()) {
      ADD_FAILURE() << p.error().to_string();
      return false;
    }
    process_ = std::move(p).value();
    auto up = testsupport::wait_until_listening(*process_, port_, std::chrono::seconds(10));
    if (!up.ok()) {
      std::ifstream log(dir_ / "sink.log");
      ADD_FAILURE() << "SMTP sink not listening: " << up.error().to_string() << "\n"
                    << std::string(std::istreambuf_iterator<char>(log), {});
      return false;
    }
    return true;
  }
  void stop() {
    if (process_) (void)process_->stop(std::chrono::seconds(5));
    process_.reset();
  }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

  std::vector<Mail> mails() const {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "mail")) {
      if (e.path().extension() == ".eml") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<Mail> out;
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::string first;
      std::getline(in, first);
      const auto env = nlohmann::json::parse(first, nullptr, false);
      Mail m;
      if (env.is_object()) {
        m.mail_from = env.value("mail_from", "");
        m.rcpt_tos = env.value("rcpt_tos", std::vector<std::string>{});
      }
      m.message.assign(std::istreambuf_iterator<char>(in), {});
      out.push_back(std::move(m));
    }
    return out;
  }

 private:
  testsupport::TempDir dir_;
  int port_ = 0;
  std::unique_ptr<testsupport::Process> process_;
};

}  // namespace reclothes::controller::testing
