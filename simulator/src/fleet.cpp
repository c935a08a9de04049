#include "reclothes/simulator/fleet.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>

#include "reclothes/common/clock.h"
#include "reclothes/common/messages.h"
#include "reclothes/common/token.h"
#include "reclothes/firmware/box.h"
#include "reclothes/firmware/compartment.h"
#include "reclothes/firmware/config.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/mailbox.h"
#include "reclothes/firmware/scanner.h"
#include "reclothes/firmware/sim_config.h"
#include "reclothes/firmware/sync.h"
#include "reclothes/hal/sim/sim_cabinet.h"
#include "reclothes/simulator/acker.h"
#include "reclothes/simulator/network_link.h"
#include "reclothes/simulator/tokens.h"

namespace reclothes::simulator {

using std::chrono::milliseconds;

namespace {

// File descriptors per box: the journal's database, WAL and shared-memory files and the broker
// socket; plus a margin for the process itself.
constexpr std::uint64_t kFdsPerBox = 4;
constexpr std::uint64_t kFdMargin = 256;
// A visit whose door has not opened this long after the code was shown counts as failed.
constexpr milliseconds kVisitTimeout{10'000};
constexpr milliseconds kAutoOpenAfter{400};
// Threads that create boxes, and that shut them down, side by side.
constexpr std::size_t kSetupLanes = 8;
constexpr std::size_t kStopLanes = 16;
// How long a box's goodbye (status offline) may take to reach the broker at stop.
constexpr milliseconds kStopDrain{500};

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Raises RLIMIT_NOFILE so `needed` descriptors fit (the hard limit too, when we may).
Status ensure_fd_limit(std::uint64_t needed) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return ok_status();
  if (limit.rlim_cur >= needed) return ok_status();
  rlimit wanted = limit;
  wanted.rlim_cur = needed;
  if (wanted.rlim_max < needed) wanted.rlim_max = needed;  // needs CAP_SYS_RESOURCE (root)
  if (::setrlimit(RLIMIT_NOFILE, &wanted) == 0) return ok_status();
  wanted.rlim_max = limit.rlim_max;
  wanted.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &wanted);
  return make_error(ErrorCode::kResourceExhausted,
                    "the fleet needs about " + std::to_string(needed) +
                        " file descriptors (4 per box) but this process may open only " +
                        std::to_string(limit.rlim_max) +
                        " (ulimit -Hn); run fewer boxes or raise it");
}

// ---- one box ------------------------------------------------------------------------------------

enum class VisitPhase { kIdle, kShown, kOpen };

struct FleetBox {
  std::size_t index = 0;
  firmware::BoxConfig config;
  std::unique_ptr<hal::sim::SimCabinet> sim;
  std::unique_ptr<firmware::Journal> journal;
  std::unique_ptr<firmware::Mailbox> mailbox;
  std::unique_ptr<firmware::Box> box;
  std::unique_ptr<firmware::Sync> sync;
  bool running = false;
  Clock::Monotonic next_step{};
  // The synthetic visit in progress.
  VisitPhase phase = VisitPhase::kIdle;
  Clock::Monotonic phase_until{};
  int compartment = 0;
  std::minstd_rand rng;
};

struct Worker {
  std::vector<FleetBox*> boxes;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;
  std::atomic<std::uint64_t> steps{0};
  std::atomic<std::uint64_t> visits_started{0};
  std::atomic<std::uint64_t> visits_completed{0};
  std::atomic<std::uint64_t> visits_failed{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::int64_t> max_lag_us{0};

  void wake() {
    {
      std::lock_guard lock(mu);
      woken = true;
    }
    cv.notify_one();
  }
};

}  // namespace

// ---- the fleet ----------------------------------------------------------------------------------

struct Fleet::Impl {
  FleetOptions o;
  SystemClock clock;
  std::optional<TokenSigner> signer;
  std::string public_pem;
  std::filesystem::path state_dir;
  bool remove_state_dir = false;
  std::vector<std::unique_ptr<FleetBox>> boxes;
  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<Acker> acker;
  std::unique_ptr<httplib::Server> http;
  std::thread http_thread;

  std::atomic<bool> stopping{false};
  bool started = false;
  bool stopped = false;
  std::optional<FleetSummary> final_summary;

  std::atomic<std::size_t> boxes_failed{0};

  std::chrono::steady_clock::time_point started_at;
  Clock::Monotonic first_connect{};
  double setup_s = 0;
  std::uint64_t rss_baseline_kb = 0;
  std::uint64_t rss_after_setup_kb = 0;
  double cpu_at_start = 0;

  std::mutex error_mu;
  std::string last_error;

  bool pooled() const { return o.sync_mode == "pooled"; }

  void note_error(const std::string& text) {
    std::lock_guard lock(error_mu);
    last_error = text;
  }

  firmware::BoxConfig config_for(std::size_t i) const {
    char number[16];
    std::snprintf(number, sizeof(number), "%05zu", i + 1);
    firmware::BoxConfig c;
    c.box_id = o.box_prefix + number;
    c.journal_path = state_dir / (c.box_id + ".journal.db");
    c.broker.uri = o.broker_uri;
    c.broker.client_id = c.box_id;
    c.broker.keepalive = std::chrono::seconds(60);
    c.trusted_keys.push_back({static_cast<std::uint16_t>(o.key_id), public_pem, false});
    static constexpr firmware::CompartmentSize kSizes[] = {
        firmware::CompartmentSize::kS, firmware::CompartmentSize::kM, firmware::CompartmentSize::kL,
        firmware::CompartmentSize::kXL};
    for (int id = 1; id <= o.compartments; ++id) {
      firmware::CompartmentConfig cc;
      cc.id = id;
      cc.size = kSizes[static_cast<std::size_t>(id - 1) % 4];
      cc.pulse = milliseconds(300);
      c.compartments.push_back(cc);
    }
    c.hal.backend = firmware::HalBackend::kSim;
    firmware::CameraConfig camera;
    camera.width = o.camera_px;
    camera.height = o.camera_px;
    camera.fps = static_cast<std::uint32_t>(std::clamp(std::lround(o.step_hz), 1L, 60L));
    c.camera = camera;
    c.state_report_interval = std::chrono::seconds(o.state_interval_s);
    return c;
  }

  // Creates and starts one box (worker thread). Failures are counted, not fatal.
  void bring_up(FleetBox& b, Worker& worker) {
    auto fail = [&](const Error& e) {
      ++boxes_failed;
      ++worker.errors;
      note_error(b.config.box_id + ": " + e.to_string());
      spdlog::error("{}: {}", b.config.box_id, e.to_string());
    };
    hal::sim::SimCabinetConfig sim_config = firmware::to_sim_config(b.config);
    sim_config.auto_open_after = kAutoOpenAfter;  // the customer pulls the door after the click
    auto sim = hal::sim::SimCabinet::create(clock, sim_config);
    if (!sim.ok()) return fail(sim.error());
    b.sim = std::move(sim).value();
    firmware::JournalOptions jo;
    jo.path = b.config.journal_path;
    jo.durable = !o.no_fsync;
    auto journal = firmware::Journal::open(jo);
    if (!journal.ok()) return fail(journal.error());
    b.journal = std::move(journal).value();
    b.mailbox = std::make_unique<firmware::Mailbox>();
    auto box = firmware::Box::create(b.config, b.sim->cabinet(), *b.journal, *b.mailbox, clock);
    if (!box.ok()) return fail(box.error());
    if (Status s = (*box)->start(); !s.ok()) return fail(s.error());
    b.box = std::move(box).value();
    if (o.sync_mode != "none") {
      auto sync =
          firmware::Sync::create(firmware::sync_options(b.config), *b.journal, *b.mailbox, clock);
      if (!sync.ok()) return fail(sync.error());
      b.sync = std::move(sync).value();
      // Pooled: the box's own Sync without a thread, polled by its worker; connects spread out.
      const auto connect_at =
          first_connect + milliseconds(static_cast<std::int64_t>(
                              1000.0 * static_cast<double>(b.index) / std::max(o.connect_rate, 1)));
      Status sync_started = pooled()
                                ? b.sync->start_polled([&worker] { worker.wake(); }, connect_at)
                                : b.sync->start();
      if (!sync_started.ok()) return fail(sync_started.error());
    }
    b.running = true;
  }

  void run_visit(FleetBox& b, Worker& w, Clock::Monotonic now) {
    if (o.events_per_minute <= 0) return;
    switch (b.phase) {
      case VisitPhase::kIdle: {
        if (now < b.phase_until) return;
        schedule_next_visit(b, now);
        std::uniform_int_distribution<int> pick(1, o.compartments);
        const int c = pick(b.rng);
        const firmware::CompartmentState state = b.box->compartment_state(c);
        TokenAction action;
        if (state == firmware::CompartmentState::kFree) {
          action = TokenAction::kCourierLoad;
        } else if (state == firmware::CompartmentState::kOccupied) {
          action = TokenAction::kCourierCollect;
        } else {
          return;  // busy: try another compartment next time
        }
        MintRequest m;
        m.box_id = b.config.box_id;
        m.action = action;
        m.compartments = {static_cast<std::uint8_t>(c)};
        m.order_ref = b.rng() % 1'000'000 + 1;
        m.not_before = clock.wall_seconds() - 60;
        m.expires = clock.wall_seconds() + 600;
        auto token = mint_token(*signer, m);
        if (!token.ok()) {
          ++w.errors;
          note_error(token.error().to_string());
          return;
        }
        firmware::QrRenderOptions render;
        render.module_px = 2;
        render.width = o.camera_px;
        render.height = o.camera_px;
        auto frame = firmware::render_qr(*token, render);
        if (!frame.ok() || !b.sim->present_frame(std::move(frame).value()).ok()) {
          ++w.errors;
          note_error("cannot present a visit token (camera too small?)");
          return;
        }
        ++w.visits_started;
        b.compartment = c;
        b.phase = VisitPhase::kShown;
        b.phase_until = now + kVisitTimeout;
        return;
      }
      case VisitPhase::kShown: {
        const std::size_t i = static_cast<std::size_t>(b.compartment - 1);
        if (b.sim->door_open(i).value_or(false)) {
          std::uniform_int_distribution<int> dwell(1000, 3000);
          b.phase = VisitPhase::kOpen;
          b.phase_until = now + milliseconds(dwell(b.rng));
        } else if (now >= b.phase_until) {
          ++w.visits_failed;
          b.phase = VisitPhase::kIdle;
        }
        return;
      }
      case VisitPhase::kOpen: {
        if (now < b.phase_until) return;
        (void)b.sim->close_door(static_cast<std::size_t>(b.compartment - 1));
        ++w.visits_completed;
        b.phase = VisitPhase::kIdle;
        return;
      }
    }
  }

  void schedule_next_visit(FleetBox& b, Clock::Monotonic now) {
    // Heartbeats only: no visit, ever (an exponential draw of rate 0 is infinite).
    if (o.events_per_minute <= 0) {
      b.phase_until = Clock::Monotonic::max();
      return;
    }
    // A Poisson process: exponential gaps with a mean of 60 s / visits per minute, at most a day
    // (a rare long draw at a tiny rate stays representable).
    const double visits_per_minute = o.events_per_minute / 4.0;
    std::exponential_distribution<double> gap(visits_per_minute / 60.0);
    const double gap_ms = std::min(gap(b.rng) * 1000.0, 86'400'000.0);
    b.phase_until = now + milliseconds(static_cast<std::int64_t>(gap_ms));
  }

  void run_worker(Worker& w) {
    const auto period = milliseconds(static_cast<std::int64_t>(1000.0 / o.step_hz));
    const Clock::Monotonic begin = clock.monotonic();
    const std::size_t n = w.boxes.size();
    for (std::size_t k = 0; k < n; ++k) {
      FleetBox& b = *w.boxes[k];
      // Spread the steps over the period, so the boxes do not all step at once.
      b.next_step = begin + period * static_cast<std::int64_t>(k) / static_cast<std::int64_t>(n);
      schedule_next_visit(b, begin);
    }
    while (!stopping) {
      Clock::Monotonic now = clock.monotonic();
      Clock::Monotonic next_wake = now + milliseconds(100);
      for (FleetBox* bp : w.boxes) {
        FleetBox& b = *bp;
        if (!b.running) continue;
        bool poll_sync = pooled() && b.sync->has_work();
        if (now >= b.next_step) {
          const auto lag = std::chrono::duration_cast<std::chrono::microseconds>(now - b.next_step);
          if (lag.count() > w.max_lag_us) w.max_lag_us = lag.count();
          run_visit(b, w, now);
          if (Status s = b.box->step(); !s.ok()) {
            // As the daemon would exit: this box stops; the others go on.
            b.running = false;
            ++boxes_failed;
            ++w.errors;
            note_error(b.config.box_id + ": main loop stopped: " + s.error().to_string());
            continue;
          }
          ++w.steps;
          if (o.sync_mode == "none") {
            while (b.mailbox->pop_result()) {
            }
          }
          b.next_step += period;
          if (b.next_step < now) b.next_step = now + period;  // too late: skip, do not catch up
          poll_sync = pooled();
        }
        if (poll_sync && b.sync->poll()) next_wake = now;  // more to send right away
        next_wake = std::min(next_wake, b.next_step);
      }
      std::unique_lock lock(w.mu);
      if (!w.woken) {
        w.cv.wait_until(lock, next_wake, [&w, this] { return w.woken || stopping.load(); });
      }
      w.woken = false;
    }
  }

  FleetSummary summary() {
    FleetSummary s;
    const auto now = std::chrono::steady_clock::now();
    s.elapsed_s = seconds_between(started_at, now);
    s.setup_s = setup_s;
    s.boxes = boxes.size();
    s.boxes_failed = boxes_failed.load();
    s.sync_mode = o.sync_mode;
    s.threads = o.threads;
    for (const auto& w : workers) {
      s.steps += w->steps.load();
      s.visits_started += w->visits_started.load();
      s.visits_completed += w->visits_completed.load();
      s.visits_failed += w->visits_failed.load();
      s.errors += w->errors.load();
      s.max_step_lag_ms =
          std::max(s.max_step_lag_ms, static_cast<double>(w->max_lag_us.load()) / 1000.0);
    }
    for (const auto& b : boxes) {
      if (!b->journal) continue;
      if (b->running) ++s.boxes_running;
      auto last = b->journal->last_seq();
      auto acked = b->journal->acked_upto();
      if (!last.ok() || !acked.ok()) {
        ++s.errors;
        continue;
      }
      s.events_journaled += *last;
      s.events_acked += *acked;
      s.backlog += *last - std::min(*last, *acked);
      if (!b->sync) continue;
      const firmware::SyncStats st = b->sync->stats();
      if (b->sync->connected()) ++s.connected;
      s.events_sent += st.events_sent;
      s.state_reports += st.state_reports;
    }
    if (acker) {
      s.acker_events = acker->events();
      s.acker_acks = acker->acks();
    }
    s.steps_per_s = s.elapsed_s > 0 ? static_cast<double>(s.steps) / s.elapsed_s : 0;
    {
      std::lock_guard lock(error_mu);
      s.last_error = last_error;
    }
    s.resources = read_process_resources();
    s.rss_baseline_kb = rss_baseline_kb;
    s.rss_after_setup_kb = rss_after_setup_kb;
    if (!boxes.empty() && s.resources.rss_kb > rss_baseline_kb) {
      s.rss_per_box_kb = static_cast<double>(s.resources.rss_kb - rss_baseline_kb) /
                         static_cast<double>(boxes.size());
    }
    const double cpu = s.resources.user_s + s.resources.system_s - cpu_at_start;
    s.cpu_percent = s.elapsed_s > 0 ? 100.0 * cpu / s.elapsed_s : 0;
    return s;
  }
};

nlohmann::json to_json(const FleetSummary& s) {
  auto round1 = [](double v) { return std::round(v * 10.0) / 10.0; };
  return {{"elapsed_s", round1(s.elapsed_s)},
          {"setup_s", round1(s.setup_s)},
          {"boxes", s.boxes},
          {"boxes_running", s.boxes_running},
          {"boxes_failed", s.boxes_failed},
          {"connected", s.connected},
          {"sync", s.sync_mode},
          {"threads", s.threads},
          {"steps", s.steps},
          {"steps_per_s", round1(s.steps_per_s)},
          {"max_step_lag_ms", round1(s.max_step_lag_ms)},
          {"visits",
           {{"started", s.visits_started},
            {"completed", s.visits_completed},
            {"failed", s.visits_failed}}},
          {"events",
           {{"journaled", s.events_journaled},
            {"acked", s.events_acked},
            {"backlog", s.backlog},
            {"sent", s.events_sent},
            {"acker_received", s.acker_events},
            {"acks_sent", s.acker_acks}}},
          {"state_reports", s.state_reports},
          {"errors", s.errors},
          {"last_error", s.last_error},
          {"resources",
           {{"rss_kb", s.resources.rss_kb},
            {"peak_rss_kb", s.resources.peak_rss_kb},
            {"rss_baseline_kb", s.rss_baseline_kb},
            {"rss_after_setup_kb", s.rss_after_setup_kb},
            {"rss_per_box_kb", round1(s.rss_per_box_kb)},
            {"cpu_user_s", round1(s.resources.user_s)},
            {"cpu_system_s", round1(s.resources.system_s)},
            {"cpu_percent", round1(s.cpu_percent)},
            {"threads", s.resources.threads},
            {"open_fds", s.resources.open_fds}}}};
}

Fleet::Fleet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Fleet::~Fleet() { stop(); }

Result<std::unique_ptr<Fleet>> Fleet::create(FleetOptions o) {
  auto bad = [](const std::string& m) { return make_error(ErrorCode::kInvalidArgument, m); };
  if (o.boxes < 1) return bad("--boxes must be at least 1");
  if (o.compartments < 1 || o.compartments > 64) return bad("--compartments must be 1..64");
  if (o.threads < 1 || o.threads > 64) return bad("--threads must be 1..64");
  if (!(o.step_hz >= 0.1 && o.step_hz <= 20)) return bad("--step-hz must be 0.1..20");
  if (!(o.events_per_minute >= 0 && o.events_per_minute <= 6000)) {
    return bad("--events-per-minute must be 0..6000");
  }
  if (o.state_interval_s < 5 || o.state_interval_s > 86'400)
    return bad("--state-interval must be 5..86400 s");
  if (o.sync_mode != "pooled" && o.sync_mode != "threaded" && o.sync_mode != "none") {
    return bad("--sync must be pooled, threaded or none");
  }
  if (o.box_prefix.size() + 5 > kMaxBoxIdLength || !is_valid_box_id(o.box_prefix + "00001")) {
    return bad("--box-prefix must be at most 27 characters of [A-Za-z0-9_-]");
  }
  if (o.camera_px < 100 || o.camera_px > 2048) return bad("the camera must be 100..2048 px");
  if (o.sync_mode != "none") {
    RC_ASSIGN_OR_RETURN(BrokerAddress broker, parse_broker_uri(o.broker_uri));
    (void)broker;
  }
  auto impl = std::make_unique<Impl>();
  if (!o.signing_key.empty()) {
    RC_ASSIGN_OR_RETURN(TokenSigner signer,
                        load_signer(o.signing_key, static_cast<std::uint16_t>(o.key_id)));
    impl->signer = std::move(signer);
  } else {
    RC_ASSIGN_OR_RETURN(TokenSigner signer,
                        TokenSigner::generate(static_cast<std::uint16_t>(o.key_id)));
    impl->signer = std::move(signer);
  }
  RC_ASSIGN_OR_RETURN(impl->public_pem, impl->signer->public_pem());
  impl->o = std::move(o);
  return std::unique_ptr<Fleet>(new Fleet(std::move(impl)));
}

Status Fleet::start() {
  Impl& f = *impl_;
  if (f.started) return make_error(ErrorCode::kFailedPrecondition, "the fleet is already started");
  f.started = true;
  RC_TRY(ensure_fd_limit(f.o.boxes * kFdsPerBox + kFdMargin));
  if (f.o.state_dir.empty()) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "reclothes-fleet-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return make_error(ErrorCode::kIo, "cannot create a temporary state directory");
    }
    f.state_dir = pattern;
    f.remove_state_dir = true;
  } else {
    f.state_dir = f.o.state_dir;
    std::error_code ec;
    std::filesystem::create_directories(f.state_dir, ec);
    if (ec)
      return make_error(ErrorCode::kIo,
                        "--state-dir " + f.state_dir.string() + ": " + ec.message());
  }
  if (f.o.ack) {
    RC_ASSIGN_OR_RETURN(f.acker, Acker::start({.uri = f.o.broker_uri,
                                               .client_id = "reclothes-fleet-acker-" +
                                                            std::to_string(::getpid())}));
  }
  const ProcessResources before = read_process_resources();
  f.rss_baseline_kb = before.rss_kb;
  f.cpu_at_start = before.user_s + before.system_s;
  f.started_at = std::chrono::steady_clock::now();
  f.first_connect = f.clock.monotonic();

  for (std::size_t i = 0; i < f.o.boxes; ++i) {
    auto b = std::make_unique<FleetBox>();
    b->index = i;
    b->config = f.config_for(i);
    b->rng.seed(static_cast<std::uint32_t>(i * 7919 + 17));
    f.boxes.push_back(std::move(b));
  }
  for (int t = 0; t < f.o.threads; ++t) f.workers.push_back(std::make_unique<Worker>());
  for (std::size_t i = 0; i < f.boxes.size(); ++i) {
    f.workers[i % f.workers.size()]->boxes.push_back(f.boxes[i].get());
  }
  // Creating a box is mostly waiting for the disk (the journal's first commits), so more threads
  // than cores bring the fleet up faster. Each box is then handed to its worker.
  {
    std::vector<std::thread> lanes;
    const std::size_t n = std::min<std::size_t>(f.boxes.size(), kSetupLanes);
    for (std::size_t lane = 0; lane < n; ++lane) {
      lanes.emplace_back([&f, lane, n] {
        for (std::size_t i = lane; i < f.boxes.size(); i += n) {
          f.bring_up(*f.boxes[i], *f.workers[i % f.workers.size()]);
        }
      });
    }
    for (std::thread& t : lanes) t.join();
  }
  for (auto& w : f.workers) {
    w->thread = std::thread([&f, raw = w.get()] { f.run_worker(*raw); });
  }
  f.setup_s = seconds_between(f.started_at, std::chrono::steady_clock::now());
  f.rss_after_setup_kb = read_process_resources().rss_kb;
  spdlog::info("fleet: {} boxes up in {:.1f} s ({} failed)", f.boxes.size(), f.setup_s,
               f.boxes_failed.load());

  if (!f.o.http.empty()) {
    const std::size_t colon = f.o.http.rfind(':');
    const std::string host = colon == std::string::npos ? "127.0.0.1" : f.o.http.substr(0, colon);
    int port = 0;
    try {
      port = std::stoi(colon == std::string::npos ? f.o.http : f.o.http.substr(colon + 1));
    } catch (const std::exception&) {
      return make_error(ErrorCode::kInvalidArgument, "--http: expected HOST:PORT");
    }
    f.http = std::make_unique<httplib::Server>();
    f.http->set_tcp_nodelay(true);
    f.http->Get("/api/fleet", [&f](const httplib::Request&, httplib::Response& res) {
      res.set_content(to_json(f.summary()).dump(), "application/json");
    });
    const bool bound =
        port == 0 ? f.http->bind_to_any_port(host) > 0 : f.http->bind_to_port(host, port);
    if (!bound) return make_error(ErrorCode::kUnavailable, "--http: cannot bind " + f.o.http);
    f.http_thread = std::thread([&f] { f.http->listen_after_bind(); });
  }
  return ok_status();
}

FleetSummary Fleet::summary() { return impl_->summary(); }

std::string Fleet::progress_line() {
  const FleetSummary s = impl_->summary();
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(0);
  out << "t=" << s.elapsed_s << "s boxes=" << s.boxes_running << "/" << s.boxes
      << " connected=" << s.connected << " visits=" << s.visits_completed << "/" << s.visits_started
      << " events=" << s.events_journaled << " acked=" << s.events_acked << " backlog=" << s.backlog
      << " errors=" << s.errors << " rss=" << s.resources.rss_kb / 1024
      << "MB cpu=" << s.cpu_percent << "% lag=" << s.max_step_lag_ms << "ms";
  return out.str();
}

FleetSummary Fleet::stop() {
  Impl& f = *impl_;
  if (f.stopped || !f.started) {
    return f.final_summary ? *f.final_summary : FleetSummary{};
  }
  f.stopped = true;
  f.stopping = true;
  for (auto& w : f.workers) w->wake();
  for (auto& w : f.workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  FleetSummary summary = f.summary();
  const auto stop_began = std::chrono::steady_clock::now();

  // A clean shutdown of every box: locks de-energised, status offline. Polled Syncs publish their
  // "offline" all at once here; a threaded one's worker may be asleep for an idle tick, so those
  // are stopped side by side in the lanes below.
  for (auto& b : f.boxes) {
    if (b->box) b->box->stop();
    if (b->sync && f.pooled()) b->sync->begin_stop();
  }
  // Then each lane waits for its sessions to end and closes its journals (each close checkpoints
  // the WAL: a disk wait).
  std::vector<std::thread> stoppers;
  for (std::size_t lane = 0; lane < kStopLanes; ++lane) {
    stoppers.emplace_back([&f, lane] {
      for (std::size_t i = lane; i < f.boxes.size(); i += kStopLanes) {
        if (f.boxes[i]->sync) f.boxes[i]->sync->stop(kStopDrain);
        f.boxes[i].reset();
      }
    });
  }
  for (std::thread& t : stoppers) t.join();
  f.boxes.clear();
  spdlog::info("fleet: every box shut down in {:.1f} s",
               seconds_between(stop_began, std::chrono::steady_clock::now()));
  if (f.acker) f.acker->stop();
  if (f.http) f.http->stop();
  if (f.http_thread.joinable()) f.http_thread.join();
  if (f.remove_state_dir) {
    std::error_code ec;
    std::filesystem::remove_all(f.state_dir, ec);
  }
  f.final_summary = summary;
  return summary;
}

}  // namespace reclothes::simulator
