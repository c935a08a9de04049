// B2: durable journal events per second, one event per transaction (the firmware's Journal, WAL,
// synchronous=FULL), beside a raw write() + fdatasync() loop of records of the same size in a
// file in the same directory. The two alternate in short rounds (100 ms): this VM's disk swings
// between fast and slow phases lasting seconds, and a noisy neighbour comes and goes, so only a
// fine interleave lets both sides see the same disk. Target: journal >= 0.5 x raw.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include "reclothes/bench/events.h"
#include "reclothes/bench/main.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/stats.h"
#include "reclothes/common/clock.h"
#include "reclothes/firmware/journal.h"

namespace reclothes::bench {
namespace {

using std::chrono::milliseconds;

Error errno_error(const std::string& what) {
  return make_error(ErrorCode::kIo, what + ": " + std::generic_category().message(errno));
}

struct Round {
  std::size_t operations = 0;
  std::chrono::nanoseconds elapsed{0};
};

// The raw baseline writes into a file that was filled with zeros and synced once, overwriting it
// in place as a ring: each fdatasync then carries only data, no size or extent change. That is the
// floor the file system offers, and the state SQLite's WAL reaches once it has wrapped.
constexpr std::size_t kRingBytes = 8u << 20;

Status prepare_ring(int fd) {
  const std::string zeros(1u << 20, '\0');
  for (std::size_t written = 0; written < kRingBytes; written += zeros.size()) {
    if (::write(fd, zeros.data(), zeros.size()) != static_cast<ssize_t>(zeros.size())) {
      return errno_error("write");
    }
  }
  if (::fsync(fd) != 0) return errno_error("fsync");
  return ok_status();
}

// Writes `record` at the next place in the ring and fdatasyncs, until `duration` has passed.
// Per-operation latencies go to `samples` (ms).
Result<Round> raw_round(int fd, const std::string& record, milliseconds duration,
                        std::size_t& offset, std::vector<double>& samples) {
  Round r;
  const auto start = SteadyClock::now();
  auto now = start;
  while (now - start < duration) {
    const auto t0 = now;
    if (offset + record.size() > kRingBytes) offset = 0;
    const ssize_t n = ::pwrite(fd, record.data(), record.size(), static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(record.size())) return errno_error("pwrite");
    if (::fdatasync(fd) != 0) return errno_error("fdatasync");
    offset += record.size();
    now = SteadyClock::now();
    samples.push_back(ms_between(t0, now));
    ++r.operations;
  }
  r.elapsed = now - start;
  return r;
}

Result<Round> journal_round(firmware::Journal& journal, const SystemClock& clock,
                            milliseconds duration, std::uint64_t& serial,
                            std::vector<double>& samples) {
  Round r;
  const auto start = SteadyClock::now();
  auto now = start;
  while (now - start < duration) {
    const auto t0 = now;
    const msg::Event e = unlocked_event(clock.wall_ms(), serial++);
    const Status committed = journal.transact([&](firmware::Txn& t) -> Status {
      auto seq = t.append_event(e);
      return seq.ok() ? ok_status() : Status(std::move(seq).error());
    });
    RC_TRY(committed);
    now = SteadyClock::now();
    samples.push_back(ms_between(t0, now));
    ++r.operations;
  }
  r.elapsed = now - start;
  return r;
}

Status run(Output& out, const CommonOptions& options) {
  // 1.5 s (quick) or 15 s per side in all.
  const int rounds = options.quick ? 15 : 150;
  const milliseconds per_round(100);

  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b2-work-"));
  const SystemClock clock;
  RC_ASSIGN_OR_RETURN(
      std::unique_ptr<firmware::Journal> journal,
      firmware::Journal::open({.path = scratch.path() / "journal.db", .durable = true}));
  RC_ASSIGN_OR_RETURN(const std::size_t bytes,
                      stored_event_bytes(unlocked_event(clock.wall_ms(), 0)));
  const std::string record(bytes, 'x');
  const std::string raw_path = (scratch.path() / "raw.ring").string();
  const int fd = ::open(raw_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error("open " + raw_path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  RC_TRY(prepare_ring(fd));
  std::size_t offset = 0;

  std::cout << "B2: " << rounds << " rounds of " << per_round.count()
            << " ms each, raw and journal alternating, " << bytes << "-byte records ..."
            << std::endl;
  std::vector<double> raw_samples;
  std::vector<double> journal_samples;
  Round raw_total;
  Round journal_total;
  std::uint64_t serial = 0;
  for (int i = 0; i < rounds; ++i) {
    RC_ASSIGN_OR_RETURN(const Round r, raw_round(fd, record, per_round, offset, raw_samples));
    raw_total.operations += r.operations;
    raw_total.elapsed += r.elapsed;
    RC_ASSIGN_OR_RETURN(const Round j,
                        journal_round(*journal, clock, per_round, serial, journal_samples));
    journal_total.operations += j.operations;
    journal_total.elapsed += j.elapsed;
  }
  RC_ASSIGN_OR_RETURN(const std::uint64_t last_seq, journal->last_seq());
  if (last_seq != journal_total.operations) {
    return make_error(ErrorCode::kInternal,
                      "the journal holds " + std::to_string(last_seq) + " events, " +
                          std::to_string(journal_total.operations) + " were appended");
  }

  const Summary raw_s = summarize(raw_samples);
  const Summary journal_s = summarize(journal_samples);
  std::cout << "  per journal commit: p50 " << format_number(journal_s.p50, 3) << " ms, p99 "
            << format_number(journal_s.p99, 3) << " ms; per raw pwrite+fdatasync: p50 "
            << format_number(raw_s.p50, 3) << " ms, p99 " << format_number(raw_s.p99, 3) << " ms"
            << std::endl;
  RC_ASSIGN_OR_RETURN(SampleSeries js,
                      out.write_samples("B2", "journal commit (1 event)", "ms", journal_samples));
  RC_ASSIGN_OR_RETURN(SampleSeries rs,
                      out.write_samples("B2", "raw pwrite+fdatasync", "ms", raw_samples));

  Record rec;
  rec.id = "B2";
  rec.figure = "journal durable events/s (1 event per transaction)";
  rec.unit = "events/s";
  rec.value = per_second(journal_total.operations, journal_total.elapsed);
  rec.baseline = "raw pwrite+fdatasync, same size, same directory";
  rec.baseline_value = per_second(raw_total.operations, raw_total.elapsed);
  rec.target = Target::ratio_at_least(0.5);
  rec.samples = {js, rs};
  rec.details = {{"quick", options.quick},
                 {"rounds", rounds},
                 {"round_ms", per_round.count()},
                 {"record_bytes", bytes},
                 {"journal_events", journal_total.operations},
                 {"raw_writes", raw_total.operations},
                 {"journal_commit_ms", to_json(journal_s)},
                 {"raw_write_fdatasync_ms", to_json(raw_s)}};
  return out.add(rec);
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{"B2: durable journal events/s beside raw write+fdatasync", "bench_b2_journal"};
  return reclothes::bench::run_benchmark(argc, argv, app, reclothes::bench::run);
}
