// B6: logins per second. The controller (reclothes::controller_core, in-process, on a real
// PostgreSQL and a real Mosquitto from tests/support) with its DEFAULT Argon2id parameters
// (ControllerConfig::Passwords: opslimit 2, memlimit 64 MiB, libsodium's INTERACTIVE limits) takes
// customer logins, POST /v1/sessions over HTTP keep-alive, from N client threads (N = the number
// of cores), each cycling through accounts of its own that were registered up front through the
// API (so every login succeeds: the throttle counts failures only, and never trips).
//
// Baseline, same run: raw libsodium crypto_pwhash_str_verify of the very hashes the controller
// stored for those accounts (read back from the database). The two are interleaved as finely as
// they can be: every client thread alternates one login and one raw verify, so the machine's
// load (shared, and busy) hits both alike, and a side's rate is N / its mean latency (its
// operations over its share of the threads' time). Target: logins >= 0.9 x raw.
// Also written down: how many cores the seed's "1,000 logins in 3 s" needs at the measured
// per-core login rate.
#include <httplib.h>
#include <sodium.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/bench/main.h"
#include "reclothes/bench/proc.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/stats.h"
#include "reclothes/common/clock.h"
#include "reclothes/controller/compose.h"
#include "reclothes/controller/config.h"
#include "reclothes/controller/controller.h"
#include "reclothes/controller/db.h"
#include "reclothes/controller/log.h"
#include "reclothes/controller/migrations.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/postgres.h"

namespace reclothes::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
namespace fs = std::filesystem;

constexpr const char* kPassword = "correct horse battery staple";
// The seed's requirement: 1,000 logins in 3 s.
constexpr double kSeedLogins = 1000;
constexpr double kSeedSeconds = 3;

struct Account {
  std::string email;
  std::string hash;  // as stored by the controller (for the raw baseline)
};

std::chrono::nanoseconds cpu_clock(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}
std::chrono::nanoseconds thread_cpu() { return cpu_clock(CLOCK_THREAD_CPUTIME_ID); }
std::chrono::nanoseconds process_cpu() { return cpu_clock(CLOCK_PROCESS_CPUTIME_ID); }

// CPU time (user + system) of the PostgreSQL server: the postmaster and every process it started
// (the backends serving the controller, the WAL writer, the checkpointer ...).
std::chrono::nanoseconds postgres_cpu(pid_t postmaster) {
  return std::chrono::nanoseconds(
      static_cast<std::int64_t>(cpu_seconds_with_children(postmaster) * 1e9));
}

// What one side (logins, or raw verifies) did: its operations and the thread time they took.
struct Side {
  std::size_t operations = 0;
  std::chrono::nanoseconds busy{0};  // summed over the threads
  std::vector<double> samples;       // per operation, ms
  std::chrono::nanoseconds cpu{0};   // CPU time of the calling threads (the raw side's hashing)
  // Operations per second of `threads` threads doing only this: threads / mean latency.
  double rate(std::size_t threads) const {
    return busy.count() > 0 ? static_cast<double>(threads * operations) /
                                  std::chrono::duration<double>(busy).count()
                            : 0;
  }
};

// `threads` threads, each alternating one `a` and one `b` (in turns: a-b, then b-a, ...) until
// `duration` has passed (the pair in progress then finishes). The two sides thus share every
// moment of the run, and whatever else loads the machine hits both alike. op(thread, i) returns
// an error to stop the run; the first error is returned.
template <typename OpA, typename OpB>
Result<std::pair<Side, Side>> interleaved(std::size_t threads, milliseconds duration, OpA a,
                                          OpB b) {
  std::mutex mu;
  std::optional<Error> failure;
  std::atomic<bool> stop{false};
  std::vector<std::pair<Side, Side>> per_thread(threads);
  std::vector<std::thread> pool;
  const auto end = SteadyClock::now() + duration;
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const auto timed = [&](auto& op, Side& side, std::size_t i) {
        const auto c0 = thread_cpu();
        const auto t0 = SteadyClock::now();
        Status s = op(t, i);
        const auto t1 = SteadyClock::now();
        side.cpu += thread_cpu() - c0;
        if (!s.ok()) {
          std::lock_guard lock(mu);
          if (!failure) failure = std::move(s).error();
          stop = true;
          return false;
        }
        ++side.operations;
        side.busy += t1 - t0;
        side.samples.push_back(ms_between(t0, t1));
        return true;
      };
      auto& [side_a, side_b] = per_thread[t];
      for (std::size_t i = 0; !stop.load() && SteadyClock::now() < end; ++i) {
        const bool ok = i % 2 == 0 ? timed(a, side_a, i) && timed(b, side_b, i)
                                   : timed(b, side_b, i) && timed(a, side_a, i);
        if (!ok) return;
      }
    });
  }
  for (auto& th : pool) th.join();
  if (failure) return *failure;
  std::pair<Side, Side> total;
  for (auto& [side_a, side_b] : per_thread) {
    for (auto [from, to] : {std::pair{&side_a, &total.first}, std::pair{&side_b, &total.second}}) {
      to->operations += from->operations;
      to->busy += from->busy;
      to->cpu += from->cpu;
      to->samples.insert(to->samples.end(), from->samples.begin(), from->samples.end());
    }
  }
  return total;
}

// One keep-alive HTTP client per thread, as an app's connection pool would hold.
std::unique_ptr<httplib::Client> client_for(int port) {
  auto cli = std::make_unique<httplib::Client>("127.0.0.1", port);
  cli->set_keep_alive(true);
  cli->set_tcp_nodelay(true);
  cli->set_connection_timeout(seconds(10));
  cli->set_read_timeout(seconds(60));
  cli->set_write_timeout(seconds(10));
  return cli;
}

Status post_expect(httplib::Client& cli, const std::string& path, const nlohmann::json& body,
                   int expected) {
  auto res = cli.Post(path.c_str(), body.dump(), "application/json");
  if (!res) {
    return make_error(ErrorCode::kUnavailable,
                      "POST " + path + ": HTTP error " + httplib::to_string(res.error()));
  }
  if (res->status != expected) {
    return make_error(ErrorCode::kInternal, "POST " + path + " answered " +
                                                std::to_string(res->status) + ": " + res->body);
  }
  return ok_status();
}

// ---- set-up ------------------------------------------------------------------------------------

// The controller core in-process on a real PostgreSQL and Mosquitto, and when each was up.
struct Rig {
  std::unique_ptr<testsupport::PostgresServer> pg;
  std::unique_ptr<testsupport::MosquittoServer> broker;
  std::string conninfo;
  std::unique_ptr<controller::Controller> ctl;  // declared last: destroyed first
  SteadyClock::time_point pg_started;
  SteadyClock::time_point migrated;
  SteadyClock::time_point ctl_started;
};

// The controller's defaults, Argon2id parameters included, with the servers and the key directory
// of this run.
Result<controller::ControllerConfig> controller_config(const Rig& rig, const fs::path& scratch) {
  controller::ControllerConfig config;
  config.database.conninfo = rig.conninfo;
  config.public_listener.host = "127.0.0.1";
  config.public_listener.port = 0;
  config.internal_listener.host = "127.0.0.1";
  config.internal_listener.port = 0;
  config.mqtt.uri = rig.broker->uri();
  config.mqtt.client_id = "bench-b6-controller";
  config.tokens.key_dir = scratch / "keys";
  std::error_code ec;
  fs::create_directories(config.tokens.key_dir, ec);
  if (ec) return make_error(ErrorCode::kIo, "cannot create the key directory: " + ec.message());
  return config;
}

Result<std::unique_ptr<Rig>> start_rig(const fs::path& scratch, const SystemClock& clock) {
  auto rig = std::make_unique<Rig>();
  // Durable, as a production database is: a login commits its session.
  testsupport::PostgresServer::Options pg_options;
  pg_options.durable = true;
  RC_ASSIGN_OR_RETURN(rig->pg, testsupport::PostgresServer::start(pg_options));
  RC_ASSIGN_OR_RETURN(rig->broker, testsupport::MosquittoServer::start());
  rig->pg_started = SteadyClock::now();
  RC_ASSIGN_OR_RETURN(rig->conninfo, rig->pg->create_database("b6"));
  {
    RC_ASSIGN_OR_RETURN(std::unique_ptr<controller::Database> db,
                        controller::Database::open({rig->conninfo, 1, seconds(10)}));
    RC_TRY(controller::migrate(*db));
  }
  rig->migrated = SteadyClock::now();
  RC_ASSIGN_OR_RETURN(const controller::ControllerConfig config, controller_config(*rig, scratch));
  RC_ASSIGN_OR_RETURN(rig->ctl,
                      controller::make_controller(config, clock, controller::Log::null()));
  RC_TRY(rig->ctl->start());
  rig->ctl_started = SteadyClock::now();
  return rig;
}

using Accounts = std::vector<std::vector<Account>>;  // per client thread

// Accounts, registered through the API by the client threads (registration hashes too).
Result<Accounts> register_accounts(int port, std::size_t threads, std::size_t per_thread) {
  Accounts accounts(threads);
  for (std::size_t t = 0; t < threads; ++t) {
    for (std::size_t i = 0; i < per_thread; ++i) {
      accounts[t].push_back(
          {"b6-t" + std::to_string(t) + "-a" + std::to_string(i) + "@example.org", ""});
    }
  }
  std::vector<std::unique_ptr<httplib::Client>> clients;
  for (std::size_t t = 0; t < threads; ++t) clients.push_back(client_for(port));
  std::vector<std::thread> pool;
  std::vector<Status> results(threads);
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (const Account& a : accounts[t]) {
        results[t] = post_expect(*clients[t], "/v1/customers",
                                 {{"email", a.email}, {"password", kPassword}}, 201);
        if (!results[t].ok()) return;
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& r : results) RC_TRY(std::move(r));
  return accounts;
}

Status read_hashes(const std::string& conninfo, Accounts& accounts) {
  try {
    pqxx::connection conn(conninfo);
    pqxx::work tx(conn);
    for (auto& list : accounts) {
      for (Account& a : list) {
        a.hash = tx.exec_params1("SELECT password_hash FROM customers WHERE email = $1", a.email)[0]
                     .as<std::string>();
      }
    }
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kUnavailable,
                      std::string("reading the stored hashes: ") + e.what());
  }
  return ok_status();
}

// "$argon2id$v=19$m=65536,t=2,p=1$salt$hash": the parameters the controller used.
std::string hash_params(const std::string& h) {
  const std::size_t from = h.find("$m=");
  const std::size_t to = from == std::string::npos ? from : h.find('$', from + 1);
  return from == std::string::npos ? "?" : h.substr(from + 1, to - from - 1);
}

// ---- the measurement ---------------------------------------------------------------------------

struct Measured {
  Side logins;
  Side raw;
  std::chrono::nanoseconds process_cpu{0};  // all of this process's threads
  std::chrono::nanoseconds pg_cpu{0};       // PostgreSQL's
};

// Every client thread alternates a login and a raw verify of one of its accounts for `duration`;
// then the controller stops.
Result<Measured> measure(Rig& rig, const Accounts& accounts, milliseconds duration) {
  const std::size_t threads = accounts.size();
  std::vector<std::unique_ptr<httplib::Client>> clients;
  for (std::size_t t = 0; t < threads; ++t) clients.push_back(client_for(rig.ctl->public_port()));
  const auto login = [&](std::size_t t, std::size_t i) -> Status {
    const Account& a = accounts[t][i % accounts[t].size()];
    return post_expect(*clients[t], "/v1/sessions", {{"email", a.email}, {"password", kPassword}},
                       201);
  };
  const auto verify = [&](std::size_t t, std::size_t i) -> Status {
    const Account& a = accounts[t][i % accounts[t].size()];
    if (crypto_pwhash_str_verify(a.hash.c_str(), kPassword, std::strlen(kPassword)) != 0) {
      return make_error(ErrorCode::kInternal, "crypto_pwhash_str_verify refused a stored hash");
    }
    return ok_status();
  };
  // One login per client first: connections open, the pool's database connections too.
  for (std::size_t t = 0; t < threads; ++t) RC_TRY(login(t, 0));
  const auto cpu_before = process_cpu();
  const auto pg_cpu_before = postgres_cpu(rig.pg->pid());
  RC_ASSIGN_OR_RETURN(auto sides, interleaved(threads, duration, login, verify));
  Measured m{std::move(sides.first), std::move(sides.second), {}, {}};
  m.pg_cpu = postgres_cpu(rig.pg->pid()) - pg_cpu_before;
  m.process_cpu = process_cpu() - cpu_before;
  // Close the keep-alive connections first: the server's workers would otherwise wait out their
  // read timeout on them before stop() returns.
  clients.clear();
  rig.ctl->stop();
  return m;
}

// ---- records -----------------------------------------------------------------------------------

Status add_rate_record(Output& out, const Measured& m, std::size_t threads,
                       const std::string& params, const nlohmann::json& common) {
  const Summary login_s = summarize(m.logins.samples);
  const Summary raw_s = summarize(m.raw.samples);
  std::cout << "  " << m.logins.operations << " logins, " << m.raw.operations
            << " raw verifies; per login: p50 " << format_number(login_s.p50, 1) << " ms, p99 "
            << format_number(login_s.p99, 1) << " ms; per raw verify: p50 "
            << format_number(raw_s.p50, 1) << " ms, p99 " << format_number(raw_s.p99, 1) << " ms"
            << std::endl;
  RC_ASSIGN_OR_RETURN(SampleSeries ls,
                      out.write_samples("B6", "login (POST /v1/sessions)", "ms", m.logins.samples));
  RC_ASSIGN_OR_RETURN(SampleSeries rs,
                      out.write_samples("B6", "raw crypto_pwhash_str_verify", "ms", m.raw.samples));
  Record rec;
  rec.id = "B6";
  rec.figure = "logins/s (POST /v1/sessions, default Argon2id " + params + ", " +
               std::to_string(threads) + " client threads)";
  rec.unit = "logins/s";
  rec.value = m.logins.rate(threads);
  rec.baseline = "raw crypto_pwhash_str_verify (one per login), same hashes, " +
                 std::to_string(threads) + " threads";
  rec.baseline_value = m.raw.rate(threads);
  rec.target = Target::ratio_at_least(0.9);
  rec.samples = {ls, rs};
  rec.details = common;
  rec.details["logins"] = m.logins.operations;
  rec.details["raw_verifies"] = m.raw.operations;
  rec.details["login_ms"] = to_json(login_s);
  rec.details["raw_verify_ms"] = to_json(raw_s);
  return out.add(rec);
}

// What each costs in CPU, whatever else the machine runs: a raw verify is its thread's CPU time; a
// login is everything this process spent beyond the raw verifies (server threads, HTTP, JSON,
// libpq) plus what PostgreSQL spent meanwhile. Then the seed's 1,000 logins in 3 s: per core, from
// the CPU a login costs (what a dedicated core would do); the wall-clock rate per core of this run,
// which carries the rest of the machine's load, is kept beside it.
Status add_cost_records(Output& out, const Measured& m, std::size_t threads,
                        const nlohmann::json& common) {
  const double seconds_per_ns = 1e-9;
  const double raw_cpu_s = m.raw.operations > 0
                               ? static_cast<double>(m.raw.cpu.count()) * seconds_per_ns /
                                     static_cast<double>(m.raw.operations)
                               : 0;
  const double login_cpu_s =
      m.logins.operations > 0
          ? static_cast<double>((m.process_cpu - m.raw.cpu + m.pg_cpu).count()) * seconds_per_ns /
                static_cast<double>(m.logins.operations)
          : 0;
  Record cpu;
  cpu.id = "B6";
  cpu.figure = "CPU time per login (controller + PostgreSQL)";
  cpu.unit = "ms";
  cpu.value = login_cpu_s * 1e3;
  cpu.baseline = "CPU time per raw verify";
  cpu.baseline_value = raw_cpu_s * 1e3;
  cpu.details = common;
  cpu.details["postgres_cpu_ms_per_login"] =
      m.logins.operations > 0
          ? static_cast<double>(m.pg_cpu.count()) * 1e-6 / static_cast<double>(m.logins.operations)
          : 0;
  RC_TRY(out.add(cpu));

  const double per_core = login_cpu_s > 0 ? 1 / login_cpu_s : 0;
  const double needed = kSeedLogins / kSeedSeconds * login_cpu_s;
  const double wall_per_core = m.logins.rate(threads) / static_cast<double>(threads);
  Record cores;
  cores.id = "B6";
  cores.figure =
      "cores for 1,000 logins in 3 s (at " + format_number(per_core, 1) + " logins/s per core)";
  cores.unit = "cores";
  cores.value = std::ceil(needed);
  cores.details = common;
  cores.details["logins_per_cpu_second"] = per_core;
  cores.details["cores_exact"] = needed;
  cores.details["wall_logins_per_s_per_core"] = wall_per_core;
  cores.details["cores_at_wall_rate"] =
      wall_per_core > 0 ? kSeedLogins / kSeedSeconds / wall_per_core : 0;
  return out.add(cores);
}

Status run(Output& out, const CommonOptions& options) {
  const std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
  const milliseconds duration(options.quick ? 4'000 : 30'000);
  // Accounts per client thread (logins cycle through them); each registration costs a hash.
  const std::size_t accounts_per_thread = options.quick ? 2 : 8;
  const auto setup_started = SteadyClock::now();
  if (sodium_init() < 0) return make_error(ErrorCode::kInternal, "libsodium cannot initialise");
  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b6-work-"));
  const SystemClock clock;
  RC_ASSIGN_OR_RETURN(std::unique_ptr<Rig> rig, start_rig(scratch.path(), clock));
  RC_ASSIGN_OR_RETURN(Accounts accounts,
                      register_accounts(rig->ctl->public_port(), threads, accounts_per_thread));
  const auto registered = SteadyClock::now();
  RC_TRY(read_hashes(rig->conninfo, accounts));
  const std::string params = hash_params(accounts[0][0].hash);
  std::cout << "B6: " << threads << " client threads for " << duration.count()
            << " ms, each alternating a login and a raw verify, Argon2id " << params << " ..."
            << std::endl;
  std::cout << "  set-up: PostgreSQL and Mosquitto "
            << format_number(ms_between(setup_started, rig->pg_started), 0) << " ms, migrations "
            << format_number(ms_between(rig->pg_started, rig->migrated), 0) << " ms, controller "
            << format_number(ms_between(rig->migrated, rig->ctl_started), 0) << " ms, "
            << threads * accounts_per_thread << " accounts "
            << format_number(ms_between(rig->ctl_started, registered), 0) << " ms" << std::endl;
  RC_ASSIGN_OR_RETURN(const Measured m, measure(*rig, accounts, duration));
  const nlohmann::json common = {{"quick", options.quick},
                                 {"threads", threads},
                                 {"cores", std::thread::hardware_concurrency()},
                                 {"argon2id", params},
                                 {"duration_ms", duration.count()},
                                 {"accounts", threads * accounts_per_thread}};
  RC_TRY(add_rate_record(out, m, threads, params, common));
  return add_cost_records(out, m, threads, common);
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{"B6: controller logins/s beside raw Argon2id verifies", "bench_b6_logins"};
  return reclothes::bench::run_benchmark(argc, argv, app, reclothes::bench::run);
}
