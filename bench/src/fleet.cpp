#include "reclothes/bench/fleet.h"

#include <httplib.h>

#include <csignal>
#include <cstdlib>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>
#include <utility>

#include "reclothes/bench/proc.h"
#include "reclothes/bench/stats.h"

namespace reclothes::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

}  // namespace

Result<std::string> http_get(int port, const std::string& path) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(seconds(2));
  cli.set_read_timeout(seconds(10));
  auto res = cli.Get(path.c_str());
  if (!res) {
    return make_error(ErrorCode::kUnavailable, "GET " + path + " on port " + std::to_string(port) +
                                                   ": " + httplib::to_string(res.error()));
  }
  if (res->status != 200) {
    return make_error(ErrorCode::kUnavailable,
                      "GET " + path + ": HTTP " + std::to_string(res->status));
  }
  return res->body;
}

double metric_sum(const std::string& text, const std::string& name, const std::string& label) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;  // another metric with this prefix
    if (!label.empty() && line.find(label) == std::string::npos) continue;
    const std::size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    sum += std::strtod(line.c_str() + space + 1, nullptr);
  }
  return sum;
}

Result<std::int64_t> scalar(const std::string& conninfo, const std::string& sql) {
  try {
    pqxx::connection conn(conninfo);
    pqxx::nontransaction tx(conn);
    const auto r = tx.exec(sql);
    return r[0][0].is_null() ? 0 : r[0][0].as<std::int64_t>();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kUnavailable, sql + ": " + e.what());
  }
}

std::int64_t wait_for_value(const std::string& conninfo, const std::string& sql, std::int64_t want,
                            milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::int64_t last = -1;
  while (SteadyClock::now() < deadline) {
    last = scalar(conninfo, sql).value_or(-1);
    if (last == want) break;
    std::this_thread::sleep_for(milliseconds(250));
  }
  return last;
}

Status register_boxes(const std::string& conninfo, const std::vector<FleetSpec>& fleets,
                      int compartments) {
  try {
    pqxx::connection conn(conninfo);
    pqxx::work tx(conn);
    for (const FleetSpec& f : fleets) {
      tx.exec_params(
          "INSERT INTO boxes (id, created_at, config_revision) SELECT $1 || lpad(i::text, 5, '0'), "
          "now(), 1 FROM generate_series(1, $2) AS i",
          f.prefix, f.boxes);
      tx.exec_params(
          "INSERT INTO compartments (box_id, number, size_class) SELECT b.id, c, (ARRAY['S', 'M', "
          "'L', 'XL'])[(c - 1) % 4 + 1] FROM boxes b, generate_series(1, $2) AS c WHERE b.id LIKE "
          "$1 || '%'",
          f.prefix, compartments);
    }
    tx.commit();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kUnavailable, std::string("registering boxes: ") + e.what());
  }
  return ok_status();
}

Status spawn_fleet(FleetProcess& f, const std::string& broker_uri, const FleetSettings& s) {
  RC_ASSIGN_OR_RETURN(f.http_port, testsupport::free_tcp_port());
  std::ostringstream epm;
  epm << f.events_per_minute;
  std::ostringstream hz;
  hz << s.step_hz;
  testsupport::SpawnOptions spawn;
  spawn.log_path = f.log;
  const std::vector<std::pair<std::string, std::string>> args = {
      {"--boxes", std::to_string(f.spec.boxes)},
      {"--broker", broker_uri},
      {"--box-prefix", f.spec.prefix},
      {"--compartments", std::to_string(s.compartments)},
      {"--events-per-minute", epm.str()},
      {"--state-interval", std::to_string(s.state_interval_s)},
      {"--step-hz", hz.str()},
      {"--key-id", std::to_string(s.key_id)},
      {"--connect-rate", std::to_string(s.connect_rate)},
      {"--duration", "0"},
      {"--progress", "10"},
      {"--http", "127.0.0.1:" + std::to_string(f.http_port)},
      {"--json-out", f.json_out.string()},
      {"--log-level", "warn"}};
  std::vector<std::string> argv = {s.sim, "fleet", "--no-fsync"};
  for (const auto& [name, value] : args) {
    argv.push_back(name);
    argv.push_back(value);
  }
  RC_ASSIGN_OR_RETURN(f.process, testsupport::Process::spawn(std::move(argv), spawn));
  return ok_status();
}

Result<nlohmann::json> fleet_summary(const FleetProcess& f) {
  RC_ASSIGN_OR_RETURN(const std::string body, http_get(f.http_port, "/api/fleet"));
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(ErrorCode::kDataLoss, "/api/fleet of " + f.spec.prefix + ": not JSON");
  }
  return j;
}

std::uint64_t u64(const nlohmann::json& j, const nlohmann::json::json_pointer& at) {
  return j.contains(at) && j.at(at).is_number() ? j.at(at).get<std::uint64_t>() : 0;
}

Result<nlohmann::json> wait_fleet_up(FleetProcess& f, milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  nlohmann::json last;
  while (SteadyClock::now() < deadline) {
    if (!f.process->running()) {
      return make_error(ErrorCode::kUnavailable,
                        "reclothes-sim fleet " + f.spec.prefix + " exited:\n" + tail(f.log));
    }
    auto j = fleet_summary(f);
    if (j.ok()) {
      last = *j;
      const auto boxes = static_cast<std::uint64_t>(f.spec.boxes);
      const std::uint64_t failed = u64(last, "/boxes_failed"_json_pointer);
      if (u64(last, "/boxes_running"_json_pointer) + failed >= boxes &&
          u64(last, "/connected"_json_pointer) + failed >= boxes) {
        return last;
      }
    }
    std::this_thread::sleep_for(milliseconds(250));
  }
  return last;  // not all up: the figures will say how many
}

bool stop_fleet(FleetProcess& f, milliseconds grace) {
  auto status = f.process->stop(grace, SIGINT);
  auto text = read_text(f.json_out);
  if (text.ok()) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_discarded()) f.final = std::move(j);
  }
  return status.ok() && *status == 0;
}

}  // namespace reclothes::bench
