// B5: the controller's REST API under wrk. The real `reclothes-controller serve` (its own
// process, as deployed, with the production defaults: 8 public listener threads, a pool of 8
// database connections, log level info) on a real, durable PostgreSQL 15 and a real Mosquitto.
//
// - GET /v1/products/{id} (anyone; one row by primary key, a random one of 1,000 listed
//   products), wrk -t2 -c C (C = 8), beside pgbench running the route's own SELECT at C clients.
// - POST /v1/cart/items then DELETE /v1/cart/items/{id}, alternating (a customer session each;
//   each request writes one row: an insert, then its delete, so the cart never grows), wrk with
//   one connection per thread (-t C -c C, so that each connection's POST and DELETE pair up),
//   beside pgbench running the same INSERT and DELETE, each its own transaction, at C clients.
//   Both count single-row writes per second.
// - 1,000 keep-alive connections (wrk -c 1000, GET): closed loop (each connection sends its next
//   request as soon as the answer arrives) and paced (each connection sends one request about
//   every second, as 1,000 idle app clients with open connections would), on the same controller
//   with its default 8 listener threads (idle connections wait in epoll, not on a thread).
//
// Figures and baselines alternate in rounds so load bursts hit both. Targets (issue #8): REST >=
// 0.5 x pgbench, at least 1,372 GET and 1,152 POST req/s; 1,000 connections: 0 errors
// (connect, read, write, timeout, non-2xx) and p99 <= 100 ms. wrk's timeout is 2 s: an answer
// later than that counts as an error and not in the latencies. wrk 4.1 does not count a request
// that is never answered at all; StarvationWatch below finds those from the server's side.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/bench/main.h"
#include "reclothes/bench/pgbench.h"
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

constexpr double kGetFloor = 1372;   // req/s, issue #8
constexpr double kPostFloor = 1152;  // req/s, issue #8
constexpr double kManyP99Ms = 100;
constexpr std::size_t kPlotSamples = 50000;  // per sample file; the statistics use every sample
constexpr const char* kPassword = "bench password 1";

struct B5Options {
  int connections = 8;  // C: wrk connections and pgbench clients
  int threads = 8;      // the public listener's threads (the controller's default)
  int many = 1000;      // connections of the keep-alive test
  int pace_ms = 1000;   // paced keep-alive test: mean gap between a connection's requests
  int products = 1000;
  int round_seconds = 0;  // 0: 5 (quick: 2)
  int rounds = 0;         // 0: 3 (quick: 1)
  int many_seconds = 0;   // 0: 10 (quick: 4)
  bool durable = true;
  ControllerChoice controller{RECLOTHES_CONTROLLER_BIN, "info"};
  std::string wrk = "wrk";
};

struct Catalogue {
  std::int64_t first_product = 0;
  std::int64_t last_product = 0;
  std::int64_t first_customer = 0;
  std::vector<std::string> tokens;  // one customer session per connection
};

// Listed products straight into the table (priced, available), then customers through the API
// (register, log in), as the app would.
Result<Catalogue> populate(const std::string& conninfo, int public_port, const B5Options& o) {
  Catalogue cat;
  try {
    pqxx::connection conn(conninfo);
    pqxx::work tx(conn);
    const auto r = tx.exec_params1(
        "WITH p AS (INSERT INTO products (title, description, category, size, condition, "
        "price_cents, created_at, updated_at) SELECT 'Wool jacket ' || g, 'Lightly worn, "
        "no stains', 'jackets', 'M', 'good', 1000 + g, now(), now() FROM generate_series(1, $1) g "
        "RETURNING id) SELECT min(id), max(id), count(*) FROM p",
        o.products);
    cat.first_product = r[0].as<std::int64_t>();
    cat.last_product = r[1].as<std::int64_t>();
    if (r[2].as<std::int64_t>() != cat.last_product - cat.first_product + 1) {
      return make_error(ErrorCode::kInternal, "product ids are not consecutive");
    }
    tx.commit();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kUnavailable, std::string("adding products: ") + e.what());
  }
  httplib::Client cli("127.0.0.1", public_port);
  cli.set_read_timeout(seconds(10));
  std::int64_t previous = 0;
  for (int i = 0; i < o.connections; ++i) {
    const nlohmann::json creds = {{"email", "b5-customer-" + std::to_string(i) + "@example.org"},
                                  {"password", kPassword}};
    auto reg = cli.Post("/v1/customers", creds.dump(), "application/json");
    if (!reg || reg->status != 201) {
      return make_error(
          ErrorCode::kInternal,
          "POST /v1/customers: " + (reg ? std::to_string(reg->status) + " " + reg->body
                                        : httplib::to_string(reg.error())));
    }
    const auto id = nlohmann::json::parse(reg->body, nullptr, false).value("id", std::int64_t{0});
    if (i == 0) cat.first_customer = id;
    // pgbench addresses its clients' customers as first + client_id.
    if (i > 0 && id != previous + 1) {
      return make_error(ErrorCode::kInternal, "customer ids are not consecutive");
    }
    previous = id;
    auto login = cli.Post("/v1/sessions", creds.dump(), "application/json");
    if (!login || login->status != 201) {
      return make_error(
          ErrorCode::kInternal,
          "POST /v1/sessions: " + (login ? std::to_string(login->status) + " " + login->body
                                         : httplib::to_string(login.error())));
    }
    cat.tokens.push_back(
        nlohmann::json::parse(login->body, nullptr, false).value("token", std::string()));
  }
  return cat;
}

// ---- wrk ---------------------------------------------------------------------------------------

// Every script ends with this: done() writes the summary and the latency histogram (value in
// us, count) as JSON to $B5_WRK_RESULT.
constexpr const char* kLuaDone = R"(
function done(summary, latency, requests)
  local f = assert(io.open(os.getenv("B5_WRK_RESULT"), "w"))
  local e = summary.errors
  f:write(string.format('{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"histogram":[',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
  for i = 1, #latency do
    local v, n = latency(i)
    f:write(string.format('%s[%d,%d]', i > 1 and ',' or '', v, n))
  end
  f:write(']}\n')
  f:close()
end
)";

std::string get_script(const Catalogue& cat, int pace_ms) {
  std::ostringstream s;
  s << "-- B5: GET /v1/products/{id}, a random listed product per request.\n"
    << "local first, last = " << cat.first_product << ", " << cat.last_product << "\n"
    << "function request()\n"
    << "  return wrk.format('GET', '/v1/products/' .. math.random(first, last))\n"
    << "end\n";
  if (pace_ms > 0) {
    // A connection waits this long (uniform, mean pace_ms) before each request: open, mostly
    // idle keep-alive connections, as app clients hold them.
    s << "function delay()\n"
      << "  return math.random(" << pace_ms / 2 << ", " << pace_ms + pace_ms / 2 << ")\n"
      << "end\n";
  }
  s << kLuaDone;
  return s.str();
}

std::string cart_script(const Catalogue& cat) {
  std::ostringstream s;
  s << "-- B5: POST /v1/cart/items, then DELETE /v1/cart/items/{id} of the same product, on one\n"
    << "-- connection per thread (wrk -t C -c C) with its own customer session.\n"
    << "local first, last = " << cat.first_product << ", " << cat.last_product << "\n"
    << "local tokens = {";
  for (std::size_t i = 0; i < cat.tokens.size(); ++i) {
    s << (i ? ", " : "") << "'" << cat.tokens[i] << "'";
  }
  s << "}\n"
    << "local n = 0\n"
    << "function setup(thread)\n"
    << "  n = n + 1\n"
    << "  thread:set('token', tokens[n])\n"
    << "end\n"
    << "-- The answer, not the request, moves a connection on from POST to DELETE and back: wrk\n"
    << "-- calls request() one extra time to check it (in the first thread's state), and that\n"
    << "-- request is never sent.\n"
    << "local adding, product = true, math.random(first, last)\n"
    << "function request()\n"
    << "  local auth = 'Bearer ' .. (token or tokens[1])\n"
    << "  if adding then\n"
    << "    return wrk.format('POST', '/v1/cart/items', {['Authorization'] = auth,\n"
    << "      ['Content-Type'] = 'application/json'}, '{\"product_id\":' .. product .. '}')\n"
    << "  end\n"
    << "  return wrk.format('DELETE', '/v1/cart/items/' .. product, {['Authorization'] = auth})\n"
    << "end\n"
    << "function response(status, headers, body)\n"
    << "  adding = not adding\n"
    << "  if adding then product = math.random(first, last) end\n"
    << "end\n"
    << kLuaDone;
  return s.str();
}

// Connections to the server whose request lies unread in the server's socket, sampled with
// `ss -ti` while wrk runs. A connection counts as starved when its request stays unread (Recv-Q >
// 0) for wrk's timeout (2 s) while its bytes_received do not grow: the server took up nothing from
// it, neither that request nor a next one (in a closed loop a served connection has its next
// request queued at once, so Recv-Q alone would make every connection look starved). wrk 4.1
// counts such a request nowhere (an answer that came too late is a timeout, a missing one is not
// counted at all), so this is how a server that leaves connections waiting shows up.
class StarvationWatch {
 public:
  explicit StarvationWatch(int port) : port_(port) {}

  void sample(SteadyClock::time_point now) {
    const std::string cmd =
        "ss -tinH state established '( sport = :" + std::to_string(port_) + " )' 2>/dev/null";
    FILE* f = ::popen(cmd.c_str(), "r");
    if (f == nullptr) return;
    std::string text;
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    ::pclose(f);

    struct Seen {
      std::uint64_t unread = 0;
      std::uint64_t received = 0;
    };
    std::map<std::string, Seen> seen;  // by peer address
    std::string peer;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      if (line[0] != ' ' && line[0] != '\t') {
        std::istringstream fields(line);
        std::string recv_q, send_q, local;
        fields >> recv_q >> send_q >> local >> peer;
        seen[peer].unread = std::strtoull(recv_q.c_str(), nullptr, 10);
        continue;
      }
      if (const auto p = line.find("bytes_received:"); p != std::string::npos && !peer.empty()) {
        seen[peer].received = std::strtoull(line.c_str() + p + 15, nullptr, 10);
      }
    }
    std::size_t waiting = 0;
    for (auto it = since_.begin(); it != since_.end();) {
      const auto s = seen.find(it->first);
      const bool same =
          s != seen.end() && s->second.unread > 0 && s->second.received == it->second.received;
      it = same ? std::next(it) : since_.erase(it);
    }
    for (const auto& [addr, s] : seen) {
      if (s.unread == 0) continue;
      ++waiting;
      since_.try_emplace(addr, Waiting{now, s.received});
    }
    for (const auto& [addr, w] : since_) {
      if (now - w.since >= kLimit) starved_.insert(addr);
    }
    max_waiting_ = std::max(max_waiting_, waiting);
    max_established_ = std::max(max_established_, seen.size());
  }

  std::size_t starved() const { return starved_.size(); }
  std::size_t max_waiting() const { return max_waiting_; }
  std::size_t max_established() const { return max_established_; }

 private:
  struct Waiting {
    SteadyClock::time_point since;
    std::uint64_t received = 0;
  };
  static constexpr std::chrono::seconds kLimit{2};  // wrk's --timeout
  int port_;
  std::map<std::string, Waiting> since_;
  std::set<std::string> starved_;
  std::size_t max_waiting_ = 0;
  std::size_t max_established_ = 0;
};

// TcpExt ListenOverflows + ListenDrops of /proc/net/netstat: connections the kernel refused or
// dropped because a listener's accept queue was full (the controller listens with a backlog of
// 1,024; cpp-httplib's own listener had 5).
std::uint64_t listen_drops() {
  std::ifstream in("/proc/net/netstat");
  std::string names;
  std::string values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names);
    std::istringstream v(values);
    std::string name;
    std::string value;
    std::uint64_t total = 0;
    while (n >> name && v >> value) {
      if (name == "ListenDrops") total += std::strtoull(value.c_str(), nullptr, 10);
    }
    return total;
  }
  return 0;
}

struct WrkRun {
  std::uint64_t requests = 0;
  double seconds = 0;
  std::uint64_t connect = 0, read = 0, write = 0, status = 0, timeout = 0;
  double wrk_p99_ms = 0;
  std::vector<double> latencies_ms;  // from wrk's histogram: every answered request
  std::size_t starved = 0;           // connections whose request lay unread >= 2 s
  std::size_t max_waiting = 0;       // most connections with an unread request at once
  std::size_t max_established = 0;   // most server-side connections seen
  std::uint64_t listen_drops = 0;    // during the run, machine-wide
  std::uint64_t wrk_errors() const { return connect + read + write + status + timeout; }
  std::uint64_t errors() const { return wrk_errors() + starved; }
  double rate() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
};

Result<WrkRun> run_wrk(const B5Options& o, const fs::path& script, int port, int threads,
                       int connections, int secs, const fs::path& work, const std::string& tag) {
  const fs::path result = work / ("wrk-" + tag + ".json");
  std::error_code ec;
  fs::remove(result, ec);
  SpawnOptions so;
  so.env["B5_WRK_RESULT"] = result.string();
  const fs::path log = work / ("wrk-" + tag + ".log");
  so.log_path = log;
  StarvationWatch watch(port);
  const std::uint64_t drops0 = listen_drops();
  RC_ASSIGN_OR_RETURN(
      auto p,
      Process::spawn({o.wrk, "-t", std::to_string(threads), "-c", std::to_string(connections), "-d",
                      std::to_string(secs) + "s", "--timeout", "2s", "--latency", "-s",
                      script.string(), "http://127.0.0.1:" + std::to_string(port)},
                     so));
  const auto deadline = SteadyClock::now() + seconds(secs + 60);
  while (p->running()) {
    if (SteadyClock::now() > deadline) {
      (void)p->kill();
      return make_error(ErrorCode::kDeadlineExceeded, "wrk did not finish:\n" + tail(log));
    }
    watch.sample(SteadyClock::now());
    std::this_thread::sleep_for(milliseconds(200));
  }
  const int status = p->exit_status().value_or(-1);
  if (status != 0) {
    return make_error(ErrorCode::kInternal,
                      "wrk exited with " + std::to_string(status) + ":\n" + tail(log));
  }
  RC_ASSIGN_OR_RETURN(const std::string text, read_text(result));
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(ErrorCode::kInternal, "wrk's result is not JSON: " + result.string());
  }
  WrkRun r;
  r.starved = watch.starved();
  r.max_waiting = watch.max_waiting();
  r.max_established = watch.max_established();
  r.listen_drops = listen_drops() - drops0;
  try {
    r.requests = j.at("requests").get<std::uint64_t>();
    r.seconds = j.at("duration_us").get<double>() / 1e6;
    r.connect = j.at("connect").get<std::uint64_t>();
    r.read = j.at("read").get<std::uint64_t>();
    r.write = j.at("write").get<std::uint64_t>();
    r.status = j.at("status").get<std::uint64_t>();
    r.timeout = j.at("timeout").get<std::uint64_t>();
    r.wrk_p99_ms = j.at("p99_us").get<double>() / 1000;
    for (const auto& bin : j.at("histogram")) {
      const double ms = bin.at(0).get<double>() / 1000;
      const auto n = bin.at(1).get<std::uint64_t>();
      for (std::uint64_t i = 0; i < n; ++i) r.latencies_ms.push_back(ms);
    }
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, std::string("wrk's result: ") + e.what());
  }
  return r;
}

// ---- set-up ------------------------------------------------------------------------------------

// The defaults that depend on --quick and the checks of the options. A machine whose hard
// open-file limit is too low still runs the benchmark, with fewer connections, and says so: the
// figure is then not the one the target is about.
Status settle(B5Options& o, const CommonOptions& options) {
  if (o.round_seconds <= 0) o.round_seconds = options.quick ? 2 : 5;
  if (o.rounds <= 0) o.rounds = options.quick ? 1 : 3;
  if (o.many_seconds <= 0) o.many_seconds = options.quick ? 4 : 10;
  if (o.connections < 1 || o.many < 1 || o.threads < 1 || o.products < 1) {
    return make_error(ErrorCode::kInvalidArgument, "counts must be at least 1");
  }
  // wrk and the controller (which inherit the limit) each need one descriptor per connection.
  const rlim_t files = raise_open_file_limit();
  if (files < static_cast<rlim_t>(o.many) + 100) {
    const int fit = static_cast<int>(files > 200 ? files - 100 : 100);
    std::cout << "B5: note: the open-file limit is " << files << " (`ulimit -Hn`): " << fit
              << " keep-alive connections instead of " << o.many << std::endl;
    o.many = fit;
  }
  return ok_status();
}

// PostgreSQL, Mosquitto and the controller, migrated and serving.
Result<std::unique_ptr<ControllerStack>> start_servers(const fs::path& dir, const B5Options& o) {
  std::cout << "B5: starting PostgreSQL (" << (o.durable ? "durable" : "fsync off")
            << "), Mosquitto and " << o.controller.binary << " (" << o.threads
            << " listener threads) ..." << std::endl;
  ControllerStackOptions servers;
  servers.controller = o.controller;
  servers.client_id = "bench-b5-controller";
  servers.listener_threads = o.threads;
  servers.durable_postgres = o.durable;
  RC_ASSIGN_OR_RETURN(auto stack, ControllerStack::start(dir, servers));
  RC_TRY(stack->migrate());
  RC_TRY(stack->serve());
  return stack;
}

struct Scripts {
  fs::path get_lua;
  fs::path paced_lua;
  fs::path cart_lua;
  fs::path select_sql;
  fs::path cart_sql;
  std::vector<std::string> defines;  // pgbench's -D
};

// The wrk scripts go to the output directory, where they can be read and rerun by hand; the
// baselines' pgbench scripts (the route's own SELECT, and the cart's INSERT and DELETE as separate
// statements, each its own transaction, on the same tables) to the scratch directory.
Result<Scripts> write_scripts(const fs::path& out_dir, const fs::path& dir, const Catalogue& cat,
                              int pace_ms) {
  Scripts s{out_dir / "b5-get.lua",  out_dir / "b5-get-paced.lua",
            out_dir / "b5-cart.lua", dir / "select.sql",
            dir / "cart.sql",        {}};
  RC_TRY(write_text(s.get_lua, get_script(cat, 0)));
  RC_TRY(write_text(s.paced_lua, get_script(cat, pace_ms)));
  RC_TRY(write_text(s.cart_lua, cart_script(cat)));
  RC_TRY(write_text(
      s.select_sql,
      "\\set id random(:first, :last)\n"
      "SELECT id, title, description, category, size, condition, price_cents, "
      "status, (extract(epoch from created_at) * 1000)::bigint, "
      "(extract(epoch from updated_at) * 1000)::bigint FROM products WHERE id = :id AND status = "
      "'available' AND price_cents IS NOT NULL;\n"));
  RC_TRY(write_text(s.cart_sql,
                    "\\set p random(:first, :last)\n"
                    "\\set c :customer + :client_id\n"
                    "INSERT INTO cart_items (customer_id, product_id, added_at) VALUES (:c, :p, "
                    "now()) ON CONFLICT DO NOTHING;\n"
                    "DELETE FROM cart_items WHERE customer_id = :c AND product_id = :p;\n"));
  s.defines = {"first=" + std::to_string(cat.first_product),
               "last=" + std::to_string(cat.last_product),
               "customer=" + std::to_string(cat.first_customer)};
  return s;
}

// ---- rounds ------------------------------------------------------------------------------------

struct Totals : RoundTotals {
  std::vector<double> latencies_ms;
  void add_run(std::uint64_t ops, double secs, const std::vector<double>& lat) {
    add(ops, secs);
    latencies_ms.insert(latencies_ms.end(), lat.begin(), lat.end());
  }
};

nlohmann::json error_kinds(const WrkRun& r) {
  return {{"connect", r.connect}, {"read", r.read},       {"write", r.write},
          {"status", r.status},   {"timeout", r.timeout}, {"starved_connections", r.starved}};
}

// One route's rounds: wrk against the controller, and pgbench's baseline beside it.
struct Route {
  Totals rest;
  Totals pgbench;
  std::uint64_t errors = 0;
  nlohmann::json errors_per_round = nlohmann::json::array();
  double controller_cpu_s = 0;
  void add_wrk(const WrkRun& r, double cpu_s) {
    controller_cpu_s += cpu_s;
    rest.add_run(r.requests, r.seconds, r.latencies_ms);
    errors += r.errors();
    errors_per_round.push_back(error_kinds(r));
  }
};

struct Routes {
  Route get;
  Route cart;
};

// wrk on one route, with the controller's CPU time meanwhile.
Result<WrkRun> timed_wrk(const B5Options& o, ControllerStack& stack, const fs::path& script,
                         int threads, const std::string& tag, const fs::path& dir, Route& route) {
  const pid_t pid = stack.controller().pid();
  const double cpu0 = cpu_seconds(pid);
  RC_ASSIGN_OR_RETURN(WrkRun r, run_wrk(o, script, stack.public_port(), threads, o.connections,
                                        o.round_seconds, dir, tag));
  route.add_wrk(r, cpu_seconds(pid) - cpu0);
  return r;
}

Result<Routes> run_rounds(const B5Options& o, ControllerStack& stack, const Scripts& scripts,
                          const fs::path& dir) {
  std::cout << "B5: " << o.rounds << " rounds of " << o.round_seconds << " s per side, "
            << o.connections << " connections / clients ..." << std::endl;
  const int c = o.connections;
  PgbenchSpec select{scripts.select_sql, c, o.round_seconds, scripts.defines, true};
  PgbenchSpec cart = select;
  cart.script = scripts.cart_sql;
  Routes r;
  for (int i = 0; i < o.rounds; ++i) {
    const std::string n = std::to_string(i);
    RC_ASSIGN_OR_RETURN(const WrkRun g, timed_wrk(o, stack, scripts.get_lua, std::min(c, 2),
                                                  "get-" + n, dir, r.get));
    RC_ASSIGN_OR_RETURN(const PgbenchRun s,
                        run_pgbench(stack.postgres(), "reclothes", select, dir, "select-" + n));
    r.get.pgbench.add_run(s.transactions, s.seconds, s.latencies_ms);
    RC_ASSIGN_OR_RETURN(const WrkRun p,
                        timed_wrk(o, stack, scripts.cart_lua, c, "cart-" + n, dir, r.cart));
    RC_ASSIGN_OR_RETURN(const PgbenchRun w,
                        run_pgbench(stack.postgres(), "reclothes", cart, dir, "cart-" + n));
    // Two single-row write transactions per script run; its latency is the pair's.
    r.cart.pgbench.add_run(2 * w.transactions, w.seconds, w.latencies_ms);
    std::cout << "  round " << i + 1 << ": GET " << format_number(r.get.rest.rates.back(), 0)
              << " req/s (p99 " << format_number(summarize(g.latencies_ms).p99, 2)
              << " ms), pgbench SELECT " << format_number(r.get.pgbench.rates.back(), 0)
              << " tps; POST/DELETE " << format_number(r.cart.rest.rates.back(), 0)
              << " req/s (p99 " << format_number(summarize(p.latencies_ms).p99, 2)
              << " ms), pgbench writes " << format_number(r.cart.pgbench.rates.back(), 0) << "/s"
              << std::endl;
  }
  return r;
}

// ---- records: GET and POST ---------------------------------------------------------------------

// At most `limit` of the samples, every k-th (the distribution stays), for the plot files.
std::vector<double> thinned(const std::vector<double>& samples, std::size_t limit) {
  if (samples.size() <= limit) return samples;
  const std::size_t step = (samples.size() + limit - 1) / limit;
  std::vector<double> out;
  for (std::size_t i = 0; i < samples.size(); i += step) out.push_back(samples[i]);
  return out;
}

Result<SampleSeries> latency_series(Output& out, const std::string& label, const Totals& t) {
  return out.write_samples("B5", label, "ms", thinned(t.latencies_ms, kPlotSamples));
}

// How the rate records of a route name it and its baseline.
struct RateNames {
  std::string figure;
  std::string floor_figure;
  std::string baseline;
  std::string pgbench_rounds;   // details: the key of the baseline's rate per round
  std::string pgbench_latency;  // details: the key of the baseline's latency summary
  double floor = 0;             // req/s, issue #8
};

// The route's rate beside its baseline's (target: >= 0.5 x), then the same rate against the
// issue's floor.
Status add_rate_records(Output& out, const RateNames& names, const Route& route,
                        std::vector<SampleSeries> samples, const nlohmann::json& common,
                        bool quick) {
  Record r;
  r.id = "B5";
  r.figure = names.figure;
  r.unit = "req/s";
  r.value = route.rest.rate();
  r.baseline = names.baseline;
  r.baseline_value = route.pgbench.rate();
  r.target = Target::ratio_at_least(0.5);
  r.samples = std::move(samples);
  r.details = common;
  r.details["rounds_req_s"] = route.rest.rates;
  r.details[names.pgbench_rounds] = route.pgbench.rates;
  r.details["errors"] = route.errors;
  r.details["errors_per_round"] = route.errors_per_round;
  r.details["latency_ms"] = to_json(summarize(route.rest.latencies_ms));
  r.details[names.pgbench_latency] = to_json(summarize(route.pgbench.latencies_ms));
  r.details["controller_cpu_percent"] =
      route.rest.seconds > 0 ? 100 * route.controller_cpu_s / route.rest.seconds : 0;
  RC_TRY(out.add(r));
  Record a = r;
  a.figure = names.floor_figure;
  a.baseline.clear();
  a.baseline_value.reset();
  a.samples.clear();
  a.target = Target::value_at_least(names.floor);
  a.details = {{"quick", quick}};
  return out.add(a);
}

// The p99 latency of a route's answered requests.
Record p99_record(const std::string& figure, const Summary& s) {
  Record p;
  p.id = "B5";
  p.figure = figure;
  p.unit = "ms";
  p.value = s.p99;
  return p;
}

Status add_get_records(Output& out, const Route& get, const std::string& cs,
                       const nlohmann::json& common, bool quick) {
  RC_ASSIGN_OR_RETURN(SampleSeries get_series, latency_series(out, "REST GET latency", get.rest));
  RC_ASSIGN_OR_RETURN(SampleSeries select_series,
                      latency_series(out, "pgbench SELECT latency", get.pgbench));
  RC_TRY(add_rate_records(out,
                          {"REST GET /v1/products/{id} req/s, " + cs + " connections",
                           "REST GET /v1/products/{id} req/s, " + cs + " connections (floor)",
                           "pgbench, the route's SELECT, " + cs + " clients", "pgbench_rounds_tps",
                           "pgbench_latency_ms", kGetFloor},
                          get, {get_series, select_series}, common, quick));
  const Summary get_s = summarize(get.rest.latencies_ms);
  const Summary select_s = summarize(get.pgbench.latencies_ms);
  Record p = p99_record("REST GET /v1/products/{id} p99, " + cs + " connections", get_s);
  p.baseline = "pgbench SELECT p99";
  p.baseline_value = select_s.p99;
  p.details = {{"quick", quick}, {"p50_ms", get_s.p50}, {"pgbench_p50_ms", select_s.p50}};
  return out.add(p);
}

Status add_cart_records(Output& out, const Route& cart, const std::string& cs,
                        const nlohmann::json& common, bool quick) {
  RC_ASSIGN_OR_RETURN(SampleSeries cart_series,
                      latency_series(out, "REST POST DELETE latency", cart.rest));
  RC_TRY(add_rate_records(
      out,
      {"REST POST+DELETE /v1/cart/items req/s (one row written each), " + cs + " connections",
       "REST POST+DELETE /v1/cart/items req/s, " + cs + " connections (floor)",
       "pgbench single-row INSERT and DELETE statements, " + cs + " clients",
       "pgbench_rounds_writes_s", "pgbench_insert_delete_pair_latency_ms", kPostFloor},
      cart, {cart_series}, common, quick));
  const Summary cart_s = summarize(cart.rest.latencies_ms);
  Record p = p99_record("REST POST+DELETE /v1/cart/items p99, " + cs + " connections", cart_s);
  p.details = {{"quick", quick},
               {"p50_ms", cart_s.p50},
               {"pgbench_insert_delete_pair_p99_ms", summarize(cart.pgbench.latencies_ms).p99}};
  return out.add(p);
}

Status add_route_records(Output& out, const Routes& routes, const B5Options& o, bool quick) {
  const std::string cs = std::to_string(o.connections);
  const nlohmann::json common = {{"quick", quick},
                                 {"durable_postgres", o.durable},
                                 {"connections", o.connections},
                                 {"listener_threads", o.threads},
                                 {"rounds", o.rounds},
                                 {"round_s", o.round_seconds},
                                 {"products", o.products}};
  RC_TRY(add_get_records(out, routes.get, cs, common, quick));
  RC_TRY(add_cart_records(out, routes.cart, cs, common, quick));
  if (routes.get.errors + routes.cart.errors > 0) {
    std::cout << "B5: note: " << routes.get.errors << " GET and " << routes.cart.errors
              << " POST/DELETE errors (see details)" << std::endl;
  }
  return ok_status();
}

// ---- 1,000 keep-alive connections on the same controller (default threads) --------------------

nlohmann::json many_json(const WrkRun& r, double rss_kib, double threads, double cpu_percent) {
  const Summary s = summarize(r.latencies_ms);
  return {{"requests", r.requests},
          {"req_s", r.rate()},
          {"errors", error_kinds(r)},
          {"max_connections_with_unread_request", r.max_waiting},
          {"max_established_connections", r.max_established},
          {"listen_drops", r.listen_drops},
          {"latency_ms", to_json(s)},
          {"wrk_p99_ms", r.wrk_p99_ms},
          {"controller_rss_kib", rss_kib},
          {"controller_threads", threads},
          {"controller_cpu_percent", cpu_percent}};
}

// One keep-alive run (closed loop or paced), printed, and its details for the records.
Result<std::pair<WrkRun, nlohmann::json>> many_run(const B5Options& o, ControllerStack& stack,
                                                   const Scripts& scripts, const fs::path& dir,
                                                   bool paced, bool quick) {
  const pid_t cpid = stack.controller().pid();
  const std::string tag = std::string(paced ? "paced-" : "closed-") + std::to_string(o.threads);
  const double cpu0 = cpu_seconds(cpid);
  RC_ASSIGN_OR_RETURN(const WrkRun r,
                      run_wrk(o, paced ? scripts.paced_lua : scripts.get_lua, stack.public_port(),
                              2, o.many, o.many_seconds, dir, tag));
  const double cpu_pct = 100 * (cpu_seconds(cpid) - cpu0) / std::max(r.seconds, 1e-9);
  const double rss = status_field(cpid, "VmRSS");
  const double nthreads = status_field(cpid, "Threads");
  std::cout << "  " << (paced ? "paced (1 request/s per connection)" : "closed loop") << ": "
            << format_number(r.rate(), 0) << " req/s, p99 "
            << format_number(summarize(r.latencies_ms).p99, 1) << " ms, errors: connect "
            << r.connect << ", read " << r.read << ", write " << r.write << ", timeout "
            << r.timeout << ", non-2xx " << r.status
            << ", starved connections (request unread >= 2 s) " << r.starved << " (at most "
            << r.max_waiting << " waiting at once, " << r.max_established << " established, "
            << r.listen_drops << " listen drops); controller " << format_number(rss / 1024, 0)
            << " MiB RSS, " << nthreads << " threads, " << format_number(cpu_pct, 0) << "% CPU"
            << std::endl;
  nlohmann::json d = many_json(r, rss, nthreads, cpu_pct);
  d["quick"] = quick;
  d["listener_threads"] = o.threads;
  d["paced_ms"] = paced ? o.pace_ms : 0;
  if (paced) d["offered_req_s"] = 1000.0 * o.many / o.pace_ms;
  d["seconds"] = o.many_seconds;
  return std::make_pair(r, d);
}

// Errors (target 0) and the p99 of the answered requests of one keep-alive run. A closed loop
// keeps every connection's request outstanding, so by Little's law the mean latency of any server
// is connections / throughput: at 1,000 connections a p99 of 100 ms needs well over 10,000 req/s.
// That bound is the closed loop's baseline; the target applies to the paced run (1,000 connected
// clients at a realistic rate).
Status add_many_records(Output& out, const B5Options& o, const WrkRun& r, const nlohmann::json& d,
                        bool paced) {
  const std::string tag = std::string(paced ? "paced-" : "closed-") + std::to_string(o.threads);
  const std::string what = format_number(o.many, 0) + " keep-alive connections, " +
                           (paced ? "paced 1 req/s each" : "closed loop") + ", " +
                           std::to_string(o.threads) + " listener threads";
  Record e;
  e.id = "B5";
  e.figure = what + ": errors";
  e.unit = "errors";
  e.value = static_cast<double>(r.errors());
  e.target = Target::value_at_most(0);
  e.details = d;
  RC_TRY(out.add(e));
  Record p;
  p.id = "B5";
  p.figure = what + ": p99 of answered requests";
  p.unit = "ms";
  p.value = summarize(r.latencies_ms).p99;
  p.details = d;
  if (paced) {
    p.target = Target::value_at_most(kManyP99Ms);
    return out.add(p);
  }
  p.baseline = "Little's law: connections / throughput (the mean latency at this rate)";
  p.baseline_value = r.rate() > 0 ? 1000.0 * o.many / r.rate() : 0;
  RC_ASSIGN_OR_RETURN(
      SampleSeries series,
      out.write_samples("B5", tag + " latency", "ms", thinned(r.latencies_ms, kPlotSamples)));
  p.samples = {series};
  return out.add(p);
}

Status run_many(Output& out, const B5Options& o, ControllerStack& stack, const Scripts& scripts,
                const fs::path& dir, bool quick) {
  std::cout << "B5: " << format_number(o.many, 0) << " keep-alive connections, " << o.threads
            << " listener threads (pid " << stack.controller().pid() << "), " << o.many_seconds
            << " s closed loop, then paced ..." << std::endl;
  for (const bool paced : {false, true}) {
    RC_ASSIGN_OR_RETURN(const auto run, many_run(o, stack, scripts, dir, paced, quick));
    RC_TRY(add_many_records(out, o, run.first, run.second, paced));
  }
  return ok_status();
}

Status run(Output& out, const CommonOptions& options, B5Options o) {
  RC_TRY(settle(o, options));
  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b5-work-"));
  const fs::path dir = scratch.path();
  RC_ASSIGN_OR_RETURN(auto stack, start_servers(dir, o));
  RC_ASSIGN_OR_RETURN(const Catalogue cat, populate(stack->conninfo(), stack->public_port(), o));
  std::cout << "B5: controller pid " << stack->controller().pid()
            << ", http://127.0.0.1:" << stack->public_port() << ", " << o.products << " products, "
            << o.connections << " customers" << std::endl;
  RC_ASSIGN_OR_RETURN(const Scripts scripts, write_scripts(out.dir(), dir, cat, o.pace_ms));
  // Warm-up, not counted: plans, pool connections, caches.
  if (auto w = run_wrk(o, scripts.get_lua, stack->public_port(), std::min(o.connections, 2),
                       o.connections, 1, dir, "warm-get");
      !w.ok()) {
    return std::move(w).error().with_context("warm-up (controller log:\n" + tail(stack->log()) +
                                             ")");
  }
  RC_ASSIGN_OR_RETURN(const Routes routes, run_rounds(o, *stack, scripts, dir));
  RC_TRY(add_route_records(out, routes, o, options.quick));
  return run_many(out, o, *stack, scripts, dir, options.quick);
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{"B5: REST GET/POST under wrk beside pgbench; 1,000 keep-alive connections",
               "bench_b5_rest"};
  reclothes::bench::B5Options b5;
  app.add_option("--connections", b5.connections, "wrk connections and pgbench clients")
      ->capture_default_str();
  app.add_option("--threads", b5.threads, "the public listener's threads")->capture_default_str();
  app.add_option("--many", b5.many, "connections of the keep-alive test")->capture_default_str();
  app.add_option("--pace-ms", b5.pace_ms, "paced keep-alive test: mean ms between requests")
      ->capture_default_str();
  app.add_option("--round-seconds", b5.round_seconds, "seconds per round and side (0: default)");
  app.add_option("--rounds", b5.rounds, "rounds (0: default)");
  app.add_option("--many-seconds", b5.many_seconds, "seconds per keep-alive run (0: default)");
  app.add_flag("!--no-durable", b5.durable,
               "PostgreSQL with fsync and synchronous_commit off (the tests' cluster)");
  app.add_option("--wrk", b5.wrk, "the wrk binary")->capture_default_str();
  reclothes::bench::add_controller_options(app, b5.controller);
  return reclothes::bench::run_benchmark(
      argc, argv, app,
      [&](reclothes::bench::Output& out, const reclothes::bench::CommonOptions& options) {
        return reclothes::bench::run(out, options, b5);
      });
}
