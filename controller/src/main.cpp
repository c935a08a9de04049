// reclothes-controller: serve, migrate, create-staff, check-config.
//
// Exit codes: 0 success; 1 a runtime failure (database, broker, bind); 2 a usage or configuration
// error; 3 the database schema is behind (run `migrate`) or ahead of this binary.
#include <pthread.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
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

int fail(const reclothes::Error& e, int code) {
  std::fprintf(stderr, "reclothes-controller: %s\n", e.to_string().c_str());
  return code;
}

reclothes::Result<rc::ControllerConfig> config_or_exit(const std::string& path) {
  auto c = rc::load_config(path);
  if (!c.ok()) std::fprintf(stderr, "reclothes-controller: %s\n", c.error().to_string().c_str());
  return c;
}

int serve(const std::string& config_path) {
  auto config = config_or_exit(config_path);
  if (!config.ok()) return kExitUsage;
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
    return fail(controller.error(), code == reclothes::ErrorCode::kFailedPrecondition ||
                                            code == reclothes::ErrorCode::kDataLoss
                                        ? kExitSchema
                                        : kExitRuntime);
  }
  if (auto s = (*controller)->start(); !s.ok()) return fail(s.error(), kExitRuntime);
  int sig = 0;
  sigwait(&signals, &sig);
  log.info("stopping", {{"signal", sig}});
  (*controller)->stop();
  return 0;
}

int migrate(const std::string& config_path) {
  auto config = config_or_exit(config_path);
  if (!config.ok()) return kExitUsage;
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
  if (!config.ok()) return kExitUsage;
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
    if (!c.ok()) return kExitUsage;
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }
  if (staff_cmd->parsed()) return create_staff(config_path, email, roles, name);
  return kExitUsage;
}
