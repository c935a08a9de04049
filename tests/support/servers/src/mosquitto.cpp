#include "reclothes/testsupport/mosquitto.h"

#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <utility>

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

const LocalServer::Kind& mosquitto_kind() {
  static const LocalServer::Kind broker{"mosquitto", kUser, "mosquitto.log"};
  return broker;
}

}  // namespace

Result<std::unique_ptr<MosquittoServer>> MosquittoServer::start(Options options) {
  // The broker runs as `mosquitto` and writes its persistence file into the directory.
  RC_ASSIGN_OR_RETURN(TempDir dir, make_dir(mosquitto_kind()));
  std::unique_ptr<MosquittoServer> server(new MosquittoServer(std::move(options), std::move(dir)));
  RC_TRY(server->launch());
  return server;
}

MosquittoServer::MosquittoServer(Options options, TempDir dir)
    : LocalServer(mosquitto_kind(), std::move(dir)), options_(std::move(options)) {}

MosquittoServer::~MosquittoServer() {
  // SIGTERM first so that the broker closes its clients' connections in order; the directory goes
  // either way.
  stop_quietly(kDestructorGrace, SIGTERM);
}

std::string MosquittoServer::uri() const { return "tcp://127.0.0.1:" + std::to_string(port()); }

Result<std::vector<std::string>> MosquittoServer::command_line(int port) const {
  const auto config_path = dir() / "mosquitto.conf";
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
  if (!config) return make_error(ErrorCode::kIo, "writing " + config_path.string());
  return std::vector<std::string>{broker_binary(), "-c", config_path.string()};
}

Status MosquittoServer::launch() {
  return LocalServer::launch([this](int port) { return command_line(port); }, kReadyTimeout);
}

Status MosquittoServer::stop() { return stop_with(kStopGrace, SIGTERM, "on SIGTERM"); }

Status MosquittoServer::kill() { return kill_now(); }

Status MosquittoServer::restart() {
  RC_TRY(check_stopped());
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
