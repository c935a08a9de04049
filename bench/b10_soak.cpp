// B10: a soak. The real `reclothes-controller serve` (production defaults: 8 public listener
// threads, 8 pooled connections, log level info) on a durable PostgreSQL 15 and a Mosquitto, with
// a fleet of simulated boxes running against it the whole time (`reclothes-sim fleet`: 900 boxes
// that only report their state, 100 that also play courier visits, as B7 runs them), and REST
// traffic from wrk on one request mix: per connection a cycle of 3 GET /v1/products/{id}, a POST
// /v1/cart/items, 3 GETs and the DELETE of that cart item (a customer session per connection).
//
// 1. The maximum: wrk closed loop on that mix, the fleet running (20 s).
// 2. The soak: the same mix paced at 80 % of that maximum (each connection keeps to its share of a
//    fixed schedule, so the offered rate does not follow the latency), a warm-up of 60 s and then
//    10 minutes. Every response is checked: its status, and for a product its id in the body.
//    The controller's RSS (VmRSS and RssAnon of /proc/PID/status) is sampled every 5 s.
//
// Figures: errors (wrk's connect, read, write, timeout and non-2xx, responses that failed the
// check, boxes that failed, firmware step errors, failed visits, events the controller rejected, a
// controller or fleet that died; target 0); the rate held beside the maximum (ratio about 0.8);
// the controller's RSS growth over the soak's second half, fitted by least squares, beside its RSS
// right after the warm-up (target: the growth under 5 % of it), and the first half's growth for
// comparison; the RSS curve as a plot.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/bench/fleet.h"
#include "reclothes/bench/main.h"
#include "reclothes/bench/proc.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/servers.h"
#include "reclothes/bench/stats.h"

namespace reclothes::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testsupport::Process;
using testsupport::SpawnOptions;

constexpr const char* kPassword = "bench password 1";
constexpr const char* kIdPrefix = "b10p";  // box ids b10p01-00001 ...
constexpr double kRssGrowthLimit = 0.05;   // of the RSS after the warm-up, over the second half

struct B10Options {
  int soak_seconds = 0;    // 0: 600 (quick: 6)
  int warmup_seconds = 0;  // 0: 60 (quick: 2)
  int max_seconds = 0;     // 0: 20 (quick: 3)
  int sample_seconds = 0;  // 0: 5 (quick: 1)
  double load = 0.8;       // of the measured maximum
  int connections = 32;    // wrk connections, one thread each (a customer session each)
  int products = 1000;
  int boxes = -1;           // boxes that only report their state; <0: 900 (quick: 20)
  int visiting_boxes = -1;  // boxes that also play visits; <0: 100 (quick: 10)
  double events_per_minute = 2;
  int state_interval_s = 0;  // 0: 60, the firmware's default (quick: 5)
  int per_process = 1000;    // boxes per reclothes-sim process
  bool durable = true;
  ControllerChoice controller{RECLOTHES_CONTROLLER_BIN, "info"};
  std::string sim = RECLOTHES_SIM_BIN;
  std::string wrk = "wrk";
};

Status settle(B10Options& o, bool quick) {
  if (o.soak_seconds <= 0) o.soak_seconds = quick ? 6 : 600;
  if (o.warmup_seconds <= 0) o.warmup_seconds = quick ? 2 : 60;
  if (o.max_seconds <= 0) o.max_seconds = quick ? 3 : 20;
  if (o.sample_seconds <= 0) o.sample_seconds = quick ? 1 : 5;
  if (o.boxes < 0) o.boxes = quick ? 20 : 900;
  if (o.visiting_boxes < 0) o.visiting_boxes = quick ? 10 : 100;
  if (o.state_interval_s <= 0) o.state_interval_s = quick ? 5 : 60;
  if (o.connections < 1 || o.products < 1 || o.per_process < 1) {
    return make_error(ErrorCode::kInvalidArgument, "counts must be at least 1");
  }
  if (o.load <= 0 || o.load > 1) {
    return make_error(ErrorCode::kInvalidArgument, "--load is a fraction in (0, 1]");
  }
  (void)raise_open_file_limit();
  return ok_status();
}

// ---- the catalogue and the customers -----------------------------------------------------------

struct Catalogue {
  std::int64_t first_product = 0;
  std::int64_t last_product = 0;
  std::vector<std::string> tokens;  // one customer session per connection
};

Result<std::string> post_json(httplib::Client& cli, const std::string& path,
                              const nlohmann::json& body, int want) {
  auto res = cli.Post(path, body.dump(), "application/json");
  if (!res || res->status != want) {
    return make_error(ErrorCode::kInternal, "POST " + path + ": " +
                                                (res ? std::to_string(res->status) + " " + res->body
                                                     : httplib::to_string(res.error())));
  }
  return res->body;
}

// Listed products straight into the table (priced, available), then customers through the API
// (register, log in), as the app would.
Result<Catalogue> populate(const std::string& conninfo, int public_port, const B10Options& o) {
  Catalogue cat;
  try {
    pqxx::connection conn(conninfo);
    pqxx::work tx(conn);
    const auto r = tx.exec_params1(
        "WITH p AS (INSERT INTO products (title, description, category, size, condition, "
        "price_cents, created_at, updated_at) SELECT 'Wool jacket ' || g, 'Lightly worn, "
        "no stains', 'jackets', 'M', 'good', 1000 + g, now(), now() FROM generate_series(1, $1) g "
        "RETURNING id) SELECT min(id), max(id) FROM p",
        o.products);
    cat.first_product = r[0].as<std::int64_t>();
    cat.last_product = r[1].as<std::int64_t>();
    tx.commit();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kUnavailable, std::string("adding products: ") + e.what());
  }
  httplib::Client cli("127.0.0.1", public_port);
  cli.set_read_timeout(seconds(10));
  for (int i = 0; i < o.connections; ++i) {
    const nlohmann::json creds = {{"email", "b10-customer-" + std::to_string(i) + "@example.org"},
                                  {"password", kPassword}};
    RC_TRY(post_json(cli, "/v1/customers", creds, 201));
    RC_ASSIGN_OR_RETURN(const std::string login, post_json(cli, "/v1/sessions", creds, 201));
    cat.tokens.push_back(
        nlohmann::json::parse(login, nullptr, false).value("token", std::string()));
  }
  return cat;
}

// ---- the request mix (wrk, LuaJIT) -------------------------------------------------------------

// One connection per wrk thread (-t C -c C), so a thread's state is its connection's: the cycle
// below, the product of the request in flight, and the pacing schedule. `period_ms` 0 is a closed
// loop; otherwise each connection takes the next slot of a schedule of one request every
// period_ms (absolute, so a late answer does not lower the offered rate; LuaJIT's FFI reads the
// monotonic clock). wrk calls request() once more than it sends (to check it), so request() only
// reads the state; response() checks the answer and moves on. done() writes wrk's summary and
// latency histogram and the checks' counts as JSON to $B10_WRK_RESULT.
std::string mix_script(const Catalogue& cat, double period_ms) {
  std::ostringstream s;
  s << "-- B10: GET /v1/products/{id} x3, POST /v1/cart/items, GET x3, DELETE that cart item.\n"
    << "local ffi = require('ffi')\n"
    << "ffi.cdef[[\n"
    << "typedef struct { long tv_sec; long tv_nsec; } b10_timespec;\n"
    << "int clock_gettime(int clock, b10_timespec* ts);\n"
    << "]]\n"
    << "local ts = ffi.new('b10_timespec')\n"
    << "local function now_ms()\n"
    << "  ffi.C.clock_gettime(1, ts)\n"
    << "  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6\n"
    << "end\n"
    << "local first, last = " << cat.first_product << ", " << cat.last_product << "\n"
    << "local period = " << period_ms << "\n"
    << "local tokens = {";
  for (std::size_t i = 0; i < cat.tokens.size(); ++i) {
    s << (i ? ", " : "") << "'" << cat.tokens[i] << "'";
  }
  s << "}\n"
    << "local cycle = {'get', 'get', 'get', 'post', 'get', 'get', 'get', 'delete'}\n"
    << "local threads = {}\n"
    << "local n = 0\n"
    << "function setup(thread)\n"
    << "  n = n + 1\n"
    << "  thread:set('token', tokens[(n - 1) % #tokens + 1])\n"
    << "  thread:set('seed', n)\n"
    << "  table.insert(threads, thread)\n"
    << "end\n"
    << "local step, product, in_cart = 0, first, first\n"
    << "checked, bad, first_bad = 0, 0, ''\n"
    << "local next_slot = nil\n"
    << "function init(args)\n"
    << "  math.randomseed((seed or 1) * 7919)\n"
    << "  product = math.random(first, last)\n"
    << "end\n"
    << "function request()\n"
    << "  local kind = cycle[step % #cycle + 1]\n"
    << "  local auth = 'Bearer ' .. (token or tokens[1])\n"
    << "  if kind == 'get' then\n"
    << "    return wrk.format('GET', '/v1/products/' .. product)\n"
    << "  elseif kind == 'post' then\n"
    << "    return wrk.format('POST', '/v1/cart/items', {['Authorization'] = auth,\n"
    << "      ['Content-Type'] = 'application/json'}, '{\"product_id\":' .. product .. '}')\n"
    << "  end\n"
    << "  return wrk.format('DELETE', '/v1/cart/items/' .. in_cart, {['Authorization'] = auth})\n"
    << "end\n"
    << "function response(status, headers, body)\n"
    << "  local kind = cycle[step % #cycle + 1]\n"
    << "  local ok\n"
    << "  if kind == 'get' then\n"
    << "    local i, j = body:find('\"id\":' .. product, 1, true)\n"
    << "    ok = status == 200 and i ~= nil and not body:sub(j + 1, j + 1):match('%d')\n"
    << "  else\n"
    << "    ok = status >= 200 and status < 300\n"
    << "  end\n"
    << "  checked = checked + 1\n"
    << "  if not ok then\n"
    << "    bad = bad + 1\n"
    << "    if first_bad == '' then\n"
    << "      first_bad = kind .. ' ' .. product .. ': ' .. status .. ' ' .. string.sub(body, 1, "
       "200)\n"
    << "    end\n"
    << "  end\n"
    << "  if kind == 'post' then in_cart = product end\n"
    << "  step = step + 1\n"
    << "  product = math.random(first, last)\n"
    << "end\n"
    << "function delay()\n"
    << "  if period <= 0 then return 0 end\n"
    << "  local t = now_ms()\n"
    << "  if next_slot == nil then next_slot = t + math.random() * period end\n"
    << "  next_slot = next_slot + period\n"
    << "  local d = next_slot - t\n"
    << "  if d < 1 then return 0 end\n"
    << "  return math.floor(d)\n"
    << "end\n"
    << R"(function done(summary, latency, requests)
  local c, b, fb = 0, 0, ''
  for _, t in ipairs(threads) do
    c = c + (t:get('checked') or 0)
    b = b + (t:get('bad') or 0)
    local f = t:get('first_bad') or ''
    if fb == '' then fb = f end
  end
  fb = string.gsub(fb, '%c', ' ')
  fb = string.gsub(fb, '[\\"]', "'")
  local f = assert(io.open(os.getenv("B10_WRK_RESULT"), "w"))
  local e = summary.errors
  f:write(string.format('{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"checked":%d,"bad":%d,' ..
    '"first_bad":"%s"}\n', summary.requests, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max, c, b, fb))
  f:close()
end
)";
  return s.str();
}

struct WrkRun {
  std::uint64_t requests = 0;
  double seconds = 0;
  std::uint64_t connect = 0, read = 0, write = 0, status = 0, timeout = 0;
  std::uint64_t checked = 0;  // responses checked by the script
  std::uint64_t bad = 0;      // of those, wrong status or body
  std::string first_bad;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  std::uint64_t errors() const { return connect + read + write + status + timeout + bad; }
  double rate() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
  nlohmann::json to_json() const {
    return {{"requests", requests}, {"seconds", seconds},     {"req_s", rate()},
            {"connect", connect},   {"read", read},           {"write", write},
            {"status", status},     {"timeout", timeout},     {"checked", checked},
            {"bad", bad},           {"first_bad", first_bad}, {"p50_ms", p50_ms},
            {"p99_ms", p99_ms},     {"max_ms", max_ms}};
  }
};

Result<WrkRun> parse_wrk(const fs::path& result) {
  RC_ASSIGN_OR_RETURN(const std::string text, read_text(result));
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(ErrorCode::kInternal, "wrk's result is not JSON: " + result.string());
  }
  WrkRun r;
  try {
    r.requests = j.at("requests").get<std::uint64_t>();
    r.seconds = j.at("duration_us").get<double>() / 1e6;
    r.connect = j.at("connect").get<std::uint64_t>();
    r.read = j.at("read").get<std::uint64_t>();
    r.write = j.at("write").get<std::uint64_t>();
    r.status = j.at("status").get<std::uint64_t>();
    r.timeout = j.at("timeout").get<std::uint64_t>();
    r.checked = j.at("checked").get<std::uint64_t>();
    r.bad = j.at("bad").get<std::uint64_t>();
    r.first_bad = j.at("first_bad").get<std::string>();
    r.p50_ms = j.at("p50_us").get<double>() / 1000;
    r.p99_ms = j.at("p99_us").get<double>() / 1000;
    r.max_ms = j.at("max_us").get<double>() / 1000;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, std::string("wrk's result: ") + e.what());
  }
  return r;
}

// wrk on the mix for `secs`; `every` is called every `every_s` seconds while it runs (with the
// seconds since wrk started) and may stop the run by returning an error.
Result<WrkRun> run_wrk(const B10Options& o, const fs::path& script, int port, int secs,
                       const fs::path& work, const std::string& tag, double every_s,
                       const std::function<Status(double)>& every) {
  const fs::path result = work / ("wrk-" + tag + ".json");
  const fs::path log = work / ("wrk-" + tag + ".log");
  SpawnOptions so;
  so.env["B10_WRK_RESULT"] = result.string();
  so.log_path = log;
  const std::string c = std::to_string(o.connections);
  RC_ASSIGN_OR_RETURN(
      auto p,
      Process::spawn({o.wrk, "-t", c, "-c", c, "-d", std::to_string(secs) + "s", "--timeout", "2s",
                      "-s", script.string(), "http://127.0.0.1:" + std::to_string(port)},
                     so));
  const auto start = SteadyClock::now();
  const auto deadline = start + seconds(secs + 60);
  double next = 0;
  while (p->running()) {
    const auto now = SteadyClock::now();
    if (now > deadline) {
      (void)p->kill();
      return make_error(ErrorCode::kDeadlineExceeded, "wrk did not finish:\n" + tail(log));
    }
    const double t = std::chrono::duration<double>(now - start).count();
    if (t >= next) {
      if (auto s = every(t); !s.ok()) {
        (void)p->kill();
        return std::move(s).error();
      }
      next += every_s;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  const int status = p->exit_status().value_or(-1);
  if (status != 0) {
    return make_error(ErrorCode::kInternal,
                      "wrk exited with " + std::to_string(status) + ":\n" + tail(log));
  }
  return parse_wrk(result);
}

// ---- the servers and the fleet -----------------------------------------------------------------

Result<std::unique_ptr<ControllerStack>> start_servers(const fs::path& dir, const B10Options& o) {
  std::cout << "B10: starting PostgreSQL (" << (o.durable ? "durable" : "fsync off")
            << "), Mosquitto and " << o.controller.binary << " ..." << std::endl;
  ControllerStackOptions servers;
  servers.controller = o.controller;
  servers.client_id = "bench-b10-controller";
  servers.durable_postgres = o.durable;
  RC_ASSIGN_OR_RETURN(auto stack, ControllerStack::start(dir, servers));
  RC_TRY(stack->migrate());
  RC_TRY(stack->serve());
  return stack;
}

// The fleet processes: the visiting boxes first, then the others, at most per_process each.
std::vector<FleetProcess> plan_fleets(const B10Options& o, const fs::path& dir) {
  std::vector<FleetProcess> fleets;
  const auto add = [&](int boxes, double epm) {
    while (boxes > 0) {
      const int n = std::min(boxes, o.per_process);
      FleetProcess f;
      char prefix[32];
      std::snprintf(prefix, sizeof prefix, "%s%02zu-", kIdPrefix, fleets.size() + 1);
      f.spec = {prefix, n};
      f.events_per_minute = epm;
      f.log = dir / ("fleet-" + std::to_string(fleets.size() + 1) + ".log");
      f.json_out = dir / ("fleet-" + std::to_string(fleets.size() + 1) + ".json");
      fleets.push_back(std::move(f));
      boxes -= n;
    }
  };
  add(o.visiting_boxes, o.events_per_minute);
  add(o.boxes, 0);
  return fleets;
}

std::string online_sql() {
  return std::string("SELECT count(*) FROM boxes WHERE online AND id LIKE '") + kIdPrefix + "%'";
}
std::string applied_sql() {
  return std::string("SELECT COALESCE(sum(last_applied_seq), 0) FROM boxes WHERE id LIKE '") +
         kIdPrefix + "%'";
}

// Registers the boxes, starts every fleet and waits until the controller has them all online.
Status start_fleets(std::vector<FleetProcess>& fleets, ControllerStack& stack,
                    const B10Options& o) {
  std::vector<FleetSpec> specs;
  int total = 0;
  for (const FleetProcess& f : fleets) {
    specs.push_back(f.spec);
    total += f.spec.boxes;
  }
  if (total == 0) return ok_status();
  FleetSettings settings;
  settings.sim = o.sim;
  settings.state_interval_s = o.state_interval_s;
  RC_TRY(register_boxes(stack.conninfo(), specs, settings.compartments));
  std::cout << "B10: " << total << " boxes registered; starting " << fleets.size()
            << " fleet process(es) ..." << std::endl;
  for (FleetProcess& f : fleets) {
    RC_TRY(spawn_fleet(f, stack.broker().uri(), settings));
    RC_TRY(wait_fleet_up(f, seconds(120)));
  }
  const std::int64_t online =
      wait_for_value(stack.conninfo(), online_sql(), total, milliseconds(120000));
  if (online != total) {
    return make_error(ErrorCode::kDeadlineExceeded, "the controller has " + std::to_string(online) +
                                                        " of " + std::to_string(total) +
                                                        " boxes online after 2 minutes");
  }
  std::cout << "B10: the controller has all " << total << " boxes online" << std::endl;
  return ok_status();
}

// ---- the controller's memory -------------------------------------------------------------------

struct RssSample {
  double t_s = 0;       // since the soak's wrk started
  double rss_kib = 0;   // VmRSS
  double anon_kib = 0;  // RssAnon: the heap and stacks, without mapped files
};

// Least-squares slope of rss over t for the samples with from <= t <= to, times (to - from): the
// growth over that span, robust to one noisy sample. 0 with fewer than two samples.
double fitted_growth(const std::vector<RssSample>& s, double from, double to,
                     double RssSample::*field) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const RssSample& x : s) {
    if (x.t_s < from || x.t_s > to) continue;
    n += 1;
    sx += x.t_s;
    sy += x.*field;
    sxx += x.t_s * x.t_s;
    sxy += x.t_s * (x.*field);
  }
  const double d = n * sxx - sx * sx;
  if (n < 2 || d <= 0) return 0;
  return (n * sxy - sx * sy) / d * (to - from);
}

// The first sample at or after t.
RssSample sample_at(const std::vector<RssSample>& s, double t) {
  for (const RssSample& x : s) {
    if (x.t_s >= t) return x;
  }
  return s.empty() ? RssSample{} : s.back();
}

// ---- the run -----------------------------------------------------------------------------------

struct FleetErrors {
  std::uint64_t failed = 0, steps = 0, visits_failed = 0, visits = 0, journaled = 0;
  std::uint64_t acked = 0;
  int bad_exits = 0;
  double rejected = 0;
  std::uint64_t total() const {
    return failed + steps + visits_failed + static_cast<std::uint64_t>(bad_exits) +
           static_cast<std::uint64_t>(rejected);
  }
};

FleetErrors stop_and_tally(std::vector<FleetProcess>& fleets) {
  FleetErrors e;
  for (FleetProcess& f : fleets) {
    f.live = fleet_summary(f).value_or(nlohmann::json::object());
    if (f.process->running()) (void)f.process->send_signal(SIGINT);
  }
  for (FleetProcess& f : fleets) {
    if (!stop_fleet(f, seconds(60)) || !f.final.is_object()) ++e.bad_exits;
    const nlohmann::json& j = f.final.is_object() ? f.final : f.live;
    e.failed += u64(j, "/boxes_failed"_json_pointer);
    e.steps += u64(j, "/errors"_json_pointer);
    e.visits += u64(j, "/visits/completed"_json_pointer);
    e.visits_failed += u64(j, "/visits/failed"_json_pointer);
    e.journaled += u64(j, "/events/journaled"_json_pointer);
    e.acked += u64(j, "/events/acked"_json_pointer);
  }
  return e;
}

struct Soak {
  WrkRun max;
  WrkRun soak;
  double target_rate = 0;
  std::vector<RssSample> rss;
  double controller_cpu_percent = 0;
  double busy = 0;  // the machine's busy fraction during the soak
  std::int64_t applied_before = 0, applied_after = 0;
  bool controller_died = false;
  FleetErrors fleet;
  std::string metrics_before;
  std::string metrics_after;
};

Status run_soak(Soak& s, const B10Options& o, ControllerStack& stack, const fs::path& script,
                const fs::path& dir, std::vector<FleetProcess>& fleets) {
  const pid_t cpid = stack.controller().pid();
  const int secs = o.warmup_seconds + o.soak_seconds;
  std::cout << "B10: soak at " << format_number(s.target_rate, 0) << " req/s ("
            << format_number(100 * o.load, 0) << " % of the maximum) for " << o.warmup_seconds
            << " s of warm-up and " << o.soak_seconds << " s, RSS every " << o.sample_seconds
            << " s ..." << std::endl;
  s.applied_before = scalar(stack.conninfo(), applied_sql()).value_or(0);
  const double cpu0 = cpu_seconds(cpid);
  const auto busy0 = machine_jiffies();
  double next_print = 0;
  auto sampler = [&](double t) -> Status {
    if (!stack.controller().running()) {
      s.controller_died = true;
      return make_error(ErrorCode::kUnavailable,
                        "the controller exited during the soak:\n" + tail(stack.log()));
    }
    for (FleetProcess& f : fleets) {
      if (!f.process->running()) {
        return make_error(ErrorCode::kUnavailable, "reclothes-sim fleet " + f.spec.prefix +
                                                       " exited during the soak:\n" + tail(f.log));
      }
    }
    RssSample x{t, status_field(cpid, "VmRSS"), status_field(cpid, "RssAnon")};
    s.rss.push_back(x);
    if (t >= next_print) {
      std::cout << "  " << format_number(t, 0) << " s: controller RSS "
                << format_number(x.rss_kib / 1024, 1) << " MiB (anon "
                << format_number(x.anon_kib / 1024, 1) << " MiB)" << std::endl;
      next_print += o.soak_seconds >= 300 ? 60 : o.sample_seconds;
    }
    return ok_status();
  };
  RC_ASSIGN_OR_RETURN(s.soak, run_wrk(o, script, stack.public_port(), secs, dir, "soak",
                                      o.sample_seconds, sampler));
  s.busy = busy_between(busy0, machine_jiffies());
  s.controller_cpu_percent = 100 * (cpu_seconds(cpid) - cpu0) / std::max(s.soak.seconds, 1e-9);
  RC_TRY(sampler(s.soak.seconds));  // the last sample, at the end
  s.applied_after = scalar(stack.conninfo(), applied_sql()).value_or(0);
  return ok_status();
}

Status add_records(Output& out, const Soak& s, const B10Options& o, bool quick) {
  const double w = o.warmup_seconds;
  const double end = w + o.soak_seconds;
  const double mid = w + o.soak_seconds / 2.0;
  const RssSample base = sample_at(s.rss, w);
  const double first = fitted_growth(s.rss, w, mid, &RssSample::rss_kib);
  const double second = fitted_growth(s.rss, mid, end, &RssSample::rss_kib);
  const double first_anon = fitted_growth(s.rss, w, mid, &RssSample::anon_kib);
  const double second_anon = fitted_growth(s.rss, mid, end, &RssSample::anon_kib);
  const double rejected = metric_sum(s.metrics_after, "reclothes_box_events_rejected_total") -
                          metric_sum(s.metrics_before, "reclothes_box_events_rejected_total");
  const std::uint64_t errors = s.soak.errors() + s.fleet.total() + (s.controller_died ? 1 : 0);
  const std::string minutes = format_number(o.soak_seconds / 60.0, o.soak_seconds % 60 ? 1 : 0);
  const nlohmann::json common = {{"quick", quick},
                                 {"soak_s", o.soak_seconds},
                                 {"warmup_s", o.warmup_seconds},
                                 {"sample_s", o.sample_seconds},
                                 {"load", o.load},
                                 {"connections", o.connections},
                                 {"boxes", o.boxes + o.visiting_boxes},
                                 {"visiting_boxes", o.visiting_boxes},
                                 {"controller_log_level", o.controller.log_level},
                                 {"durable_postgres", o.durable},
                                 {"machine_busy_percent", 100 * s.busy},
                                 {"load_average_end", read_text("/proc/loadavg").value_or("")}};

  Record e;
  e.id = "B10";
  e.figure = "soak " + minutes + " min at " + format_number(100 * o.load, 0) +
             " % of the max REST rate, fleet running: errors";
  e.unit = "errors";
  e.value = static_cast<double>(errors);
  e.target = Target::value_at_most(0);
  e.details = common;
  e.details["wrk"] = s.soak.to_json();
  e.details["fleet"] = {
      {"boxes_failed", s.fleet.failed},        {"step_errors", s.fleet.steps},
      {"visits_completed", s.fleet.visits},    {"visits_failed", s.fleet.visits_failed},
      {"events_journaled", s.fleet.journaled}, {"events_acked", s.fleet.acked},
      {"bad_exits", s.fleet.bad_exits},        {"events_rejected", rejected}};
  e.details["events_applied_during_soak"] = s.applied_after - s.applied_before;
  e.details["controller_died"] = s.controller_died;
  RC_TRY(out.add(e));

  Record r;
  r.id = "B10";
  r.figure = "soak: REST req/s held (asked " + format_number(100 * o.load, 0) + " % of the max)";
  r.unit = "req/s";
  r.value = s.soak.rate();
  r.baseline = "max REST req/s, same mix and connections, fleet running, closed loop";
  r.baseline_value = s.max.rate();
  r.target = Target::ratio_at_least(0.95 * o.load);
  r.details = common;
  r.details["max"] = s.max.to_json();
  r.details["target_req_s"] = s.target_rate;
  r.details["soak_p50_ms"] = s.soak.p50_ms;
  r.details["soak_p99_ms"] = s.soak.p99_ms;
  r.details["controller_cpu_percent"] = s.controller_cpu_percent;
  RC_TRY(out.add(r));

  std::vector<std::pair<double, double>> rss_points;
  std::vector<std::pair<double, double>> anon_points;
  for (const RssSample& x : s.rss) {
    rss_points.emplace_back(x.t_s, x.rss_kib / 1024);
    anon_points.emplace_back(x.t_s, x.anon_kib / 1024);
  }
  RC_ASSIGN_OR_RETURN(
      SampleSeries rss_curve,
      out.write_curve("B10", "controller VmRSS", "s since the load began", "MiB", rss_points));
  RC_ASSIGN_OR_RETURN(
      SampleSeries anon_curve,
      out.write_curve("B10", "controller RssAnon", "s since the load began", "MiB", anon_points));
  Record g;
  g.id = "B10";
  g.figure = "soak: controller RSS growth over the second half";
  g.unit = "MiB";
  g.value = second / 1024;
  g.baseline = "controller RSS right after the warm-up";
  g.baseline_value = base.rss_kib / 1024;
  g.target = Target::ratio_at_most(kRssGrowthLimit);
  g.samples = {rss_curve, anon_curve};
  g.details = common;
  g.details["growth_first_half_mib"] = first / 1024;
  g.details["growth_second_half_mib"] = second / 1024;
  g.details["anon_growth_first_half_mib"] = first_anon / 1024;
  g.details["anon_growth_second_half_mib"] = second_anon / 1024;
  g.details["rss_after_warmup_mib"] = base.rss_kib / 1024;
  g.details["rss_end_mib"] = s.rss.empty() ? 0 : s.rss.back().rss_kib / 1024;
  g.details["rss_max_mib"] = s.rss.empty() ? 0
                                           : std::max_element(
                                                 s.rss.begin(), s.rss.end(),
                                                 [](const auto& a, const auto& b) {
                                                   return a.rss_kib < b.rss_kib;
                                                 })->rss_kib /
                                                 1024;
  RC_TRY(out.add(g));

  Record f = g;
  f.figure = "soak: controller RSS growth over the first half";
  f.value = first / 1024;
  f.target.reset();
  f.samples.clear();
  return out.add(f);
}

Status run(Output& out, const CommonOptions& options, B10Options o) {
  RC_TRY(settle(o, options.quick));
  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b10-work-"));
  const fs::path dir = scratch.path();
  RC_ASSIGN_OR_RETURN(auto stack, start_servers(dir, o));
  RC_ASSIGN_OR_RETURN(const Catalogue cat, populate(stack->conninfo(), stack->public_port(), o));
  std::vector<FleetProcess> fleets = plan_fleets(o, dir);
  RC_TRY(start_fleets(fleets, *stack, o));
  Soak s;
  RC_ASSIGN_OR_RETURN(s.metrics_before, http_get(stack->internal_port(), "/metrics"));

  const fs::path closed = out.dir() / "b10-mix.lua";
  RC_TRY(write_text(closed, mix_script(cat, 0)));
  const auto no_sampling = [](double) { return ok_status(); };
  std::cout << "B10: the maximum: closed loop on the mix, " << o.connections << " connections, "
            << o.max_seconds << " s ..." << std::endl;
  RC_ASSIGN_OR_RETURN(
      s.max, run_wrk(o, closed, stack->public_port(), o.max_seconds, dir, "max", 1, no_sampling));
  std::cout << "  " << format_number(s.max.rate(), 0) << " req/s (p99 "
            << format_number(s.max.p99_ms, 2) << " ms), " << s.max.errors() << " errors"
            << std::endl;
  if (s.max.rate() <= 0) return make_error(ErrorCode::kInternal, "the maximum rate is 0");

  s.target_rate = o.load * s.max.rate();
  const double period_ms = 1000.0 * o.connections / s.target_rate;
  const fs::path paced = out.dir() / "b10-mix-paced.lua";
  RC_TRY(write_text(paced, mix_script(cat, period_ms)));
  RC_TRY(run_soak(s, o, *stack, paced, dir, fleets));
  RC_ASSIGN_OR_RETURN(s.metrics_after, http_get(stack->internal_port(), "/metrics"));
  std::cout << "  " << format_number(s.soak.rate(), 0) << " req/s (p50 "
            << format_number(s.soak.p50_ms, 2) << " ms, p99 " << format_number(s.soak.p99_ms, 2)
            << " ms), " << s.soak.checked << " responses checked, " << s.soak.bad << " bad"
            << (s.soak.first_bad.empty() ? "" : " (first: " + s.soak.first_bad + ")") << std::endl;
  s.fleet = stop_and_tally(fleets);
  s.fleet.rejected = metric_sum(s.metrics_after, "reclothes_box_events_rejected_total") -
                     metric_sum(s.metrics_before, "reclothes_box_events_rejected_total");
  return add_records(out, s, o, options.quick);
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{
      "B10: soak at 80 % of the measured max REST rate with a fleet running: errors and "
      "the controller's RSS over time",
      "bench_b10_soak"};
  reclothes::bench::B10Options b10;
  app.add_option("--soak-seconds", b10.soak_seconds, "the soak after the warm-up (0: 600)");
  app.add_option("--warmup-seconds", b10.warmup_seconds, "warm-up at the soak's rate (0: 60)");
  app.add_option("--max-seconds", b10.max_seconds, "the closed-loop maximum's run (0: 20)");
  app.add_option("--sample-seconds", b10.sample_seconds, "RSS sampling period (0: 5)");
  app.add_option("--load", b10.load, "the soak's rate, a fraction of the maximum")
      ->capture_default_str();
  app.add_option("--connections", b10.connections, "wrk connections (a thread and a customer each)")
      ->capture_default_str();
  app.add_option("--boxes", b10.boxes, "boxes that only report their state (<0: 900)");
  app.add_option("--visiting-boxes", b10.visiting_boxes, "boxes that also play visits (<0: 100)");
  app.add_option("--events-per-minute", b10.events_per_minute, "visiting boxes' events/min asked")
      ->capture_default_str();
  app.add_option("--state-interval", b10.state_interval_s, "s between state reports (0: 60)");
  app.add_flag("!--no-durable", b10.durable,
               "PostgreSQL with fsync and synchronous_commit off (the tests' cluster)");
  app.add_option("--sim", b10.sim, "the reclothes-sim binary")->capture_default_str();
  app.add_option("--wrk", b10.wrk, "the wrk binary")->capture_default_str();
  reclothes::bench::add_controller_options(app, b10.controller);
  return reclothes::bench::run_benchmark(
      argc, argv, app,
      [&](reclothes::bench::Output& out, const reclothes::bench::CommonOptions& options) {
        return reclothes::bench::run(out, options, b10);
      });
}
