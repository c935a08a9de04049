#include "reclothes/testsupport/postgres.h"

#include <libpq-fe.h>
#include <sys/shm.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

#include "internal.h"

namespace reclothes::testsupport {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kUser[] = "postgres";
constexpr milliseconds kInitdbTimeout{120'000};
constexpr milliseconds kReadyTimeout{60'000};  // includes crash recovery after kill()
constexpr milliseconds kStopGrace{30'000};     // a fast shutdown still writes a checkpoint
constexpr milliseconds kDestructorGrace{5'000};
constexpr milliseconds kBackendsGoneTimeout{10'000};

std::filesystem::path bin_dir() {
  return internal::env_or("RECLOTHES_PG_BINDIR", "/usr/lib/postgresql/15/bin");
}

// libpq keyword/value strings need quotes around values with spaces, quotes or backslashes.
std::string conninfo_value(const std::string& value) {
  if (!value.empty() && value.find_first_of(" '\\") == std::string::npos) return value;
  std::string quoted = "'";
  for (const char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

Result<std::vector<std::string>> parse_extra_args(const std::string& text) {
  std::vector<std::string> args;
  std::istringstream words(text);
  std::string word;
  bool after_c = false;
  while (words >> word) {
    if (word == "-c" && !after_c) {
      after_c = true;
      continue;
    }
    if (word.find('=') == std::string::npos || word.front() == '-' || word.front() == '=') {
      return make_error(ErrorCode::kInvalidArgument,
                        "PostgresServer extra_args: expected \"name=value\" or \"-c name=value\", "
                        "got \"" +
                            word + "\"");
    }
    args.push_back("-c");
    args.push_back(word);
    after_c = false;
  }
  if (after_c) {
    return make_error(ErrorCode::kInvalidArgument, "PostgresServer extra_args: \"-c\" at the end");
  }
  return args;
}

struct ConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};

// The SysV segment a postmaster registers in line 7 of postmaster.pid ("key id"), and the
// postmaster's pid from line 1. Every child of that postmaster stays attached to it until it exits;
// a new postmaster refuses to start while anyone is attached.
struct SharedMemoryRecord {
  pid_t postmaster = 0;
  int id = -1;
};

std::optional<SharedMemoryRecord> read_shared_memory_record(const std::filesystem::path& pid_file) {
  std::ifstream in(pid_file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.size() < 7) return std::nullopt;
  SharedMemoryRecord record;
  long key = 0;
  std::istringstream first(lines[0]);
  std::istringstream seventh(lines[6]);
  if (!(first >> record.postmaster) || !(seventh >> key >> record.id)) return std::nullopt;
  return record;
}

const LocalServer::Kind& postgres_kind() {
  // initdb and postgres run as `postgres` (initdb refuses root): they create data/ and the socket
  // in the directory.
  static const LocalServer::Kind server{"postgres", kUser, "postgres.log"};
  return server;
}

}  // namespace

Result<std::unique_ptr<PostgresServer>> PostgresServer::start(Options options) {
  RC_TRY(parse_extra_args(options.extra_args));  // fail before the slow initdb
  RC_ASSIGN_OR_RETURN(TempDir dir, make_dir(postgres_kind()));
  std::unique_ptr<PostgresServer> server(new PostgresServer(std::move(options), std::move(dir)));
  RC_TRY(server->initdb());
  RC_TRY(server->launch());
  return server;
}

PostgresServer::PostgresServer(Options options, TempDir dir)
    : LocalServer(postgres_kind(), std::move(dir)), options_(std::move(options)) {}

PostgresServer::~PostgresServer() {
  // Immediate shutdown (SIGQUIT): the postmaster ends its backends and waits for them; nothing of
  // the cluster needs to survive.
  stop_quietly(kDestructorGrace, SIGQUIT);
  (void)await_backends_gone();
}

Status PostgresServer::initdb() {
  const auto initdb_log = dir() / "initdb.log";
  std::vector<std::string> argv = {(bin_dir() / "initdb").string(),
                                   "-D",
                                   (dir() / "data").string(),
                                   "-U",
                                   "postgres",
                                   "-A",
                                   "trust",
                                   "-E",
                                   "UTF8",
                                   "--locale=C.UTF-8"};
  if (!options_.durable) argv.emplace_back("--no-sync");
  SpawnOptions spawn_options;
  spawn_options.log_path = initdb_log;
  spawn_options.working_dir = dir();
  spawn_options.run_as_user = kUser;
  auto initdb = Process::spawn(std::move(argv), spawn_options);
  if (!initdb.ok()) return std::move(initdb).error().with_context("running initdb");
  auto status = (*initdb)->wait(kInitdbTimeout);
  if (!status.ok() || *status != 0) {
    return make_error(
        ErrorCode::kInternal,
        "initdb failed (" +
            (status.ok() ? "exit status " + std::to_string(*status) : status.error().to_string()) +
            "); " + initdb_log.string() + " ends with:\n" + internal::read_log_from(initdb_log, 0));
  }
  return ok_status();
}

std::string PostgresServer::connection_string(const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port()) +
         " user=postgres dbname=" + conninfo_value(dbname);
}

Result<std::string> PostgresServer::create_database(const std::string& name) {
  const bool valid_start = !name.empty() && ((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_');
  bool valid = valid_start && name.size() <= 63;
  for (const char c : name) {
    valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  }
  if (!valid) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "database name must match [a-z_][a-z0-9_]* (at most 63 characters): \"" + name + "\"");
  }
  std::unique_ptr<PGconn, ConnDeleter> conn(PQconnectdb(connection_string().c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return make_error(ErrorCode::kUnavailable,
                      std::string("connecting to postgres: ") + PQerrorMessage(conn.get()));
  }
  std::unique_ptr<PGresult, ResultDeleter> result(
      PQexec(conn.get(), ("CREATE DATABASE " + name).c_str()));
  if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    const char* sqlstate = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
    const bool exists = sqlstate != nullptr && std::string_view(sqlstate) == "42P04";
    return make_error(exists ? ErrorCode::kAlreadyExists : ErrorCode::kInternal,
                      "CREATE DATABASE " + name + ": " + PQerrorMessage(conn.get()));
  }
  return connection_string(name);
}

Status PostgresServer::launch() {
  RC_ASSIGN_OR_RETURN(const std::vector<std::string> extra, parse_extra_args(options_.extra_args));
  const auto command_line = [&](int port) -> Result<std::vector<std::string>> {
    // The postgres binary itself rather than pg_ctl: the pid we hold is then the postmaster.
    std::vector<std::string> argv = {(bin_dir() / "postgres").string(),
                                     "-D",
                                     (dir() / "data").string(),
                                     "-p",
                                     std::to_string(port),
                                     "-k",
                                     dir().string(),  // not /var/run/postgresql
                                     "-c",
                                     "listen_addresses=127.0.0.1"};
    if (!options_.durable) {
      for (const char* setting : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
        argv.emplace_back("-c");
        argv.emplace_back(setting);
      }
    } else {
      // Crash recovery first syncs the data directory: one fsync per file took ~3 s here, one
      // syncfs() of the filesystem ~0.2 s, with the same guarantee on Linux.
      argv.emplace_back("-c");
      argv.emplace_back("recovery_init_sync_method=syncfs");
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  };
  // Listening is not ready: during start-up and recovery the server answers "starting up".
  const auto answers_queries = [this](Process& server, Clock::time_point deadline) -> Status {
    const std::string ping = connection_string() + " connect_timeout=5";
    while (PQping(ping.c_str()) != PQPING_OK) {
      if (!server.running()) {
        return make_error(
            ErrorCode::kUnavailable,
            "postgres exited with status " + std::to_string(server.exit_status().value_or(-1)));
      }
      if (Clock::now() >= deadline) {
        return make_error(ErrorCode::kDeadlineExceeded, "postgres did not answer PQping in time");
      }
      internal::sleep_for(milliseconds{20});
    }
    return ok_status();
  };
  return LocalServer::launch(command_line, kReadyTimeout, answers_queries,
                             [this] { (void)await_backends_gone(); });
}

Status PostgresServer::stop() { return stop_with(kStopGrace, SIGINT, "on fast shutdown"); }

Status PostgresServer::kill() {
  if (!running()) return ok_status();
  RC_TRY(kill_now());
  return await_backends_gone();
}

Status PostgresServer::restart() {
  RC_TRY(check_stopped());
  return launch();
}

Status PostgresServer::await_backends_gone() {
  // A clean exit removes postmaster.pid; after a crash it stays and names the segment.
  const auto record = read_shared_memory_record(dir() / "data" / "postmaster.pid");
  if (!record || record->id < 0) return ok_status();
  const auto deadline = Clock::now() + kBackendsGoneTimeout;
  while (true) {
    shmid_ds info{};
    if (::shmctl(record->id, IPC_STAT, &info) != 0) return ok_status();  // already removed
    if (info.shm_cpid != record->postmaster) return ok_status();  // the id is someone else's now
    if (info.shm_nattch == 0) {
      // Nobody is attached: remove it, as the next postmaster would, so that a killed cluster that
      // is never restarted leaves no segment behind.
      ::shmctl(record->id, IPC_RMID, nullptr);
      return ok_status();
    }
    if (Clock::now() >= deadline) {
      return make_error(ErrorCode::kDeadlineExceeded,
                        std::to_string(info.shm_nattch) + " postgres backend(s) of postmaster " +
                            std::to_string(record->postmaster) + " still alive after " +
                            std::to_string(kBackendsGoneTimeout.count()) + " ms");
    }
    internal::sleep_for(milliseconds{10});
  }
}

}  // namespace reclothes::testsupport
