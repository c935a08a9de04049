// B3: outbox backlog drain. A box that was offline has N events (10,000; quick: 1,000) in its
// journal (the firmware's Journal, WAL, synchronous=FULL). Its own sync (firmware::Sync: Paho,
// QoS 1, batches of 64, a window of 1,024 unacked events, cumulative acks, docs/box-sync.md) then
// connects to a real Mosquitto and drains them to an acker that plays the controller: a child
// process (this binary, `acker` mode, as the controller is a process of its own) that subscribes
// to the boxes' events topics and publishes msg::Ack{highest seq applied} for every batch that
// continues what it has applied. Figure: events/s from the moment the sync is connected until it
// has marked every event acked in the journal.
//
// Baseline, same broker, same run, rounds interleaved with the drain: mosquitto_pub -q 1 -l
// publishing N lines, each one event as its own `events` message (the payload a box would send
// with batches of one), to a mosquitto_sub -q 1 that prints each arrival's time (-F %U). The rate
// is taken from the first arrival to the last, so the publisher's start-up and connect are not
// charged to the baseline (the drain is charged with its first batch and its last ack).
// Target: drain >= 0.25 x that baseline. The very messages the box sends (N / 64 batches of 64
// events) are also sent the same way and kept in the record's details: what the broker alone
// does with the same bytes (far more than the drain: the broker is not what limits it).
//
// STACK.md saw mosquitto_pub -l lose messages at 100k lines; every round checks that all N
// arrived (they did at 10k in every run here) and fails the benchmark otherwise.
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "reclothes/bench/events.h"
#include "reclothes/bench/main.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/stats.h"
#include "reclothes/common/clock.h"
#include "reclothes/common/messages.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/mailbox.h"
#include "reclothes/firmware/sync.h"
#include "reclothes/simulator/acker.h"
#include "reclothes/testsupport/mosquitto.h"
#include "reclothes/testsupport/process.h"

namespace reclothes::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
namespace fs = std::filesystem;

constexpr std::string_view kAckerCommand = "acker";
constexpr std::string_view kAckerReady = "acker ready";
// Filling the journal is set-up, not measured: a few hundred events per transaction.
constexpr std::size_t kFillPerTransaction = 500;
// The sync's default batch (SyncSettings::batch_events), for the batch-shaped baseline.
constexpr std::size_t kBatchEvents = 64;
// Everything in one round (connect, drain, a raw run) must finish within this.
constexpr seconds kRoundTimeout{120};
// How often the drain's progress is looked at: fine against a drain of 100s of ms.
constexpr std::chrono::microseconds kPollEvery{250};

// ---- the acker: the controller's side, in a child process ---------------------------------

// simulator::Acker (reclothes/simulator/acker.h), as the simulator's fleet uses it: subscribes to
// every box's events (QoS 1) and answers every batch with msg::Ack{highest seq applied}, applying
// a batch only if it continues what was applied. Acks go out from its own thread, never from
// inside Paho's callback.

// `bench_b3_outbox_drain acker URI`: runs the acker until SIGTERM or SIGINT. Prints kAckerReady
// once subscribed (the parent waits for that line in the child's log).
int acker_main(const std::string& uri) {
  // Taken synchronously below; blocked before Paho starts its threads so that they inherit it.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto acker = simulator::Acker::start(
      {.uri = uri, .client_id = "bench-b3-acker-" + std::to_string(::getpid())});
  if (!acker.ok()) {
    std::cerr << acker.error().to_string() << std::endl;
    return kExitCannotRun;
  }
  std::cout << kAckerReady << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  (*acker)->stop();
  std::cout << "acker: " << (*acker)->events() << " events received, " << (*acker)->acks()
            << " acks sent, " << (*acker)->rejected() << " messages rejected" << std::endl;
  return kExitRan;
}

// ---- helpers ----------------------------------------------------------------------------------

// The bytes of a file from `offset` to its end (empty when it is shorter).
Result<std::string> read_from(const fs::path& path, std::size_t offset) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) return make_error(ErrorCode::kIo, "cannot read " + path.string() + ": " + ec.message());
  std::string text(size > offset ? static_cast<std::size_t>(size) - offset : 0, '\0');
  if (text.empty()) return text;
  std::ifstream f(path, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  f.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(f.gcount()));
  return text;
}

Result<std::string> read_text(const fs::path& path) { return read_from(path, 0); }

// The last lines of a log, for error messages.
std::string tail_of(const fs::path& path) {
  auto text = read_text(path);
  if (!text.ok()) return "(no log)";
  constexpr std::size_t kTail = 600;
  return text->size() > kTail ? "..." + text->substr(text->size() - kTail) : *text;
}

testsupport::SpawnOptions logging_to(const fs::path& log) {
  testsupport::SpawnOptions o;
  o.log_path = log;
  return o;
}

double seconds_between(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// An `events` message as the box sends it: box_id's envelope around events seq 1..count.
Result<std::string> events_payload(const std::string& box_id, std::size_t count,
                                   std::int64_t now_ms) {
  msg::Events body;
  for (std::size_t i = 0; i < count; ++i) {
    msg::Event e = unlocked_event(now_ms, i);
    e.seq = i + 1;
    body.events.push_back(std::move(e));
  }
  return msg::serialize(msg::make_envelope(box_id, now_ms, std::move(body)));
}

// ---- the drain --------------------------------------------------------------------------------

struct DrainRound {
  std::size_t events = 0;
  double start_to_connected_s = 0;  // Sync::start() until connected() (not in the figure)
  double drain_s = 0;               // connected until every event is acked: the figure
  double all_sent_s = 0;            // connected until every event was published once
  std::uint64_t batches_sent = 0;
  std::uint64_t events_sent = 0;  // duplicates included
  std::uint64_t rewinds = 0;
};

Status fill_journal(firmware::Journal& journal, const SystemClock& clock, std::size_t n) {
  std::size_t done = 0;
  while (done < n) {
    const std::size_t chunk = std::min(kFillPerTransaction, n - done);
    RC_TRY(journal.transact([&](firmware::Txn& t) -> Status {
      for (std::size_t i = 0; i < chunk; ++i) {
        auto seq = t.append_event(unlocked_event(clock.wall_ms(), done + i));
        if (!seq.ok()) return std::move(seq).error();
      }
      return ok_status();
    }));
    done += chunk;
  }
  RC_ASSIGN_OR_RETURN(const std::uint64_t backlog, journal.backlog());
  if (backlog != n) {
    return make_error(ErrorCode::kInternal, "the journal's backlog is " + std::to_string(backlog) +
                                                " after appending " + std::to_string(n));
  }
  return ok_status();
}

Result<DrainRound> drain_round(const std::string& uri, const fs::path& dir,
                               const std::string& box_id, std::size_t n) {
  const SystemClock clock;
  RC_ASSIGN_OR_RETURN(std::unique_ptr<firmware::Journal> journal,
                      firmware::Journal::open({.path = dir / "journal.db", .durable = true}));
  RC_TRY(fill_journal(*journal, clock, n));

  // The daemon's settings (firmware/src/main.cpp sync_options): all defaults but the broker and
  // the box id.
  firmware::Mailbox mailbox;
  firmware::SyncOptions options;
  options.broker_uri = uri;
  options.engine.box_id = box_id;
  RC_ASSIGN_OR_RETURN(std::unique_ptr<firmware::Sync> sync,
                      firmware::Sync::create(options, *journal, mailbox, clock));

  DrainRound r;
  r.events = n;
  const auto started = SteadyClock::now();
  const auto deadline = started + kRoundTimeout;
  RC_TRY(sync->start());
  while (!sync->connected()) {
    if (SteadyClock::now() > deadline) {
      return make_error(ErrorCode::kDeadlineExceeded, "the sync did not connect to " + uri);
    }
    std::this_thread::sleep_for(kPollEvery);
  }
  const auto connected = SteadyClock::now();
  std::optional<SteadyClock::time_point> all_sent;
  firmware::SyncStats stats;
  for (;;) {
    stats = sync->stats();
    const auto now = SteadyClock::now();
    if (!all_sent && stats.events_sent >= n) all_sent = now;
    if (stats.acked_upto >= n) break;
    if (now > deadline) {
      return make_error(ErrorCode::kDeadlineExceeded,
                        "the drain stalled: " + std::to_string(stats.events_sent) +
                            " events sent, acked up to " + std::to_string(stats.acked_upto) +
                            " of " + std::to_string(n));
    }
    std::this_thread::sleep_for(kPollEvery);
  }
  const auto done = SteadyClock::now();
  RC_ASSIGN_OR_RETURN(const std::uint64_t backlog, journal->backlog());
  if (backlog != 0) {
    return make_error(ErrorCode::kInternal,
                      "the sync says acked up to " + std::to_string(stats.acked_upto) +
                          " but the journal's backlog is " + std::to_string(backlog));
  }
  sync->stop();
  r.start_to_connected_s = seconds_between(started, connected);
  r.drain_s = seconds_between(connected, done);
  r.all_sent_s = seconds_between(connected, all_sent.value_or(done));
  r.batches_sent = stats.batches_sent;
  r.events_sent = stats.events_sent;
  r.rewinds = stats.rewinds;
  return r;
}

// ---- the raw baseline -------------------------------------------------------------------------

struct RawRound {
  std::size_t messages = 0;
  double span_s = 0;  // first arrival to last arrival at mosquitto_sub
  double pub_s = 0;   // mosquitto_pub's whole run (start-up, connect and disconnect included)
};

// Reads the complete lines mosquitto_sub has printed since the last call ("<unix time> <topic>").
class SubOutput {
 public:
  explicit SubOutput(fs::path path) : path_(std::move(path)) {}

  // Counts new lines whose topic ends with `leaf` and keeps the first and last of their times.
  Status scan(std::string_view leaf) {
    auto read = read_from(path_, offset_);
    if (!read.ok()) return ok_status();  // not created yet
    const std::string& chunk = *read;
    const std::size_t end = chunk.rfind('\n');
    if (end == std::string::npos) return ok_status();
    offset_ += end + 1;
    std::istringstream lines(chunk.substr(0, end + 1));
    std::string line;
    while (std::getline(lines, line)) {
      const std::size_t space = line.find(' ');
      if (space == std::string::npos) continue;
      const std::string_view topic = std::string_view(line).substr(space + 1);
      if (topic.size() < leaf.size() || topic.substr(topic.size() - leaf.size()) != leaf) {
        if (topic.find('/') != std::string_view::npos) ++others_;
        continue;
      }
      char* parse_end = nullptr;
      const double t = std::strtod(line.c_str(), &parse_end);
      if (parse_end != line.c_str() + space) {
        return make_error(ErrorCode::kDataLoss, "mosquitto_sub printed \"" + line + "\"");
      }
      if (count_ == 0) first_ = t;
      last_ = t;
      ++count_;
    }
    return ok_status();
  }

  std::size_t count() const { return count_; }
  // Lines of the other topics under the same base: the probes.
  std::size_t others() const { return others_; }
  double span_s() const { return last_ - first_; }

 private:
  fs::path path_;
  std::size_t offset_ = 0;
  std::size_t count_ = 0;
  std::size_t others_ = 0;
  double first_ = 0;
  double last_ = 0;
};

std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// mosquitto_sub on <base>/#, then mosquitto_pub -q 1 -l of `count` copies of `payload` to
// <base>/data; returns when mosquitto_sub has printed all of them.
Result<RawRound> raw_round(const testsupport::MosquittoServer& broker, const fs::path& dir,
                           const std::string& base, const std::string& payload, std::size_t count) {
  const fs::path lines = dir / "lines.txt";
  {
    std::ofstream f(lines, std::ios::binary | std::ios::trunc);
    for (std::size_t i = 0; i < count; ++i) f << payload << '\n';
    if (!f) return make_error(ErrorCode::kIo, "cannot write " + lines.string());
  }
  const std::string port = std::to_string(broker.port());
  const fs::path sub_log = dir / "sub.out";
  std::error_code ec;
  fs::remove(sub_log, ec);
  RC_ASSIGN_OR_RETURN(
      auto sub, testsupport::Process::spawn({"mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-q",
                                             "1", "-t", base + "/#", "-F", "%U %t"},
                                            logging_to(sub_log)));
  SubOutput out(sub_log);

  // mosquitto_sub says nothing when its subscription is in place: probe until one arrives.
  const auto deadline = SteadyClock::now() + kRoundTimeout;
  for (;;) {
    RC_ASSIGN_OR_RETURN(
        auto probe, testsupport::Process::spawn({"mosquitto_pub", "-h", "127.0.0.1", "-p", port,
                                                 "-q", "1", "-t", base + "/probe", "-m", "probe"}));
    RC_ASSIGN_OR_RETURN(const int probe_status, probe->wait(seconds(10)));
    if (probe_status != 0) {
      return make_error(ErrorCode::kUnavailable,
                        "mosquitto_pub (probe) exited with " + std::to_string(probe_status));
    }
    const auto wait_until = SteadyClock::now() + milliseconds(200);
    while (out.others() == 0 && SteadyClock::now() < wait_until) {
      RC_TRY(out.scan("/data"));
      std::this_thread::sleep_for(milliseconds(2));
    }
    if (out.others() > 0) break;
    if (!sub->running()) {
      return make_error(ErrorCode::kUnavailable, "mosquitto_sub exited: " + tail_of(sub_log));
    }
    if (SteadyClock::now() > deadline) {
      return make_error(ErrorCode::kDeadlineExceeded, "mosquitto_sub never got a probe");
    }
  }

  const auto pub_started = SteadyClock::now();
  RC_ASSIGN_OR_RETURN(
      auto pub,
      testsupport::Process::spawn({"/bin/sh", "-c",
                                   "exec mosquitto_pub -h 127.0.0.1 -p " + port + " -q 1 -t " +
                                       quoted(base + "/data") + " -l < " + quoted(lines.string())},
                                  logging_to(dir / "pub.out")));
  std::optional<SteadyClock::time_point> pub_ended;
  std::size_t seen = 0;
  auto progress_at = SteadyClock::now();
  while (out.count() < count) {
    std::this_thread::sleep_for(milliseconds(2));
    RC_TRY(out.scan("/data"));
    const auto now = SteadyClock::now();
    if (!pub_ended && !pub->running()) {
      pub_ended = now;
      if (pub->exit_status().value_or(0) != 0) {
        return make_error(ErrorCode::kUnavailable, "mosquitto_pub exited with " +
                                                       std::to_string(*pub->exit_status()) + ": " +
                                                       tail_of(dir / "pub.out"));
      }
    }
    if (out.count() != seen) {
      seen = out.count();
      progress_at = now;
    }
    // The publisher is gone and nothing more came for a while: messages were lost.
    if (pub_ended && now - progress_at > seconds(3)) {
      return make_error(ErrorCode::kDataLoss, "mosquitto_pub -q 1 -l delivered " +
                                                  std::to_string(out.count()) + " of " +
                                                  std::to_string(count) + " messages");
    }
    if (now > deadline) {
      return make_error(ErrorCode::kDeadlineExceeded,
                        "mosquitto_sub got " + std::to_string(out.count()) + " of " +
                            std::to_string(count) + " messages in time");
    }
  }
  if (!pub_ended) {
    RC_TRY(pub->wait(seconds(30)));
    pub_ended = SteadyClock::now();
  }
  RC_TRY(sub->stop(seconds(5)));
  RawRound r;
  r.messages = count;
  r.span_s = out.span_s();
  r.pub_s = seconds_between(pub_started, *pub_ended);
  return r;
}

// ---- the benchmark ----------------------------------------------------------------------------

Result<fs::path> self_path() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return make_error(ErrorCode::kNotFound, "cannot read /proc/self/exe: " + ec.message());
  return self;
}

Status wait_for_line(testsupport::Process& process, const fs::path& log, std::string_view line,
                     milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    auto text = read_text(log);
    if (text.ok() && text->find(line) != std::string::npos) return ok_status();
    if (!process.running()) {
      return make_error(ErrorCode::kUnavailable, "the acker exited: " + tail_of(log));
    }
    if (SteadyClock::now() > deadline) {
      return make_error(ErrorCode::kDeadlineExceeded, "the acker did not subscribe in time");
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
}

struct Totals {
  std::size_t units = 0;  // events (drain) or messages (raw)
  double seconds = 0;
  std::vector<double> rates;  // per round
  void add(std::size_t n, double s) {
    units += n;
    seconds += s;
    rates.push_back(s > 0 ? static_cast<double>(n) / s : 0);
  }
  double rate() const { return seconds > 0 ? static_cast<double>(units) / seconds : 0; }
};

Status run(Output& out, const CommonOptions& options) {
  const std::size_t n = options.quick ? 1'000 : 10'000;
  const int rounds = options.quick ? 2 : 5;
  // The sync logs every connect and the backlog at info level: not what this output is for.
  spdlog::set_level(spdlog::level::warn);

  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b3-work-"));
  RC_ASSIGN_OR_RETURN(std::unique_ptr<testsupport::MosquittoServer> broker,
                      testsupport::MosquittoServer::start());
  RC_ASSIGN_OR_RETURN(const fs::path self, self_path());
  const fs::path acker_log = scratch.path() / "acker.log";
  RC_ASSIGN_OR_RETURN(auto acker, testsupport::Process::spawn(
                                      {self.string(), std::string(kAckerCommand), broker->uri()},
                                      logging_to(acker_log)));
  RC_TRY(wait_for_line(*acker, acker_log, kAckerReady, seconds(30)));

  // Payloads of the raw runs, built like the box builds its messages (box ids of the same length).
  const SystemClock clock;
  RC_ASSIGN_OR_RETURN(const std::string single, events_payload("bench-b3-r1", 1, clock.wall_ms()));
  RC_ASSIGN_OR_RETURN(const std::string batch,
                      events_payload("bench-b3-r1", kBatchEvents, clock.wall_ms()));
  const std::size_t batches = (n + kBatchEvents - 1) / kBatchEvents;

  std::cout << "B3: " << rounds << " rounds of: drain " << n << " journaled events | raw " << n
            << " x " << single.size() << "-byte messages | raw " << batches << " x " << batch.size()
            << "-byte messages (mosquitto_pub -q 1 -l -> mosquitto_sub -q 1)" << std::endl;
  Totals drain;
  Totals raw_single;
  Totals raw_batch;
  std::vector<double> connect_ms;
  std::vector<double> sent_ms;
  std::vector<double> tail_ms;
  nlohmann::json round_details = nlohmann::json::array();
  std::uint64_t rewinds = 0;
  for (int i = 1; i <= rounds; ++i) {
    const std::string box_id = "bench-b3-r" + std::to_string(i);
    const fs::path dir = scratch.path() / ("round-" + std::to_string(i));
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
      return make_error(ErrorCode::kIo, "cannot create " + dir.string() + ": " + ec.message());
    DrainRound d;
    RawRound s;
    RawRound b;
    const auto drain_now = [&]() -> Status {
      RC_ASSIGN_OR_RETURN(d, drain_round(broker->uri(), dir, box_id, n));
      return ok_status();
    };
    const auto raw_now = [&]() -> Status {
      RC_ASSIGN_OR_RETURN(
          s, raw_round(*broker, dir, "bench/b3/" + std::to_string(i) + "/single", single, n));
      RC_ASSIGN_OR_RETURN(
          b, raw_round(*broker, dir, "bench/b3/" + std::to_string(i) + "/batch", batch, batches));
      return ok_status();
    };
    // Alternate which side goes first, so neither always runs on a broker the other just warmed.
    if (i % 2 == 1) {
      RC_TRY(drain_now());
      RC_TRY(raw_now());
    } else {
      RC_TRY(raw_now());
      RC_TRY(drain_now());
    }
    drain.add(d.events, d.drain_s);
    raw_single.add(s.messages, s.span_s);
    raw_batch.add(b.messages * kBatchEvents, b.span_s);
    connect_ms.push_back(d.start_to_connected_s * 1e3);
    sent_ms.push_back(d.all_sent_s * 1e3);
    tail_ms.push_back((d.drain_s - d.all_sent_s) * 1e3);
    rewinds += d.rewinds;
    std::cout << "  round " << i << ": drain " << format_number(d.drain_s * 1e3, 1) << " ms ("
              << format_number(static_cast<double>(d.events) / d.drain_s, 0)
              << " events/s; all sent after " << format_number(d.all_sent_s * 1e3, 1) << " ms, "
              << d.batches_sent << " batches) | raw single " << format_number(s.span_s * 1e3, 1)
              << " ms (" << format_number(static_cast<double>(s.messages) / s.span_s, 0)
              << " msg/s) | raw batch " << format_number(b.span_s * 1e3, 1) << " ms" << std::endl;
    round_details.push_back({{"drain_ms", d.drain_s * 1e3},
                             {"start_to_connected_ms", d.start_to_connected_s * 1e3},
                             {"all_sent_ms", d.all_sent_s * 1e3},
                             {"batches_sent", d.batches_sent},
                             {"events_sent", d.events_sent},
                             {"rewinds", d.rewinds},
                             {"raw_single_span_ms", s.span_s * 1e3},
                             {"raw_single_pub_run_ms", s.pub_s * 1e3},
                             {"raw_batch_span_ms", b.span_s * 1e3},
                             {"raw_batch_pub_run_ms", b.pub_s * 1e3}});
  }
  RC_TRY(acker->stop(seconds(5)));

  Record rec;
  rec.id = "B3";
  rec.figure = "outbox backlog drain, " + format_number(static_cast<double>(n), 0) +
               " journaled events delivered and acked (QoS 1)";
  rec.unit = "events/s";
  rec.value = drain.rate();
  rec.baseline = "mosquitto_pub -l -> mosquitto_sub, QoS 1, one event per message (" +
                 std::to_string(single.size()) + " B)";
  rec.baseline_value = raw_single.rate();
  rec.target = Target::ratio_at_least(0.25);
  rec.details = {{"quick", options.quick},
                 {"events_per_round", n},
                 {"rounds", rounds},
                 {"single_payload_bytes", single.size()},
                 {"batch_payload_bytes", batch.size()},
                 {"batch_events", kBatchEvents},
                 {"drain_events_per_s_by_round", drain.rates},
                 {"raw_single_msgs_per_s_by_round", raw_single.rates},
                 {"raw_batch_events_per_s", raw_batch.rate()},
                 {"raw_batch_events_per_s_by_round", raw_batch.rates},
                 {"start_to_connected_ms", to_json(summarize(connect_ms))},
                 {"connected_to_all_sent_ms", to_json(summarize(sent_ms))},
                 {"all_sent_to_all_acked_ms", to_json(summarize(tail_ms))},
                 {"rewinds", rewinds},
                 {"rounds_detail", round_details}};
  return out.add(rec);
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  if (argc == 3 && std::string_view(argv[1]) == reclothes::bench::kAckerCommand) {
    return reclothes::bench::acker_main(argv[2]);
  }
  CLI::App app{"B3: outbox backlog drain over MQTT beside raw Mosquitto QoS 1",
               "bench_b3_outbox_drain"};
  reclothes::bench::CommonOptions options;
  return reclothes::bench::run_benchmark(
      argc, argv, app, options,
      [&](reclothes::bench::Output& out) { return reclothes::bench::run(out, options); });
}
