#include "reclothes/provisioning/cli/selftest_backend.h"

#include <charconv>

#include "board_rig.h"
#include "reclothes/hal/sim/sim_cabinet.h"

namespace reclothes::provisioning::cli {
namespace {

constexpr char kSimFaultForms[] =
    "expected jam:N, lock:N, door:N, fill:N (compartment N), camera, environment, tamper or "
    "indicator";

// The sim runs on virtual time: waiting advances the clock, so a jammed door's 10 s timeout
// costs nothing and every run gives the same numbers.
class SimRig final : public SelfTestRig {
 public:
  static Result<std::unique_ptr<SimRig>> create(const BoxFile& config,
                                                const BackendOptions& options) {
    std::unique_ptr<SimRig> rig(new SimRig());
    hal::sim::SimCabinetConfig sim;
    sim.compartments = config.cabinet.compartments.size();
    sim.fill_sensors = false;
    for (const auto& c : config.cabinet.compartments) sim.fill_sensors |= c.fill_sensor;
    sim.pulse_length = config.cabinet.compartments.front().pulse;
    sim.auto_open_after = options.sim_auto_open;
    if (config.camera) {
      sim.frame_width = config.camera->width;
      sim.frame_height = config.camera->height;
    }
    RC_ASSIGN_OR_RETURN(rig->sim_, hal::sim::SimCabinet::create(rig->clock_, sim));
    rig->cabinet_ = rig->sim_->cabinet();
    if (!config.camera) rig->cabinet_.camera = nullptr;
    rig->sim_->set_environment({21.0, 45.0});
    for (const SimFault& f : options.sim_faults) RC_TRY(rig->inject(f));
    return rig;
  }

  hal::Cabinet& cabinet() override { return cabinet_; }
  const Clock& clock() const override { return clock_; }
  const Sleeper& sleeper() const override { return sleeper_; }
  void on_door_opened(int number, const std::function<void(const std::string&)>& say) override {
    say("sim: closing door " + std::to_string(number) + " as the technician would");
    (void)sim_->close_door(static_cast<std::size_t>(number - 1));
  }
  std::string description() const override { return "sim (virtual time)"; }

 private:
  SimRig() : sleeper_([this](std::chrono::milliseconds d) { clock_.advance(d); }) {}

  Status inject(const SimFault& f) {
    const auto index = static_cast<std::size_t>(f.compartment > 0 ? f.compartment - 1 : 0);
    const bool per_compartment = f.kind == SimFault::Kind::kJam ||
                                 f.kind == SimFault::Kind::kLock ||
                                 f.kind == SimFault::Kind::kDoor || f.kind == SimFault::Kind::kFill;
    if (per_compartment && (f.compartment < 1 ||
                            static_cast<std::size_t>(f.compartment) > sim_->compartment_count())) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--sim-fault names compartment " + std::to_string(f.compartment) +
                            ", but the box has 1.." + std::to_string(sim_->compartment_count()));
    }
    const Error io = make_error(ErrorCode::kIo, "injected by --sim-fault");
    switch (f.kind) {
      case SimFault::Kind::kJam:
        return sim_->set_jammed(index, true);
      case SimFault::Kind::kLock:
        return sim_->set_lock_fault(index, io);
      case SimFault::Kind::kDoor:
        return sim_->set_door_fault(index, io);
      case SimFault::Kind::kFill:
        return sim_->set_fill_fault(index, io);
      case SimFault::Kind::kCamera:
        sim_->set_camera_fault(io);
        return ok_status();
      case SimFault::Kind::kEnvironment:
        sim_->set_environment_fault(io);
        return ok_status();
      case SimFault::Kind::kTamper:
        sim_->set_tamper_fault(io);
        return ok_status();
      case SimFault::Kind::kIndicator:
        sim_->set_indicator_fault(io);
        return ok_status();
    }
    return ok_status();
  }

  ManualClock clock_;
  Sleeper sleeper_;
  std::unique_ptr<hal::sim::SimCabinet> sim_;
  hal::Cabinet cabinet_;
};

}  // namespace

Result<SimFault> parse_sim_fault(std::string_view text) {
  const std::size_t colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  SimFault f;
  if (name == "jam") {
    f.kind = SimFault::Kind::kJam;
  } else if (name == "lock") {
    f.kind = SimFault::Kind::kLock;
  } else if (name == "door") {
    f.kind = SimFault::Kind::kDoor;
  } else if (name == "fill") {
    f.kind = SimFault::Kind::kFill;
  } else if (name == "camera") {
    f.kind = SimFault::Kind::kCamera;
  } else if (name == "environment") {
    f.kind = SimFault::Kind::kEnvironment;
  } else if (name == "tamper") {
    f.kind = SimFault::Kind::kTamper;
  } else if (name == "indicator") {
    f.kind = SimFault::Kind::kIndicator;
  } else {
    return make_error(ErrorCode::kInvalidArgument,
                      "--sim-fault \"" + std::string(text) + "\": " + kSimFaultForms);
  }
  const bool per_compartment = f.kind == SimFault::Kind::kJam || f.kind == SimFault::Kind::kLock ||
                               f.kind == SimFault::Kind::kDoor || f.kind == SimFault::Kind::kFill;
  if (per_compartment) {
    if (colon == std::string_view::npos) {
      return make_error(ErrorCode::kInvalidArgument, "--sim-fault \"" + std::string(text) +
                                                         "\": needs a compartment, e.g. " +
                                                         std::string(name) + ":3");
    }
    const std::string_view number = text.substr(colon + 1);
    int n = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), n);
    if (ec != std::errc() || end != number.data() + number.size() || n < 1 ||
        n > static_cast<int>(kMaxCompartments)) {
      return make_error(ErrorCode::kInvalidArgument, "--sim-fault \"" + std::string(text) +
                                                         "\": the compartment must be 1.." +
                                                         std::to_string(kMaxCompartments));
    }
    f.compartment = n;
  } else if (colon != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "--sim-fault \"" + std::string(text) + "\": " +
                                                       std::string(name) + " takes no compartment");
  }
  return f;
}

Result<std::unique_ptr<SelfTestRig>> make_self_test_rig(const BoxFile& config,
                                                        const BackendOptions& options) {
  if (config.cabinet.compartments.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "the configuration has no compartments");
  }
  if (options.backend == Backend::kSim) {
    RC_ASSIGN_OR_RETURN(std::unique_ptr<SimRig> rig, SimRig::create(config, options));
    return std::unique_ptr<SelfTestRig>(std::move(rig));
  }
  if (!options.sim_faults.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--sim-fault needs --backend sim");
  }
  return make_board_rig(config);
}

CabinetExpectation expectation_of(const BoxFile& config) {
  CabinetExpectation e;
  for (const auto& c : config.cabinet.compartments) {
    e.compartments.push_back({c.number, c.pulse, c.fill_sensor});
  }
  e.camera = config.camera.has_value();
  return e;
}

}  // namespace reclothes::provisioning::cli
