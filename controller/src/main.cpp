// reclothes-controller: serve, migrate, create-staff, check-config.
//
// Exit codes: 0 success; 1 a runtime failure (database, broker, bind); 2 a bad command line;
// 3 the database schema is behind (run `migrate`) or ahead of this binary; 4 the configuration is
// missing, invalid or refused at start-up. The systemd unit does not restart on 2, 3 and 4 (only
// a person can fix them): keep them distinct from 1.
#include <pthread.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/controller/accounts.h"
#include "reclothes/controller/compose.h"
#include "reclothes/controller/config.h"
#include "reclothes/controller/controller.h"
#include "reclothes/controller/migrations.h"

#ifndef RECLOTHES_VERSION
#define RECLOTHES_VERSION "0.0.0"
#endif

namespace rc = reclothes::controller;

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;
constexpr int kExitSchema = 3;
constexpr int kExitConfig = 4;

constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  success (serve: stopped by SIGTERM or SIGINT)\n"
    "  1  runtime failure: PostgreSQL unreachable, a port taken, a migration's SQL failed\n"
    "  2  bad command line; create-staff: unknown role, password refused, email taken\n"
    "  3  database schema behind (run migrate) or ahead of this binary\n"
    "  4  configuration file missing or invalid, or refused at start-up (domain settings\n"
    "     inconsistent with tokens.max_validity_s, a bad mqtt.uri)\n";

int fail(const reclothes::Error& e, int code) {
  std::fprintf(stderr, "reclothes-controller: %s\n", e.to_string().c_str());
  return code;
}

reclothes::Result<rc::ControllerConfig> config_or_exit(const std::string& path) {
  auto c = rc::load_config(path);
  if (!c.ok()) std::fprintf(stderr, "reclothes-controller: %s\n", c.error().to_string().c_str());
  return c;
}

// systemd (sd_notify(3), libsystemd): every call is a no-op when NOTIFY_SOCKET is unset, so
// `serve` behaves the same in a terminal, in a container and in the tests. Waits for SIGINT or
// SIGTERM; while waiting, pings the watchdog at half of WatchdogSec when systemd asked for it
// (WATCHDOG_USEC, checked against WATCHDOG_PID by sd_watchdog_enabled). The ping comes from this
// loop, so a process that is frozen or has its main thread stuck is killed and restarted.
int run_until_signal(const sigset_t& signals, const rc::Controller& controller,
                     const rc::Log& log) {
  const std::string status = "STATUS=listening: public port " +
                             std::to_string(controller.public_port()) + ", internal port " +
                             std::to_string(controller.internal_port());
  sd_notify(0, ("READY=1\n" + status).c_str());
  std::uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) <= 0) watchdog_usec = 0;
  if (watchdog_usec > 0) {
    log.info("systemd watchdog on",
             {{"interval_ms", static_cast<std::int64_t>(watchdog_usec / 2000)}});
  }
  int sig = 0;
  while (true) {
    if (watchdog_usec == 0) {
      if (sigwait(&signals, &sig) == 0) break;
      continue;
    }
    const std::uint64_t half = watchdog_usec / 2;
    timespec timeout{static_cast<std::time_t>(half / 1000000),
                     static_cast<long>((half % 1000000) * 1000)};
    sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig > 0) break;
    if (errno == EAGAIN) sd_notify(0, "WATCHDOG=1");
  }
  sd_notify(0, "STOPPING=1");
  return sig;
}

int serve(const std::string& config_path) {
  auto config = config_or_exit(config_path);
  if (!config.ok()) return kExitConfig;
  // Block the stop signals in every thread (the ones started below inherit the mask); the main
  // thread waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  reclothes::SystemClock clock;
  auto log = rc::Log::to_stderr(config->log);
  // Each open HTTP connection is a file descriptor: take the hard limit (the soft one is often
  // 1,024), and say when it is below what the listeners may hold.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
    ::getrlimit(RLIMIT_NOFILE, &files);
    const auto wanted = 2 * config->http.max_connections + 256;
    if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < wanted) {
      log.warn("open-file limit below http.max_connections for both listeners; raise LimitNOFILE",
               {{"limit", static_cast<std::int64_t>(files.rlim_cur)},
                {"wanted", static_cast<std::int64_t>(wanted)}});
    }
  }
  auto controller = rc::make_controller(*config, clock, log);
  if (!controller.ok()) {
    const auto code = controller.error().code;
    if (code == reclothes::ErrorCode::kInvalidArgument)
      return fail(controller.error(), kExitConfig);
    return fail(controller.error(), code == reclothes::ErrorCode::kFailedPrecondition ||
                                            code == reclothes::ErrorCode::kDataLoss
                                        ? kExitSchema
                                        : kExitRuntime);
  }
  // The schema was checked by make_controller; start() returns once both listeners are bound and
  // listening, so a client may connect as soon as systemd hears READY=1.
  if (auto s = (*controller)->start(); !s.ok()) return fail(s.error(), kExitRuntime);
  const int sig = run_until_signal(signals, **controller, log);
  log.info("stopping", {{"signal", sig}});
  (*controller)->stop();
  return 0;
}

int migrate(const std::string& config_path) {
  auto config = config_or_exit(config_path);
  if (!config.ok()) return kExitConfig;
  auto db = rc::Database::open({config->database.conninfo, 1, config->database.acquire_timeout});
  if (!db.ok()) return fail(db.error(), kExitRuntime);
  auto report = rc::migrate(**db);
  if (!report.ok()) {
    return fail(report.error(), report.error().code == reclothes::ErrorCode::kInternal
                                    ? kExitRuntime
                                    : kExitSchema);
  }
  if (report->applied.empty()) {
    std::printf("database schema is up to date (version %d)\n", report->current_version);
  } else {
    for (int v : report->applied) std::printf("applied migration %04d\n", v);
    std::printf("database schema is now at version %d\n", report->current_version);
  }
  return 0;
}

int create_staff(const std::string& config_path, const std::string& email,
                 const std::vector<std::string>& role_names, const std::string& name) {
  auto config = config_or_exit(config_path);
  if (!config.ok()) return kExitConfig;
  std::vector<rc::Role> roles;
  for (const auto& n : role_names) {
    auto r = rc::role_from_string(n);
    if (!r) {
      std::fprintf(stderr, "reclothes-controller: unknown role \"%s\"\n", n.c_str());
      return kExitUsage;
    }
    roles.push_back(*r);
  }
  // The password never goes on the command line (it would show in ps and shell history).
  std::string password;
  if (const char* env = std::getenv("RECLOTHES_STAFF_PASSWORD")) {
    password = env;
  } else {
    std::getline(std::cin, password);
  }
  auto hasher = rc::PasswordHasher::create(config->passwords);
  if (!hasher.ok()) return fail(hasher.error(), kExitRuntime);
  if (auto problem = hasher->policy_problem(password)) {
    std::fprintf(stderr, "reclothes-controller: password %s\n", problem->c_str());
    return kExitUsage;
  }
  auto db = rc::Database::open({config->database.conninfo, 1, config->database.acquire_timeout});
  if (!db.ok()) return fail(db.error(), kExitRuntime);
  if (auto s = rc::check_schema(**db); !s.ok()) return fail(s.error(), kExitSchema);
  reclothes::SystemClock clock;
  auto staff = (*db)->with_transaction([&](pqxx::work& tx) -> reclothes::Result<rc::StaffRecord> {
    auto created = rc::create_staff(tx, *hasher, clock, email, password, name, roles);
    if (!created.ok()) return created;
    rc::AuditLog(**db, clock)
        .write(tx, rc::AuditEntry{"system", std::nullopt, "staff.create", "staff",
                                  std::to_string(created->id), nullptr, created->to_json(), "", "",
                                  false, "created with the create-staff command"});
    return created;
  });
  if (!staff.ok()) {
    return fail(staff.error(), staff.error().code == reclothes::ErrorCode::kAlreadyExists ||
                                       staff.error().code == reclothes::ErrorCode::kInvalidArgument
                                   ? kExitUsage
                                   : kExitRuntime);
  }
  std::printf("%s\n", staff->to_json().dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ReClothes controller: REST API, PostgreSQL store and MQTT bridge"};
  app.set_version_flag("--version", std::string("reclothes-controller ") + RECLOTHES_VERSION);
  app.require_subcommand(1);
  app.footer(kExitCodesHelp);

  std::string config_path;
  auto* serve_cmd = app.add_subcommand("serve", "Run the HTTP listeners and the MQTT bridge");
  serve_cmd->add_option("--config", config_path, "Configuration file (JSON)")->required();

  auto* migrate_cmd = app.add_subcommand("migrate", "Apply pending database migrations");
  migrate_cmd->add_option("--config", config_path, "Configuration file (JSON)")->required();

  auto* check_cmd = app.add_subcommand("check-config", "Validate a configuration file");
  check_cmd->add_option("--config", config_path, "Configuration file (JSON)")->required();

  std::string email;
  std::string name;
  std::vector<std::string> roles;
  auto* staff_cmd = app.add_subcommand(
      "create-staff",
      "Create a staff account (bootstrap the first super admin). The password is read from "
      "RECLOTHES_STAFF_PASSWORD or the first line of stdin");
  staff_cmd->add_option("--config", config_path, "Configuration file (JSON)")->required();
  staff_cmd->add_option("--email", email, "Email (login name)")->required();
  staff_cmd->add_option("--role", roles,
                        "Role (repeatable): checker, packer, delivery, manager, "
                        "user_admin, super_admin");
  staff_cmd->add_option("--name", name, "Display name");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (serve_cmd->parsed()) return serve(config_path);
  if (migrate_cmd->parsed()) return migrate(config_path);
  if (check_cmd->parsed()) {
    auto c = config_or_exit(config_path);
    if (!c.ok()) return kExitConfig;
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }
  if (staff_cmd->parsed()) return create_staff(config_path, email, roles, name);
  return kExitUsage;
}
