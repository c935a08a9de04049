// A real PostgreSQL 15 cluster (initdb in a temp dir, postgres on a free loopback port).
// As root, initdb and postgres run as the `postgres` user (initdb refuses root).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "reclothes/common/result.h"
#include "reclothes/testsupport/local_server.h"

namespace reclothes::testsupport {

class PostgresServer : public LocalServer {
 public:
  struct Options {
    // false: initdb --no-sync, fsync=off, synchronous_commit=off, full_page_writes=off (fast);
    // kill() may then lose the commits of the last moment. true: kill() loses nothing committed.
    bool durable = false;
    // Extra settings, space separated: "-c name=value" or just "name=value"
    // (e.g. "max_connections=20 -c log_statement=all"). Anything else: kInvalidArgument.
    std::string extra_args;
  };

  // initdb in a new temp dir, then postgres (as user `postgres` when root) on a free port; returns
  // once it answers queries. A port taken by someone else meanwhile: retried with a new port, up
  // to 5 times. Errors quote the end of initdb's or the server's log.
  static Result<std::unique_ptr<PostgresServer>> start(Options options);
  static Result<std::unique_ptr<PostgresServer>> start() { return start(Options{}); }
  ~PostgresServer();  // stops the server (immediate) and removes the directory

  // port(), dir() (data/ is the cluster), log_path() (postgres.log), pid() (the postmaster) and
  // running(): LocalServer.
  // libpq keyword/value connection string: "host=127.0.0.1 port=N user=postgres dbname=<db>".
  std::string connection_string(const std::string& dbname = "postgres") const;
  // CREATE DATABASE name; returns its connection string. name: [a-z_][a-z0-9_]*, at most 63
  // characters (kInvalidArgument otherwise); kAlreadyExists if it exists.
  Result<std::string> create_database(const std::string& name);

  Status stop();  // fast shutdown (SIGINT)
  // SIGKILL of the postmaster: a crash; restart() runs recovery. Returns once the backends, which
  // notice the postmaster's death by themselves, are gone too (else a restart would refuse).
  Status kill();
  // Start again on the same port and data directory (kFailedPrecondition while running).
  Status restart();

 private:
  PostgresServer(Options options, TempDir dir);
  Status initdb();
  Status launch();
  Status await_backends_gone();
  Options options_;
};

}  // namespace reclothes::testsupport
