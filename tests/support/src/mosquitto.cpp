#include "reclothes/testsupport/mosquitto.h"

#include <sys/stat.h>

#include <fstream>

#include "internal.h"

namespace reclothes::testsupport {
namespace {

using std::chrono::milliseconds;

constexpr char kUser[] = "mosquitto";
constexpr milliseconds kReadyTimeout{10'000};
constexpr milliseconds kStopGrace{10'000};
constexpr milliseconds kDestructorGrace{3'000};

std::string broker_binary() {
  return internal::env_or("RECLOTHES_MOSQUITTO", "/usr/sbin/mosquitto");
}

struct FileIdentity {
  bool exists = false;
  ino_t inode = 0;
  timespec modified{};
  bool operator==(const FileIdentity& other) const {
    return exists == other.exists && inode == other.inode &&
           modified.tv_sec == other.modified.tv_sec && modified.tv_nsec == other.modified.tv_nsec;
  }
};

FileIdentity identity_of(const std::filesystem::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return {};
  return FileIdentity{true, info.st_ino, info.st_mtim};
}

}  // namespace

Result<std::unique_ptr<MosquittoServer>> MosquittoServer::start(Options options) {
  std::unique_ptr<MosquittoServer> server(new MosquittoServer());
  server->options_ = std::move(options);
  RC_ASSIGN_OR_RETURN(TempDir dir, TempDir::create("reclothes-mosquitto-"));
  server->dir_ = std::make_unique<TempDir>(std::move(dir));
  // The broker runs as `mosquitto` and writes its persistence file here.
  RC_TRY(chown_to_user(server->dir(), kUser));
  RC_TRY(server->launch());
  return server;
}

MosquittoServer::~MosquittoServer() {
  // SIGTERM first so that the broker closes its clients' connections in order; the directory goes
  // either way.
  if (process_ && process_->running()) (void)process_->stop(kDestructorGrace);
  process_.reset();
  dir_.reset();
}

std::string MosquittoServer::uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

const std::filesystem::path& MosquittoServer::dir() const { return dir_->path(); }

std::filesystem::path MosquittoServer::log_path() const { return dir() / "mosquitto.log"; }

pid_t MosquittoServer::pid() const { return process_ ? process_->pid() : -1; }

bool MosquittoServer::running() const { return process_ && process_->running(); }

Status MosquittoServer::launch() {
  return internal::start_with_port_retries(port_, [this](int port, bool& port_taken) -> Status {
    const auto config_path = dir() / "mosquitto.conf";
    {
      std::ofstream config(config_path, std::ios::trunc);
      config << "# Written by reclothes::testsupport::MosquittoServer.\n"
             << "listener " << port << " 127.0.0.1\n"
             << "allow_anonymous " << (options_.allow_anonymous ? "true" : "false")
             << "\n"
             // The default (1000) silently drops queued QoS 1 messages of an offline client.
             << "max_queued_messages 200000\n"
             // Into our log file (SpawnOptions::log_path), together with errors printed before
             // the broker has read its logging settings.
             << "log_dest stderr\n"
             << "log_timestamp_format %Y-%m-%dT%H:%M:%S\n";
      if (options_.persistence) {
        config << "persistence true\n"
               << "persistence_location " << dir().string()
               << "\n"
               // Crash tests need a known bound on what a kill loses: one second of changes.
               << "autosave_interval 1\n";
      } else {
        config << "persistence false\n";
      }
      if (!options_.extra_config.empty()) config << options_.extra_config << "\n";
      config.flush();
      if (!config) {
        return make_error(ErrorCode::kIo, "writing " + config_path.string());
      }
    }
    const auto log_offset = internal::file_size_or_zero(log_path());
    SpawnOptions spawn_options;
    spawn_options.log_path = log_path();
    spawn_options.working_dir = dir();
    // As root we switch users ourselves: mosquitto dropping privileges on its own would clear the
    // death signal that ties it to the test process.
    spawn_options.run_as_user = kUser;
    auto process = Process::spawn({broker_binary(), "-c", config_path.string()}, spawn_options);
    if (!process.ok()) return std::move(process).error().with_context("starting mosquitto");
    process_ = std::move(process).value();

    Status ready = wait_until_listening(*process_, port, kReadyTimeout);
    if (ready.ok()) return ok_status();
    (void)process_->kill();
    const std::string log = internal::read_log_from(log_path(), log_offset);
    port_taken = log.find("Address already in use") != std::string::npos;
    return std::move(ready).error().with_context("starting mosquitto (log " + log_path().string() +
                                                 " ends with:\n" + log + ")");
  });
}

Status MosquittoServer::stop() {
  if (!running()) return ok_status();
  RC_ASSIGN_OR_RETURN(const int status, process_->stop(kStopGrace));
  if (status != 0) {
    return make_error(ErrorCode::kInternal, "mosquitto exited with status " +
                                                std::to_string(status) + " on SIGTERM; see " +
                                                log_path().string());
  }
  return ok_status();
}

Status MosquittoServer::kill() {
  if (!running()) return ok_status();
  RC_TRY(process_->kill());
  return ok_status();
}

Status MosquittoServer::restart() {
  if (running()) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "mosquitto is still running: stop() or kill() it before restart()");
  }
  return launch();
}

Status MosquittoServer::wait_for_autosave(milliseconds timeout) {
  if (!options_.persistence) {
    return make_error(ErrorCode::kFailedPrecondition, "mosquitto runs without persistence");
  }
  // Each save writes mosquitto.db.new and renames it over mosquitto.db, so a save shows as a new
  // inode (or at least a new mtime). The broker is single-threaded: a save that ends after this
  // call began holds everything the broker had acknowledged before it.
  const auto db = dir() / "mosquitto.db";
  const FileIdentity before = identity_of(db);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (identity_of(db) == before) {
    if (!running()) {
      return make_error(ErrorCode::kFailedPrecondition, "mosquitto is not running");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(ErrorCode::kDeadlineExceeded, "mosquitto did not save " + db.string() +
                                                          " within " +
                                                          std::to_string(timeout.count()) + " ms");
    }
    internal::sleep_for(milliseconds{10});
  }
  return ok_status();
}

}  // namespace reclothes::testsupport
