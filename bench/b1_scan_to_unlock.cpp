// B1: scan-to-unlock latency. The real firmware (Box, Scanner, Journal, token verification) on the
// sim cabinet: a 640x480 frame carrying a real signed deposit token for a reserved compartment is
// handed to the camera, and the latency runs from that moment to the moment the sim records the
// lock pulse. Baselines, each measured alone in the same process on the same inputs: a raw ZXing
// ReadBarcode of the frame, a raw TokenVerifier::verify (mbedTLS) of the token, and a raw SQLite
// commit (WAL, synchronous=FULL) of a row the size of the journaled `unlocked` event, in
// the same directory as the box's journal. Target: p99 <= 1.25 x the sum of the baselines' p99.
#include <ZXing/BarcodeFormat.h>
#include <ZXing/DecodeHints.h>
#include <ZXing/ImageView.h>
#include <ZXing/ReadBarcode.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/bench/events.h"
#include "reclothes/bench/frames.h"
#include "reclothes/bench/main.h"
#include "reclothes/bench/report.h"
#include "reclothes/bench/stats.h"
#include "reclothes/common/clock.h"
#include "reclothes/common/messages.h"
#include "reclothes/common/token.h"
#include "reclothes/firmware/box.h"
#include "reclothes/firmware/config.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/mailbox.h"
#include "reclothes/firmware/scanner.h"
#include "reclothes/firmware/sim_config.h"
#include "reclothes/hal/sim/sim_cabinet.h"

namespace reclothes::bench {
namespace {

using firmware::Box;
using firmware::CompartmentState;
using std::chrono::milliseconds;

constexpr int kCompartments = 24;
constexpr const char* kBoxId = "bench-b1";
// Longest a scan may take before the benchmark gives up on it: far above any sane latency.
constexpr int kMaxStepsPerScan = 50;
// Unsynced commits that grow the raw baseline's WAL past SQLite's auto-checkpoint (1,000 pages)
// and wrap it, before the measured ones.
constexpr int kWarmUpCommits = 2500;

// The box under test and everything it needs, on the real clock.
class Rig {
 public:
  static Result<std::unique_ptr<Rig>> create(const std::filesystem::path& dir) {
    auto rig = std::unique_ptr<Rig>(new Rig());
    RC_ASSIGN_OR_RETURN(TokenSigner signer, TokenSigner::generate(1));
    rig->signer_ = std::make_unique<TokenSigner>(std::move(signer));
    RC_ASSIGN_OR_RETURN(const std::string pem, rig->signer_->public_pem());

    firmware::BoxConfig& c = rig->config_;
    c.box_id = kBoxId;
    c.journal_path = dir / "journal.db";
    c.broker.uri = "tcp://127.0.0.1:1";  // the Box itself never talks MQTT
    c.broker.client_id = kBoxId;
    c.trusted_keys.push_back({1, pem, false});
    for (int id = 1; id <= kCompartments; ++id) {
      firmware::CompartmentConfig cc;
      cc.id = id;
      cc.pulse = milliseconds(50);  // the shortest allowed: a lock is free again sooner
      c.compartments.push_back(cc);
    }
    c.camera = firmware::CameraConfig{};

    RC_ASSIGN_OR_RETURN(rig->sim_,
                        hal::sim::SimCabinet::create(rig->clock_, firmware::to_sim_config(c)));
    RC_ASSIGN_OR_RETURN(rig->journal_,
                        firmware::Journal::open({.path = c.journal_path, .durable = true}));
    RC_ASSIGN_OR_RETURN(rig->box_, Box::create(c, rig->sim_->cabinet(), *rig->journal_,
                                               rig->mailbox_, rig->clock_));
    RC_TRY(rig->box_->start());
    return rig;
  }

  const SystemClock& clock() const { return clock_; }
  const TokenSigner& signer() const { return *signer_; }
  const firmware::BoxConfig& config() const { return config_; }

  // Reserves each compartment for (action, order_ref) through the controller's command path.
  Status reserve(const std::vector<std::pair<int, std::uint64_t>>& compartments,
                 TokenAction action) {
    const std::int64_t until = clock_.wall_seconds() + 3600;
    for (const auto& [compartment, order_ref] : compartments) {
      msg::Command command;
      command.id = "b1-reserve-" + std::to_string(++commands_);
      command.op = msg::CommandOp::kReserve;
      command.reservation = msg::Reservation{compartment, order_ref, action, until};
      if (!mailbox_.push_inbound(std::move(command))) {
        return make_error(ErrorCode::kResourceExhausted, "the box's inbound queue is full");
      }
    }
    RC_TRY(box_->step());
    while (auto result = mailbox_.pop_result()) {
      if (!result->ok) {
        return make_error(ErrorCode::kInternal,
                          "reservation refused: " + result->code + " " + result->message);
      }
    }
    return ok_status();
  }

  // Hands `frame` to the camera and steps the box until the lock of `compartment` is pulsed.
  // Returns frame ready -> pulse recorded, in milliseconds. kInternal if the scan did not unlock.
  Result<double> scan(hal::Frame frame, int compartment) {
    const auto index = static_cast<std::size_t>(compartment - 1);
    RC_TRY(wait_for_lock(index));
    const SteadyClock::time_point ready = SteadyClock::now();
    RC_TRY(sim_->present_frame(std::move(frame)));
    for (int i = 0; i < kMaxStepsPerScan; ++i) {
      RC_TRY(box_->step());
      const std::vector<hal::sim::PulseRecord> pulses = sim_->pulses();
      if (!pulses.empty() && pulses.back().start >= ready && pulses.back().compartment == index) {
        return ms_between(ready, pulses.back().start);
      }
    }
    const auto shown = sim_->indicator();
    return make_error(ErrorCode::kInternal,
                      "the scan for compartment " + std::to_string(compartment) +
                          " did not unlock it; the indicator says \"" +
                          (shown ? shown->message : std::string("nothing")) + "\"");
  }

  // The person opens the door, puts in or takes out the clothes and closes it again.
  Status visit(int compartment) {
    const auto index = static_cast<std::size_t>(compartment - 1);
    RC_TRY(sim_->open_door(index));
    RC_TRY(box_->step());
    RC_TRY(sim_->close_door(index));
    RC_TRY(box_->step());
    return ok_status();
  }

  CompartmentState state(int compartment) const { return box_->compartment_state(compartment); }

 private:
  Rig() = default;

  // The sim refuses a pulse while the previous one on the same lock still runs (as hardware
  // would); compartments are used in turn, so this rarely waits, and never inside a measurement.
  Status wait_for_lock(std::size_t index) {
    for (int i = 0; i < 1000; ++i) {
      RC_ASSIGN_OR_RETURN(const bool energised, sim_->lock_energised(index));
      if (!energised) return ok_status();
      std::this_thread::sleep_for(milliseconds(1));
    }
    return make_error(ErrorCode::kDeadlineExceeded, "a lock stayed energised for a second");
  }

  SystemClock clock_;
  std::unique_ptr<TokenSigner> signer_;
  firmware::BoxConfig config_;
  std::unique_ptr<hal::sim::SimCabinet> sim_;
  std::unique_ptr<firmware::Journal> journal_;
  firmware::Mailbox mailbox_;
  std::unique_ptr<Box> box_;
  int commands_ = 0;
};

// ---- baselines ----------------------------------------------------------------------------------

// The three raw operations the scan path is made of, each measured alone. They run interleaved
// with the scans (one of each after every scan), so a noisy neighbour on this shared machine, or
// a busy host disk, weighs on the figure and its baseline alike.
class Baselines {
 public:
  // `dir` is the journal's directory; the raw database goes next to it.
  static Result<std::unique_ptr<Baselines>> create(const std::filesystem::path& dir,
                                                   const std::string& public_pem,
                                                   std::size_t row_bytes) {
    auto b = std::unique_ptr<Baselines>(new Baselines(row_bytes));
    RC_TRY(b->keys_.add(1, public_pem));
    // The same hints as the box's Scanner: QR only, no try-harder, no rotation, downscaling on.
    b->hints_.setFormats(ZXing::BarcodeFormat::QRCode);
    b->hints_.setTryHarder(false);
    b->hints_.setTryRotate(false);
    b->hints_.setTryDownscale(true);

    const std::string path = (dir / "raw-baseline.db").string();
    if (sqlite3_open(path.c_str(), &b->db_) != SQLITE_OK) {
      return make_error(ErrorCode::kIo, "cannot open " + path + ": " + b->sqlite_error());
    }
    RC_TRY(b->exec("PRAGMA journal_mode=WAL"));
    RC_TRY(b->exec("CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT NOT NULL)"));
    if (sqlite3_prepare_v2(b->db_, "INSERT INTO t(body) VALUES (?1)", -1, &b->insert_, nullptr) !=
        SQLITE_OK) {
      return make_error(ErrorCode::kInternal, "prepare: " + b->sqlite_error());
    }
    // Bring the WAL to its steady state before measuring: grown to the auto-checkpoint size and
    // wrapped once, so commits overwrite it in place as the box's journal does after its first
    // minutes. A fresh WAL grows with every commit, and each growth costs the file system a
    // metadata write inside the fdatasync: that would flatter the figure.
    RC_TRY(b->exec("PRAGMA synchronous=OFF"));
    for (int i = 0; i < kWarmUpCommits; ++i) {
      auto warm = b->commit();
      if (!warm.ok()) return std::move(warm).error().with_context("warm-up");
    }
    RC_TRY(b->exec("PRAGMA synchronous=FULL"));
    return b;
  }
  ~Baselines() {
    sqlite3_finalize(insert_);
    sqlite3_close(db_);
  }
  Baselines(const Baselines&) = delete;
  Baselines& operator=(const Baselines&) = delete;

  // Raw ZXing ReadBarcode of the frame; it must decode to `expected`, or the comparison is void.
  Result<double> zxing(const hal::Frame& f, const std::string& expected) const {
    const ZXing::ImageView view(f.pixels.data(), static_cast<int>(f.width),
                                static_cast<int>(f.height), ZXing::ImageFormat::Lum,
                                static_cast<int>(f.stride));
    const auto t0 = SteadyClock::now();
    const ZXing::Result r = ZXing::ReadBarcode(view, hints_);
    const auto t1 = SteadyClock::now();
    if (!r.isValid() || r.text() != expected) {
      return make_error(ErrorCode::kInternal, "raw ZXing did not decode a frame the box read");
    }
    return ms_between(t0, t1);
  }

  // Raw token verification: Base45, SHA-256 and the ECDSA P-256 verify of mbedTLS.
  Result<double> verify(const std::string& text, int compartment, std::int64_t now_s) const {
    VerifyRequest request;
    request.box_id = kBoxId;
    request.compartment = static_cast<std::uint8_t>(compartment);
    request.now = now_s;
    const TokenVerifier verifier(keys_);
    const auto t0 = SteadyClock::now();
    const auto verified = verifier.verify(text, request);
    const auto t1 = SteadyClock::now();
    if (!verified.ok()) {
      return make_error(ErrorCode::kInternal, "raw verify refused a token the box accepted: " +
                                                  std::string(to_string(verified.error().reason)));
    }
    return ms_between(t0, t1);
  }

  // Raw SQLite: one row per transaction (BEGIN IMMEDIATE; INSERT; COMMIT), WAL, synchronous=FULL.
  Result<double> commit() {
    const auto t0 = SteadyClock::now();
    RC_TRY(exec("BEGIN IMMEDIATE"));
    sqlite3_bind_text(insert_, 1, body_.data(), static_cast<int>(body_.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(insert_);
    sqlite3_reset(insert_);
    if (rc != SQLITE_DONE) return make_error(ErrorCode::kIo, "insert: " + sqlite_error());
    RC_TRY(exec("COMMIT"));
    return ms_between(t0, SteadyClock::now());
  }

 private:
  explicit Baselines(std::size_t row_bytes) : body_(row_bytes, 'x') {}

  std::string sqlite_error() const {
    return db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
  }
  Status exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string why = err != nullptr ? err : "unknown error";
      sqlite3_free(err);
      return make_error(ErrorCode::kIo, std::string(sql) + ": " + why);
    }
    return ok_status();
  }

  TrustedKeys keys_;
  ZXing::DecodeHints hints_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  std::string body_;
};

std::string ms_line(const std::string& label, const Summary& s) {
  return "  " + label + ": p50 " + format_number(s.p50, 3) + " ms, p90 " + format_number(s.p90, 3) +
         " ms, p99 " + format_number(s.p99, 3) + " ms, max " + format_number(s.max, 3) +
         " ms (n=" + std::to_string(s.count) + ")";
}

// The deposit tokens of every scan, signed, and their camera frames.
struct Deposits {
  std::vector<std::string> texts;
  std::vector<int> compartments;
  std::vector<hal::Frame> frames;
};

Result<Deposits> render_deposits(const Rig& rig, std::size_t scans, std::int64_t now_s) {
  std::cout << "B1: rendering " << scans << " frames with signed deposit tokens ..." << std::endl;
  Deposits d;
  for (std::size_t i = 0; i < scans; ++i) {
    const int compartment = static_cast<int>(i % kCompartments) + 1;
    const std::uint64_t order = 100000 + i;
    RC_ASSIGN_OR_RETURN(std::string text,
                        rig.signer().sign(customer_claims(kBoxId, TokenAction::kDeposit,
                                                          compartment, order, i, now_s)));
    RC_ASSIGN_OR_RETURN(hal::Frame frame, token_frame(text, static_cast<std::uint32_t>(i)));
    d.texts.push_back(std::move(text));
    d.compartments.push_back(compartment);
    d.frames.push_back(std::move(frame));
  }
  return d;
}

// Every sample, in ms: the scans and each raw baseline on the same frame and token.
struct Samples {
  std::vector<double> scan;
  std::vector<double> zxing;
  std::vector<double> verify;
  std::vector<double> commit;
};

// Compartment and order of each scan of the round starting at scan `first`.
using Batch = std::vector<std::pair<int, std::uint64_t>>;

// One deposit scan per compartment, each followed by the raw baselines on its frame and token.
Status deposit_round(Rig& rig, Baselines& raw, const Deposits& d, std::size_t first,
                     const Batch& batch, Samples& samples) {
  RC_TRY(rig.reserve(batch, TokenAction::kDeposit));
  for (std::size_t i = first; i < first + kCompartments; ++i) {
    RC_ASSIGN_OR_RETURN(const double ms, rig.scan(d.frames[i], d.compartments[i]));
    samples.scan.push_back(ms);
    RC_TRY(rig.visit(d.compartments[i]));
    RC_ASSIGN_OR_RETURN(const double z, raw.zxing(d.frames[i], d.texts[i]));
    RC_ASSIGN_OR_RETURN(const double v,
                        raw.verify(d.texts[i], d.compartments[i], rig.clock().wall_seconds()));
    RC_ASSIGN_OR_RETURN(const double c, raw.commit());
    samples.zxing.push_back(z);
    samples.verify.push_back(v);
    samples.commit.push_back(c);
  }
  return ok_status();
}

// Pickups empty the compartments for the next round; they are real scans too, not timed.
Status pickup_round(Rig& rig, std::size_t first, const Batch& batch, std::int64_t now_s) {
  RC_TRY(rig.reserve(batch, TokenAction::kPickup));
  for (const auto& [compartment, order] : batch) {
    const std::uint64_t serial = 1'000'000 + first + static_cast<std::size_t>(compartment);
    RC_ASSIGN_OR_RETURN(const std::string text,
                        rig.signer().sign(customer_claims(kBoxId, TokenAction::kPickup, compartment,
                                                          order, serial, now_s)));
    RC_ASSIGN_OR_RETURN(hal::Frame frame, token_frame(text, static_cast<std::uint32_t>(serial)));
    auto unlocked = rig.scan(std::move(frame), compartment);
    if (!unlocked.ok()) return std::move(unlocked).error().with_context("pickup");
    RC_TRY(rig.visit(compartment));
    if (rig.state(compartment) != CompartmentState::kFree) {
      return make_error(ErrorCode::kInternal,
                        "compartment " + std::to_string(compartment) +
                            " is not free after its pickup: " +
                            std::string(firmware::to_string(rig.state(compartment))));
    }
  }
  return ok_status();
}

Result<Samples> scan_rounds(Rig& rig, Baselines& raw, const Deposits& d, std::size_t rounds,
                            std::int64_t now_s) {
  Samples samples;
  for (std::size_t round = 0; round < rounds; ++round) {
    const std::size_t first = round * kCompartments;
    Batch batch;
    for (int c = 1; c <= kCompartments; ++c) {
      batch.emplace_back(c, 100000 + first + static_cast<std::size_t>(c - 1));
    }
    RC_TRY(deposit_round(rig, raw, d, first, batch, samples));
    RC_TRY(pickup_round(rig, first, batch, now_s));
  }
  return samples;
}

Status add_records(Output& out, const Samples& samples, const nlohmann::json& settings,
                   bool quick) {
  const Summary scan_s = summarize(samples.scan);
  const Summary zxing_s = summarize(samples.zxing);
  const Summary verify_s = summarize(samples.verify);
  const Summary commit_s = summarize(samples.commit);
  std::cout << ms_line("scan to unlock   ", scan_s) << "\n"
            << ms_line("raw ZXing decode ", zxing_s) << "\n"
            << ms_line("raw token verify ", verify_s) << "\n"
            << ms_line("raw SQLite commit", commit_s) << std::endl;
  RC_ASSIGN_OR_RETURN(SampleSeries s1,
                      out.write_samples("B1", "scan to unlock", "ms", samples.scan));
  RC_ASSIGN_OR_RETURN(SampleSeries s2,
                      out.write_samples("B1", "raw ZXing decode", "ms", samples.zxing));
  RC_ASSIGN_OR_RETURN(SampleSeries s3,
                      out.write_samples("B1", "raw token verify", "ms", samples.verify));
  RC_ASSIGN_OR_RETURN(SampleSeries s4,
                      out.write_samples("B1", "raw SQLite FULL commit", "ms", samples.commit));
  Record p99;
  p99.id = "B1";
  p99.figure = "scan-to-unlock latency p99";
  p99.unit = "ms";
  p99.value = scan_s.p99;
  p99.baseline = "sum of raw p99s (ZXing + verify + SQLite FULL commit)";
  p99.baseline_value = zxing_s.p99 + verify_s.p99 + commit_s.p99;
  p99.target = Target::ratio_at_most(1.25);
  p99.samples = {s1, s2, s3, s4};
  p99.details = settings;
  p99.details["scan_to_unlock"] = to_json(scan_s);
  p99.details["raw_zxing"] = to_json(zxing_s);
  p99.details["raw_verify"] = to_json(verify_s);
  p99.details["raw_sqlite_full_commit"] = to_json(commit_s);
  RC_TRY(out.add(p99));

  Record p50 = p99;
  p50.figure = "scan-to-unlock latency p50";
  p50.value = scan_s.p50;
  p50.baseline = "sum of raw p50s";
  p50.baseline_value = zxing_s.p50 + verify_s.p50 + commit_s.p50;
  p50.target.reset();
  p50.samples.clear();
  p50.details = {{"quick", quick}, {"scans", samples.scan.size()}};
  return out.add(p50);
}

Status run(Output& out, const CommonOptions& options) {
  // Log lines are formatted as in the daemon but go nowhere: a terminal in the loop would measure
  // the terminal.
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("b1", std::make_shared<spdlog::sinks::null_sink_mt>()));
  spdlog::set_level(spdlog::level::info);

  // >= 1,000 scans (quick: 120), in rounds of one scan per compartment.
  const std::size_t rounds = options.quick ? 5 : 42;
  const std::size_t scans = rounds * kCompartments;
  RC_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create(out.dir(), "b1-work-"));
  RC_ASSIGN_OR_RETURN(std::unique_ptr<Rig> rig, Rig::create(scratch.path()));
  const std::int64_t now_s = rig->clock().wall_seconds();
  RC_ASSIGN_OR_RETURN(const Deposits deposits, render_deposits(*rig, scans, now_s));

  std::cout << "B1: " << scans << " scans on a " << kCompartments
            << "-compartment box (deposit, then a pickup to empty the compartment again), each "
               "followed by the raw baselines on its frame and token ..."
            << std::endl;
  RC_ASSIGN_OR_RETURN(const std::size_t row_bytes,
                      stored_event_bytes(unlocked_event(rig->clock().wall_ms(), 0)));
  RC_ASSIGN_OR_RETURN(const std::string pem, rig->signer().public_pem());
  RC_ASSIGN_OR_RETURN(std::unique_ptr<Baselines> raw,
                      Baselines::create(scratch.path(), pem, row_bytes));
  RC_ASSIGN_OR_RETURN(const Samples samples, scan_rounds(*rig, *raw, deposits, rounds, now_s));
  const nlohmann::json settings = {{"quick", options.quick},
                                   {"scans", scans},
                                   {"compartments", kCompartments},
                                   {"frame", "640x480 grey, 4-5 px per module, noise 4-12"},
                                   {"token_chars", deposits.texts.front().size()},
                                   {"sqlite_row_bytes", row_bytes}};
  return add_records(out, samples, settings, options.quick);
}

}  // namespace
}  // namespace reclothes::bench

int main(int argc, char** argv) {
  CLI::App app{"B1: scan-to-unlock latency beside raw ZXing + verify + SQLite FULL commit",
               "bench_b1_scan_to_unlock"};
  return reclothes::bench::run_benchmark(argc, argv, app, reclothes::bench::run);
}
