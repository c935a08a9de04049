// The box's log format: text (spdlog's lines, as always) or JSON lines (log.format,
// --log-format): each line one JSON object with ts, level, box and msg, whatever the message holds.
#include "reclothes/firmware/log_format.h"

#include <gtest/gtest.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "reclothes/firmware/config.h"

namespace reclothes::firmware {
namespace {

using Json = nlohmann::json;

// The lines a logger with the given format writes for what `write` logs.
std::vector<std::string> lines_of(LogFormat format, const std::string& box,
                                  const std::function<void(spdlog::logger&)>& write) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("test", sink);
  logger.set_level(spdlog::level::trace);
  logger.set_formatter(make_log_formatter(format, box));
  write(logger);
  logger.flush();
  std::vector<std::string> lines;
  std::istringstream in(out.str());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(LogFormat, JsonLinesAreOneObjectEachWithTimeLevelBoxAndMessage) {
  const auto lines = lines_of(LogFormat::kJson, "box-0007", [](spdlog::logger& log) {
    log.info("box {} running", "box-0007");
    log.warn("sync: \"broker\" said\tno\nsecond line \\ done");
    log.error("bytes: {}", std::string("caf\xc3\xa9 \xff\xfe end"));
    log.critical("journal: disk full");
    log.debug("plain");
  });
  ASSERT_EQ(lines.size(), 5u);
  std::vector<Json> parsed;
  for (const auto& line : lines) {
    auto j = Json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j.size(), 4u) << line;
    EXPECT_EQ(j.value("box", ""), "box-0007");
    EXPECT_TRUE(std::regex_match(j.value("ts", ""),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << line;
    parsed.push_back(j);
  }
  EXPECT_EQ(parsed[0]["level"], "info");
  EXPECT_EQ(parsed[0]["msg"], "box box-0007 running");
  EXPECT_EQ(parsed[1]["level"], "warning");
  EXPECT_EQ(parsed[1]["msg"], "sync: \"broker\" said\tno\nsecond line \\ done");
  EXPECT_EQ(parsed[2]["level"], "error");
  // Invalid UTF-8 becomes U+FFFD rather than a line that is not JSON.
  EXPECT_EQ(parsed[2]["msg"], "bytes: caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd end");
  EXPECT_EQ(parsed[3]["level"], "critical");
  EXPECT_EQ(parsed[4]["level"], "debug");
}

TEST(LogFormat, TheTimeIsUtcWithMilliseconds) {
  const auto before = std::chrono::system_clock::now();
  const auto lines = lines_of(LogFormat::kJson, "b", [](spdlog::logger& log) { log.info("now"); });
  ASSERT_EQ(lines.size(), 1u);
  const auto ts = Json::parse(lines[0])["ts"].get<std::string>();
  std::tm tm{};
  ASSERT_NE(strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr) << ts;
  const auto secs = timegm(&tm);
  const auto want = std::chrono::system_clock::to_time_t(before);
  EXPECT_LE(std::abs(secs - want), 2) << ts;
}

TEST(LogFormat, BeforeTheConfigurationIsReadLinesHaveNoBox) {
  const auto lines = lines_of(LogFormat::kJson, "", [](spdlog::logger& log) { log.info("hi"); });
  ASSERT_EQ(lines.size(), 1u);
  const auto j = Json::parse(lines[0]);
  EXPECT_FALSE(j.contains("box"));
  EXPECT_EQ(j["msg"], "hi");
}

TEST(LogFormat, TextIsSpdlogsUsualLine) {
  const auto lines =
      lines_of(LogFormat::kText, "box-0007", [](spdlog::logger& log) { log.warn("door ajar"); });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(std::regex_match(
      lines[0],
      std::regex(R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[test\] \[warning\] door ajar)")))
      << lines[0];
}

TEST(LogFormat, NamesParse) {
  EXPECT_EQ(parse_log_format("json"), LogFormat::kJson);
  EXPECT_EQ(parse_log_format("text"), LogFormat::kText);
  EXPECT_EQ(parse_log_format("JSON"), std::nullopt);
  EXPECT_EQ(parse_log_format(""), std::nullopt);
  EXPECT_EQ(to_string(LogFormat::kJson), "json");
}

Json example_config() {
  const auto path = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() /
                    "config" / "box.example.json";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return Json::parse(text.str());
}

TEST(LogFormat, TheConfigurationChoosesIt) {
  auto j = example_config();
  j.erase("log");
  auto config = parse_config(j.dump());
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->log_format, LogFormat::kText);  // the default
  j["log"] = {{"format", "json"}};
  config = parse_config(j.dump());
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->log_format, LogFormat::kJson);
  j["log"] = Json::object();
  config = parse_config(j.dump());
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->log_format, LogFormat::kText);
}

TEST(LogFormat, TheConfigurationRefusesAnUnknownFormatOrKey) {
  auto j = example_config();
  j["log"] = {{"format", "xml"}};
  auto config = parse_config(j.dump());
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("/log/format"), std::string::npos)
      << config.error().message;
  j["log"] = {{"format", 1}};
  EXPECT_FALSE(parse_config(j.dump()).ok());
  j["log"] = {{"level", "debug"}};
  config = parse_config(j.dump());
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("level"), std::string::npos) << config.error().message;
}

}  // namespace
}  // namespace reclothes::firmware
