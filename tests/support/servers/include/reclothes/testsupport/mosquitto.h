// A real Mosquitto broker on a free loopback port in a temporary directory.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/testsupport/local_server.h"

namespace reclothes::testsupport {

class MosquittoServer : public LocalServer {
 public:
  struct Options {
    // Keep sessions, subscriptions, queued QoS 1 messages and retained messages across restart():
    // saved on stop() and every second (autosave_interval 1); kill() loses what changed since the
    // last save (see wait_for_autosave()).
    bool persistence = true;
    std::string extra_config;     // appended to mosquitto.conf (e.g. TLS listeners, ACLs)
    bool allow_anonymous = true;  // on the plain listener
  };

  // Writes mosquitto.conf into a new temp dir, starts mosquitto (as user `mosquitto` when root) on
  // a free port, waits until it listens. A port taken by someone else meanwhile: retried with a new
  // port, up to 5 times. Errors quote the end of the broker's log.
  static Result<std::unique_ptr<MosquittoServer>> start(Options options);
  static Result<std::unique_ptr<MosquittoServer>> start() { return start(Options{}); }
  ~MosquittoServer();  // stops the broker and removes the directory

  // port(), dir(), log_path() (mosquitto.log), pid() and running(): LocalServer.
  std::string uri() const;  // "tcp://127.0.0.1:<port>"

  Status stop();  // SIGTERM: a clean shutdown that saves persistence
  Status kill();  // SIGKILL: a crash
  // Start again on the same port and directory (after stop or kill; kFailedPrecondition while
  // running). If someone took the port meanwhile, it fails after a few tries with that reason.
  Status restart();
  // Waits until the broker has written its persistence file after this call: everything the
  // broker had acknowledged before the call then survives kill(). kFailedPrecondition without
  // persistence or while stopped, kDeadlineExceeded on timeout.
  Status wait_for_autosave(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  MosquittoServer(Options options, TempDir dir);
  Status launch();
  // Writes mosquitto.conf for a start on `port`; the broker's command line.
  Result<std::vector<std::string>> command_line(int port) const;
  Options options_;
};

}  // namespace reclothes::testsupport
