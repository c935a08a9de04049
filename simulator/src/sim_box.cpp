#include "reclothes/simulator/sim_box.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "reclothes/firmware/compartment.h"
#include "reclothes/firmware/scanner.h"
#include "reclothes/firmware/sim_config.h"

namespace reclothes::simulator {

using std::chrono::milliseconds;

// ---- SimBox -------------------------------------------------------------------------------------

Result<std::unique_ptr<SimBox>> SimBox::create(SimBoxOptions options, const Clock& clock) {
  if (options.auto_open_delay <= milliseconds(0) ||
      options.auto_open_delay > hal::sim::SimCabinet::kMaxAutoOpenDelay) {
    return make_error(ErrorCode::kInvalidArgument, "auto-open delay must be 1 ms .. 60 s");
  }
  RC_ASSIGN_OR_RETURN(std::unique_ptr<hal::sim::SimCabinet> sim,
                      hal::sim::SimCabinet::create(clock, firmware::to_sim_config(options.config)));
  std::unique_ptr<NetworkLink> link;
  if (options.sync && options.network_link) {
    RC_ASSIGN_OR_RETURN(BrokerAddress broker, parse_broker_uri(options.config.broker.uri));
    RC_ASSIGN_OR_RETURN(link, NetworkLink::create(broker.host, broker.port));
  }
  if (options.sync) {
    RC_TRY(firmware::validate(firmware::sync_options(options.config)));
  }
  return std::unique_ptr<SimBox>(
      new SimBox(std::move(options), clock, std::move(sim), std::move(link)));
}

SimBox::SimBox(SimBoxOptions options, const Clock& clock, std::unique_ptr<hal::sim::SimCabinet> sim,
               std::unique_ptr<NetworkLink> link)
    : options_(std::move(options)),
      clock_(clock),
      sim_(std::move(sim)),
      link_(std::move(link)),
      auto_open_(options_.auto_open),
      auto_open_delay_(options_.auto_open_delay) {}

SimBox::~SimBox() { shutdown(); }

bool SimBox::powered() const {
  std::lock_guard lock(mu_);
  return box_ != nullptr;
}

Status SimBox::power_on() {
  std::lock_guard lock(mu_);
  if (box_) return make_error(ErrorCode::kFailedPrecondition, box_id() + " is already on");
  firmware_error_.reset();
  firmware::JournalOptions journal_options;
  journal_options.path = options_.config.journal_path;
  journal_options.durable = options_.durable_journal;
  RC_ASSIGN_OR_RETURN(journal_, firmware::Journal::open(journal_options));
  mailbox_ = std::make_unique<firmware::Mailbox>();
  hal::Cabinet cabinet = sim_->cabinet();
  // A configuration without a camera is a box that only opens by remote command.
  if (!options_.config.camera) cabinet.camera = nullptr;
  auto box = firmware::Box::create(options_.config, cabinet, *journal_, *mailbox_, clock_);
  Status started = box.ok() ? (*box)->start() : Status(box.error());
  if (!started.ok()) {
    mailbox_.reset();
    journal_.reset();
    return started.error().with_context(box_id() + ": firmware start-up");
  }
  box_ = std::move(box).value();
  if (options_.sync && (link_ || network_up_)) {
    if (Status s = start_sync_locked(); !s.ok()) {
      // The box works offline; the page shows the sync as not connected.
      spdlog::error("{}: sync not started: {}", box_id(), s.error().to_string());
    }
  }
  spdlog::info("{}: power on, firmware started", box_id());
  return ok_status();
}

Status SimBox::start_sync_locked() {
  firmware::SyncOptions o = firmware::sync_options(options_.config);
  if (link_) {
    RC_ASSIGN_OR_RETURN(BrokerAddress broker, parse_broker_uri(options_.config.broker.uri));
    o.broker_uri = broker.scheme + "://127.0.0.1:" + std::to_string(link_->port());
  }
  o.reconnect_min = options_.reconnect_min;
  o.reconnect_max = std::max(options_.reconnect_max, options_.reconnect_min);
  RC_ASSIGN_OR_RETURN(sync_, firmware::Sync::create(o, *journal_, *mailbox_, clock_));
  return sync_->start();
}

void SimBox::stop_sync_locked(bool clean) {
  if (!sync_) return;
  // A clean stop says "offline" and lets in-flight messages finish; a lost link or power has
  // nothing to drain.
  sync_->stop(clean ? std::chrono::seconds(2) : milliseconds(0));
  sync_.reset();
}

void SimBox::pull_power() {
  std::lock_guard lock(mu_);
  if (!box_) return;
  // The connection dies with the power: the broker sees it close and publishes the last will.
  if (link_) link_->cut();
  stop_sync_locked(false);
  box_.reset();  // no Box::stop(): nothing is de-energised or journaled on the way down
  mailbox_.reset();
  journal_.reset();
  if (link_ && network_up_) link_->restore();
  spdlog::warn("{}: power pulled", box_id());
}

void SimBox::shutdown() {
  std::lock_guard lock(mu_);
  if (!box_) return;
  box_->stop();
  stop_sync_locked(true);
  box_.reset();
  mailbox_.reset();
  journal_.reset();
  spdlog::info("{}: shut down", box_id());
}

milliseconds SimBox::step_interval() const {
  std::lock_guard lock(mu_);
  if (box_) return box_->step_interval();
  const std::uint32_t fps = options_.config.camera ? options_.config.camera->fps : 10;
  return milliseconds(1000 / std::max<std::uint32_t>(fps, 1));
}

void SimBox::run_auto_open_locked() {
  std::optional<Clock::Monotonic> last = last_pulse_seen_;
  std::size_t seen_at_last = pulses_seen_at_last_;
  std::size_t same = 0;
  // Pulses are recorded in time order; the history drops its oldest entries, so new ones are
  // found by start time (and, for several at one instant, by how many of those were seen).
  for (const hal::sim::PulseRecord& p : sim_->pulses()) {
    if (last && p.start < *last) continue;
    if (last && p.start == *last) {
      if (++same <= seen_at_last) continue;
      ++seen_at_last;
    } else {
      last = p.start;
      seen_at_last = 1;
      same = 1;
    }
    ++pulse_count_;
    if (auto_open_) auto_open_due_.emplace(p.start + auto_open_delay_, p.compartment);
  }
  last_pulse_seen_ = last;
  pulses_seen_at_last_ = seen_at_last;

  const Clock::Monotonic now = clock_.monotonic();
  while (!auto_open_due_.empty() && auto_open_due_.begin()->first <= now) {
    const std::size_t i = auto_open_due_.begin()->second;
    auto_open_due_.erase(auto_open_due_.begin());
    // A jammed latch holds (open_door refuses); a door already opened by hand stays as it is.
    if (sim_->door_open(i).value_or(true)) continue;
    if (Status s = sim_->open_door(i); s.ok()) {
      spdlog::info("{}: the customer opens door {} after the lock clicked", box_id(), i + 1);
    }
  }
}

Status SimBox::step() {
  std::lock_guard lock(mu_);
  sim_->tick();
  run_auto_open_locked();
  if (!box_) return ok_status();
  Status s = box_->step();
  if (!s.ok()) {
    // The daemon would exit here and be restarted by its supervisor; the simulator keeps the
    // firmware down and shows why until someone restores the power.
    firmware_error_ = s.error().to_string();
    spdlog::critical("{}: main loop stopped: {}", box_id(), *firmware_error_);
    if (link_) link_->cut();
    stop_sync_locked(false);
    box_.reset();
    mailbox_.reset();
    journal_.reset();
    if (link_ && network_up_) link_->restore();
    return s;
  }
  if (!sync_) {
    // Nobody else takes the results: keep the latest for the page.
    while (auto result = mailbox_->pop_result()) {
      command_results_.push_back(std::move(*result));
      if (command_results_.size() > kMaxCommandResults) command_results_.pop_front();
    }
  }
  return ok_status();
}

// ---- the world ----------------------------------------------------------------------------------

Result<std::size_t> SimBox::index(int compartment) const {
  if (compartment < 1 || static_cast<std::size_t>(compartment) > sim_->compartment_count()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "compartment " + std::to_string(compartment) + " does not exist (1.." +
                          std::to_string(sim_->compartment_count()) + ")");
  }
  return static_cast<std::size_t>(compartment - 1);
}

Result<PresentReport> SimBox::present_token(std::string_view text, const PresentOptions& options) {
  if (!options_.config.camera) {
    return make_error(ErrorCode::kFailedPrecondition,
                      box_id() + " has no camera (its configuration has no camera section)");
  }
  RC_ASSIGN_OR_RETURN(hal::Frame frame, render_presented(text, options_.config.camera->width,
                                                         options_.config.camera->height, options));
  PresentReport report;
  report.width = frame.width;
  report.height = frame.height;
  // The Box's scanner has default options too, so this sees what the firmware will see.
  report.decoded_text = firmware::Scanner{}.decode(frame);
  report.camera_sees_code = report.decoded_text.has_value();
  report.frames = kFramesPerPresent;
  RC_TRY(present_frame(std::move(frame), kFramesPerPresent));
  return report;
}

Result<PresentReport> SimBox::present_image(std::string_view png) {
  if (!options_.config.camera) {
    return make_error(ErrorCode::kFailedPrecondition,
                      box_id() + " has no camera (its configuration has no camera section)");
  }
  RC_ASSIGN_OR_RETURN(hal::Frame frame, frame_from_png(png, options_.config.camera->width,
                                                       options_.config.camera->height));
  PresentReport report;
  report.width = frame.width;
  report.height = frame.height;
  report.decoded_text = firmware::Scanner{}.decode(frame);
  report.camera_sees_code = report.decoded_text.has_value();
  report.frames = kFramesPerPresent;
  RC_TRY(present_frame(std::move(frame), kFramesPerPresent));
  return report;
}

Status SimBox::present_frame(hal::Frame frame, int frames) {
  RC_TRY(hal::validate_frame(frame));
  for (int k = 0; k < frames; ++k) RC_TRY(sim_->present_frame(frame));
  std::lock_guard lock(mu_);
  last_frame_ = std::move(frame);
  return ok_status();
}

std::optional<hal::Frame> SimBox::last_frame() const {
  std::lock_guard lock(mu_);
  return last_frame_;
}

Status SimBox::open_door(int compartment) {
  RC_ASSIGN_OR_RETURN(std::size_t i, index(compartment));
  return sim_->open_door(i);
}

Status SimBox::close_door(int compartment) {
  RC_ASSIGN_OR_RETURN(std::size_t i, index(compartment));
  return sim_->close_door(i);
}

Status SimBox::set_fill(int compartment, int percent) {
  RC_ASSIGN_OR_RETURN(std::size_t i, index(compartment));
  if (percent < 0 || percent > 100) {
    return make_error(ErrorCode::kInvalidArgument, "fill level must be 0..100 %");
  }
  return sim_->set_fill_percent(i, percent);
}

Status SimBox::set_jammed(int compartment, bool jammed) {
  RC_ASSIGN_OR_RETURN(std::size_t i, index(compartment));
  return sim_->set_jammed(i, jammed);
}

void SimBox::set_environment(double temperature_c, double humidity_percent) {
  sim_->set_environment({temperature_c, humidity_percent});
}

void SimBox::set_tampered(bool tampered) { sim_->set_tampered(tampered); }

void SimBox::set_auto_open(bool enabled, std::optional<milliseconds> delay) {
  std::lock_guard lock(mu_);
  auto_open_ = enabled;
  if (delay && *delay > milliseconds(0) && *delay <= hal::sim::SimCabinet::kMaxAutoOpenDelay) {
    auto_open_delay_ = *delay;
  }
  if (!enabled) auto_open_due_.clear();
}

// ---- the network --------------------------------------------------------------------------------

Status SimBox::pull_network() {
  std::lock_guard lock(mu_);
  network_up_ = false;
  if (link_) {
    link_->cut();
  } else {
    stop_sync_locked(true);
  }
  spdlog::warn("{}: network pulled", box_id());
  return ok_status();
}

Status SimBox::restore_network() {
  std::lock_guard lock(mu_);
  network_up_ = true;
  if (link_) {
    link_->restore();
  } else if (box_ && options_.sync && !sync_) {
    RC_TRY(start_sync_locked());
  }
  spdlog::info("{}: network restored", box_id());
  return ok_status();
}

Status SimBox::push_command(msg::Command command) {
  std::lock_guard lock(mu_);
  if (!box_) return make_error(ErrorCode::kFailedPrecondition, box_id() + " has no power");
  if (!mailbox_->push_inbound(std::move(command))) {
    return make_error(ErrorCode::kResourceExhausted, box_id() + ": the mailbox is full");
  }
  return ok_status();
}

// ---- observations -------------------------------------------------------------------------------

std::string SimBox::compartment_state(int compartment) {
  std::lock_guard lock(mu_);
  if (compartment < 1 || static_cast<std::size_t>(compartment) > sim_->compartment_count()) {
    return "";
  }
  if (!box_) return "off";
  return std::string(firmware::to_string(box_->compartment_state(compartment)));
}

std::vector<hal::sim::PulseRecord> SimBox::pulses() const { return sim_->pulses(); }

Result<JournalTail*> SimBox::tail_locked() {
  if (!tail_) {
    RC_ASSIGN_OR_RETURN(tail_, JournalTail::open(options_.config.journal_path));
  }
  return tail_.get();
}

Result<std::vector<JournalEvent>> SimBox::events_after(std::uint64_t after, std::size_t limit) {
  std::lock_guard lock(mu_);
  RC_ASSIGN_OR_RETURN(JournalTail * tail, tail_locked());
  return tail->after(after, limit);
}

Result<std::vector<JournalEvent>> SimBox::latest_events(std::size_t count) {
  std::lock_guard lock(mu_);
  RC_ASSIGN_OR_RETURN(JournalTail * tail, tail_locked());
  return tail->latest(count);
}

BoxView SimBox::view() {
  const hal::sim::SimSnapshot snap = sim_->snapshot();
  std::lock_guard lock(mu_);
  BoxView v;
  v.box_id = box_id();
  v.powered = box_ != nullptr;
  v.firmware_error = firmware_error_;
  v.firmware_version = std::string(firmware::kFirmwareVersion);
  if (box_) {
    v.maintenance = box_->maintenance();
    v.config_revision = box_->config_revision();
  }
  for (std::size_t i = 0; i < snap.compartments.size(); ++i) {
    const auto& s = snap.compartments[i];
    CompartmentView c;
    c.id = static_cast<int>(i + 1);
    if (i < options_.config.compartments.size()) {
      c.size = std::string(firmware::to_string(options_.config.compartments[i].size));
    }
    c.state = box_ ? std::string(firmware::to_string(box_->compartment_state(c.id))) : "off";
    c.door_open = s.door_open;
    c.energised = s.energised;
    c.unlocked = s.energised || c.state == "unlocked";
    c.jammed = s.jammed;
    c.fill_percent = s.fill_percent;
    v.compartments.push_back(std::move(c));
  }
  v.indicator = snap.indicator;
  v.environment = snap.environment;
  v.tampered = snap.tampered;
  v.network.sync_enabled = options_.sync;
  v.network.broker = options_.config.broker.uri;
  v.network.link_up = network_up_;
  if (sync_) {
    v.network.connected = sync_->connected();
    v.network.stats = sync_->stats();
  }
  if (journal_) {
    journal_info_.last_seq = journal_->last_seq().value_or(journal_info_.last_seq);
    journal_info_.acked_upto = journal_->acked_upto().value_or(journal_info_.acked_upto);
    journal_info_.backlog = journal_->backlog().value_or(journal_info_.backlog);
  }
  v.journal = journal_info_;
  v.auto_open = auto_open_;
  v.auto_open_delay = auto_open_delay_;
  v.pulses = pulse_count_;
  v.command_results.assign(command_results_.begin(), command_results_.end());
  return v;
}

nlohmann::json to_json(const BoxView& v) {
  nlohmann::json compartments = nlohmann::json::array();
  for (const CompartmentView& c : v.compartments) {
    compartments.push_back({{"id", c.id},
                            {"size", c.size},
                            {"state", c.state},
                            {"door_open", c.door_open},
                            {"energised", c.energised},
                            {"unlocked", c.unlocked},
                            {"jammed", c.jammed},
                            {"fill_percent", c.fill_percent ? nlohmann::json(*c.fill_percent)
                                                            : nlohmann::json(nullptr)}});
  }
  nlohmann::json indicator = nullptr;
  if (v.indicator) {
    indicator = {{"pattern", std::string(hal::to_string(v.indicator->pattern))},
                 {"message", v.indicator->message},
                 {"wall_ms", v.indicator->wall_ms}};
  }
  nlohmann::json results = nlohmann::json::array();
  for (const msg::CommandResult& r : v.command_results) {
    results.push_back(
        {{"command_id", r.command_id}, {"ok", r.ok}, {"code", r.code}, {"message", r.message}});
  }
  const firmware::SyncStats& st = v.network.stats;
  return {
      {"box_id", v.box_id},
      {"powered", v.powered},
      {"firmware_error", v.firmware_error ? nlohmann::json(*v.firmware_error) : nullptr},
      {"firmware_version", v.firmware_version},
      {"maintenance", v.maintenance},
      {"config_revision", v.config_revision},
      {"compartments", compartments},
      {"indicator", indicator},
      {"environment",
       {{"temperature_c", v.environment.temperature_c},
        {"humidity_percent", v.environment.humidity_percent}}},
      {"tampered", v.tampered},
      {"network",
       {{"sync_enabled", v.network.sync_enabled},
        {"broker", v.network.broker},
        {"link_up", v.network.link_up},
        {"connected", v.network.connected},
        {"stats",
         {{"connects", st.connects},
          {"disconnects", st.disconnects},
          {"events_sent", st.events_sent},
          {"acked_upto", st.acked_upto},
          {"rewinds", st.rewinds},
          {"commands_received", st.commands_received},
          {"state_reports", st.state_reports}}}}},
      {"journal",
       {{"last_seq", v.journal.last_seq},
        {"acked_upto", v.journal.acked_upto},
        {"backlog", v.journal.backlog}}},
      {"auto_open", {{"enabled", v.auto_open}, {"delay_ms", v.auto_open_delay.count()}}},
      {"pulses", v.pulses},
      {"command_results", results},
  };
}

nlohmann::json to_json(const JournalEvent& e) {
  nlohmann::json out = e.body;
  out["seq"] = e.seq;
  out["kind"] = e.kind;
  out["at_ms"] = e.at_ms;
  return out;
}

// ---- SimBoxRunner -------------------------------------------------------------------------------

SimBoxRunner::SimBoxRunner(SimBox& box) : box_(box) {
  thread_ = std::thread([this] {
    while (!stop_) {
      const auto started = std::chrono::steady_clock::now();
      (void)box_.step();  // a failure is logged and shown by the box itself
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, started + box_.step_interval(), [this] { return stop_.load(); });
    }
  });
}

SimBoxRunner::~SimBoxRunner() { stop(); }

void SimBoxRunner::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace reclothes::simulator
