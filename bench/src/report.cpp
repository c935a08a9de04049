#include "reclothes/bench/report.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <system_error>

namespace reclothes::bench {
namespace {

std::string_view kind_name(Target::Kind kind) {
  return kind == Target::Kind::kAtMost ? "at_most" : "at_least";
}

std::string_view kind_symbol(Target::Kind kind) {
  return kind == Target::Kind::kAtMost ? "<=" : ">=";
}

// Decimals that keep three or four significant digits without printing noise.
int decimals_for(double value) {
  const double a = std::fabs(value);
  if (a >= 100) return 0;
  if (a >= 10) return 1;
  if (a >= 1) return 2;
  return 3;
}

}  // namespace

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kPass:
      return "PASS";
    case Verdict::kMiss:
      return "MISS";
    case Verdict::kInfo:
      return "INFO";
  }
  return "INFO";
}

std::string format_number(double value, int decimals) {
  if (!std::isfinite(value)) return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals < 0 ? 0 : decimals, value);
  std::string text = buf;
  const std::size_t start = text[0] == '-' ? 1 : 0;
  std::size_t int_end = text.find('.');
  if (int_end == std::string::npos) int_end = text.size();
  // Insert a separator every three digits, walking left from the end of the integer part.
  for (std::size_t pos = int_end; pos > start + 3; pos -= 3) text.insert(pos - 3, ",");
  return text;
}

std::string format_value(double value, std::string_view unit) {
  std::string text = format_number(value, decimals_for(value));
  if (!unit.empty()) {
    text += unit == "%" ? "" : " ";
    text += unit;
  }
  return text;
}

std::string Target::text(std::string_view unit) const {
  // The limit with the decimals it was written with: 0.5, 1.25, 16. A ratio keeps one decimal
  // at least (1.0), so it does not read as a count.
  int decimals = on_ratio ? 1 : 0;
  auto scaled_off = [&](int d) {
    const double scaled = limit * std::pow(10.0, d);
    return std::fabs(scaled - std::round(scaled)) > 1e-9;
  };
  while (decimals < 4 && scaled_off(decimals)) ++decimals;
  std::string t(kind_symbol(kind));
  t += " " + format_number(limit, decimals);
  if (!on_ratio && !unit.empty()) {
    t += unit == "%" ? "" : " ";
    t += unit;
  }
  return t;
}

std::optional<double> Record::ratio() const {
  if (!baseline_value || *baseline_value == 0) return std::nullopt;
  return value / *baseline_value;
}

Verdict Record::verdict() const {
  if (!target) return Verdict::kInfo;
  if (target->on_ratio) {
    const auto r = ratio();
    return r && target->met(*r) ? Verdict::kPass : Verdict::kMiss;
  }
  return target->met(value) ? Verdict::kPass : Verdict::kMiss;
}

std::string Record::line() const {
  std::string l = id + " " + figure + ": " + format_value(value, unit);
  if (!baseline.empty() && baseline_value) {
    l += " | " + baseline + ": " + format_value(*baseline_value, unit);
  }
  if (const auto r = ratio()) l += " | ratio " + format_number(*r, 2);
  if (target) {
    l += target->on_ratio ? " (target " + target->text(unit) + ")"
                          : " | target " + target->text(unit);
  }
  l += " ";
  l += to_string(verdict());
  return l;
}

nlohmann::json Record::to_json() const {
  nlohmann::json j = {{"id", id}, {"figure", figure}, {"unit", unit}, {"value", value}};
  j["baseline"] = baseline.empty() ? nlohmann::json(nullptr) : nlohmann::json(baseline);
  j["baseline_value"] = baseline_value ? nlohmann::json(*baseline_value) : nlohmann::json(nullptr);
  const auto r = ratio();
  j["ratio"] = r ? nlohmann::json(*r) : nlohmann::json(nullptr);
  if (target) {
    j["target"] = {{"kind", kind_name(target->kind)},
                   {"limit", target->limit},
                   {"on", target->on_ratio ? "ratio" : "value"},
                   {"text", target->text(unit)}};
  } else {
    j["target"] = nullptr;
  }
  j["verdict"] = to_string(verdict());
  j["samples"] = nlohmann::json::array();
  for (const SampleSeries& s : samples) {
    nlohmann::json series = {{"label", s.label}, {"file", s.file}, {"unit", s.unit}};
    if (!s.x_unit.empty()) series["x_unit"] = s.x_unit;
    j["samples"].push_back(std::move(series));
  }
  j["details"] = details;
  return j;
}

Result<Record> Record::from_json(const nlohmann::json& j) {
  // nlohmann reports a missing field or a wrong type by throwing; this is the boundary where
  // that becomes an error value naming the field.
  try {
    Record r;
    r.id = j.at("id").get<std::string>();
    r.figure = j.at("figure").get<std::string>();
    r.unit = j.at("unit").get<std::string>();
    r.value = j.at("value").get<double>();
    if (!j.at("baseline").is_null()) r.baseline = j.at("baseline").get<std::string>();
    if (!j.at("baseline_value").is_null()) r.baseline_value = j.at("baseline_value").get<double>();
    if (const nlohmann::json& t = j.at("target"); !t.is_null()) {
      Target target;
      const auto kind = t.at("kind").get<std::string>();
      if (kind != "at_most" && kind != "at_least") {
        return make_error(ErrorCode::kInvalidArgument, "target.kind: unknown \"" + kind + "\"");
      }
      target.kind = kind == "at_most" ? Target::Kind::kAtMost : Target::Kind::kAtLeast;
      target.limit = t.at("limit").get<double>();
      target.on_ratio = t.at("on").get<std::string>() == "ratio";
      r.target = target;
    }
    for (const nlohmann::json& s : j.at("samples")) {
      r.samples.push_back({s.at("label").get<std::string>(), s.at("file").get<std::string>(),
                           s.at("unit").get<std::string>(), s.value("x_unit", std::string())});
    }
    r.details = j.value("details", nlohmann::json::object());
    return r;
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("not a result record: ") + e.what());
  }
}

std::string slug(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      out += c;
    } else if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

Result<Output> Output::open(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return make_error(ErrorCode::kIo,
                      "cannot create the output directory " + dir.string() + ": " + ec.message());
  }
  return Output(std::filesystem::absolute(dir));
}

Result<SampleSeries> Output::write_samples(std::string_view id, std::string_view label,
                                           std::string_view unit,
                                           const std::vector<double>& samples) {
  SampleSeries series{
      std::string(label), slug(id) + "-" + slug(label) + ".txt", std::string(unit), {}};
  std::ofstream f(dir_ / series.file, std::ios::trunc);
  char buf[64];
  for (const double s : samples) {
    std::snprintf(buf, sizeof buf, "%.6g\n", s);
    f << buf;
  }
  f.close();
  if (!f) return make_error(ErrorCode::kIo, "cannot write " + (dir_ / series.file).string());
  return series;
}

Result<SampleSeries> Output::write_curve(std::string_view id, std::string_view label,
                                         std::string_view x_unit, std::string_view unit,
                                         const std::vector<std::pair<double, double>>& points) {
  SampleSeries series{std::string(label), slug(id) + "-" + slug(label) + ".txt", std::string(unit),
                      std::string(x_unit)};
  std::ofstream f(dir_ / series.file, std::ios::trunc);
  char buf[64];
  for (const auto& [x, y] : points) {
    std::snprintf(buf, sizeof buf, "%.6g %.6g\n", x, y);
    f << buf;
  }
  f.close();
  if (!f) return make_error(ErrorCode::kIo, "cannot write " + (dir_ / series.file).string());
  return series;
}

Status Output::add(const Record& record) {
  std::cout << record.line() << std::endl;
  std::ofstream f(dir_ / "results.jsonl", std::ios::app);
  f << record.to_json().dump() << "\n";
  f.close();
  if (!f)
    return make_error(ErrorCode::kIo, "cannot append to " + (dir_ / "results.jsonl").string());
  return ok_status();
}

Result<ScratchDir> ScratchDir::create(const std::filesystem::path& parent,
                                      std::string_view prefix) {
  std::string pattern = (parent / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return make_error(ErrorCode::kIo, "cannot create a scratch directory in " + parent.string() +
                                          ": " + std::generic_category().message(errno));
  }
  return ScratchDir(pattern);
}

ScratchDir::ScratchDir(ScratchDir&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

ScratchDir& ScratchDir::operator=(ScratchDir&& other) noexcept {
  if (this != &other) {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

ScratchDir::~ScratchDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace reclothes::bench
