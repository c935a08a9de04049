// Plays a parsed scenario: boxes are SimBoxes (real firmware on the sim HAL), stepped by their own
// threads in real time or by the runner on a ManualClock in virtual time.
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "reclothes/common/clock.h"
#include "reclothes/firmware/config.h"
#include "reclothes/simulator/scenario.h"
#include "reclothes/simulator/sim_box.h"
#include "reclothes/simulator/tokens.h"
#include "scenario_spec.h"

namespace reclothes::simulator {

using namespace scenario_detail;
using nlohmann::json;
using std::chrono::milliseconds;

namespace {

Error fail(std::string message) {
  return make_error(ErrorCode::kFailedPrecondition, std::move(message));
}

std::string format_ms(milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

class Runner {
 public:
  Runner(const Scenario& scenario, const ScenarioRunOptions& options)
      : scenario_(scenario),
        options_(options),
        manual_clock_(SystemClock().wall_ms()),
        clock_(options.virtual_time ? static_cast<const Clock&>(manual_clock_)
                                    : static_cast<const Clock&>(system_clock_)) {}

  ~Runner() { cleanup(); }

  ScenarioReport run() {
    ScenarioReport report;
    const auto started = std::chrono::steady_clock::now();
    if (Status s = prepare(); !s.ok()) {
      report.failure = scenario_.file.filename().string() + ": " + s.error().message;
      report.elapsed = since(started);
      return report;
    }
    for (const ScenarioStep& step : scenario_.steps) {
      const std::string label = describe(scenario_, step);
      Status s = execute(step);
      if (!s.ok()) {
        report.failed_step = step.index;
        report.failure = label + ": " + s.error().message;
        report.log.push_back("FAIL " + label + ": " + s.error().message);
        if (options_.on_step) options_.on_step(step, false, report.log.back());
        break;
      }
      report.log.push_back("ok   " + label + (note_.empty() ? "" : ": " + note_));
      if (options_.on_step) options_.on_step(step, true, report.log.back());
      ++report.steps_run;
    }
    report.passed = !report.failed_step.has_value();
    report.vars = vars_;
    cleanup();
    report.elapsed = since(started);
    return report;
  }

 private:
  struct Slot {
    std::unique_ptr<SimBox> box;
    std::unique_ptr<SimBoxRunner> runner;  // real time only
    std::uint64_t cursor = 0;              // events up to here were matched by expect_event
  };

  static milliseconds since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t);
  }

  Status prepare() {
    vars_ = scenario_.vars;
    for (const auto& [k, v] : options_.vars) vars_[k] = v;
    if (options_.state_dir) {
      state_dir_ = *options_.state_dir;
      std::error_code ec;
      std::filesystem::create_directories(state_dir_, ec);
      if (ec) return fail("state dir " + state_dir_.string() + ": " + ec.message());
    } else {
      std::string pattern =
          (std::filesystem::temp_directory_path() / "reclothes-scenario-XXXXXX").string();
      if (::mkdtemp(pattern.data()) == nullptr) return fail("cannot create a temporary directory");
      state_dir_ = pattern;
      remove_state_dir_ = true;
    }
    vars_["state_dir"] = state_dir_.string();
    vars_["scenario_dir"] = base_dir().string();
    return ok_status();
  }

  void cleanup() {
    for (auto& [id, slot] : boxes_) {
      if (slot.runner) slot.runner->stop();
      slot.runner.reset();
      if (slot.box) slot.box->shutdown();
    }
    boxes_.clear();
    if (remove_state_dir_) {
      std::error_code ec;
      std::filesystem::remove_all(state_dir_, ec);
      remove_state_dir_ = false;
    }
  }

  std::filesystem::path base_dir() const {
    std::filesystem::path dir = scenario_.file.parent_path();
    return dir.empty() ? std::filesystem::current_path() : dir;
  }
  std::filesystem::path resolve(const std::string& path) const {
    const std::filesystem::path p(path);
    return p.is_absolute() ? p : base_dir() / p;
  }

  // ---- variables ----

  Result<std::string> substitute_string(const std::string& text) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
      const std::size_t open = text.find("${", i);
      if (open == std::string::npos) {
        out += text.substr(i);
        break;
      }
      out += text.substr(i, open - i);
      const std::size_t close = text.find('}', open);
      if (close == std::string::npos) return fail("unclosed ${ in \"" + text + "\"");
      const std::string name = text.substr(open + 2, close - open - 2);
      if (name.rfind("env.", 0) == 0) {
        const char* value = std::getenv(name.substr(4).c_str());
        if (value == nullptr) return fail("environment variable " + name.substr(4) + " is not set");
        out += value;
      } else if (auto it = vars_.find(name); it != vars_.end()) {
        out += it->second;
      } else {
        return fail("unknown variable ${" + name +
                    "} (set it with vars:, --var, set:, mint save_as: or http save:)");
      }
      i = close + 1;
    }
    return out;
  }

  // typed (http bodies): a string that is exactly one "${name}" of a variable an http step saved
  // from a JSON number, boolean, array or object becomes that JSON value again, so
  // `location_id: "${location_id}"` sends 12, not "12".
  Result<json> substitute(const json& v, bool typed = false) {
    if (v.is_string()) {
      const std::string& text = v.get_ref<const std::string&>();
      if (typed && text.size() > 3 && text.rfind("${", 0) == 0 && text.back() == '}' &&
          text.find('}') == text.size() - 1) {
        const std::string name = text.substr(2, text.size() - 3);
        auto typed_it = typed_vars_.find(name);
        auto it = vars_.find(name);
        if (typed_it != typed_vars_.end() && it != vars_.end() &&
            it->second == typed_it->second.dump()) {
          return typed_it->second;
        }
      }
      RC_ASSIGN_OR_RETURN(std::string s, substitute_string(text));
      return json(std::move(s));
    }
    if (v.is_array() || v.is_object()) {
      json out = v;
      for (auto& [key, item] : out.items()) {
        RC_ASSIGN_OR_RETURN(item, substitute(item, typed));
      }
      return out;
    }
    return v;
  }

  // ---- time ----

  // Lets `d` pass: the boxes' own threads run meanwhile (real time), or the runner steps every box
  // on the virtual clock.
  void advance(milliseconds d) {
    if (!options_.virtual_time) {
      std::this_thread::sleep_for(d);
      return;
    }
    milliseconds left = d;
    do {
      const milliseconds tick = std::min(left, options_.virtual_tick);
      manual_clock_.advance(tick);
      for (auto& [id, slot] : boxes_) (void)slot.box->step();
      left -= tick;
    } while (left > milliseconds(0));
  }

  // Re-checks until `check` returns nullopt (satisfied) or `within` has passed on the clock;
  // then fails with the last reason.
  template <typename Check>
  Status wait_until(milliseconds within, const std::string& what, Check check) {
    const Clock::Monotonic deadline = clock_.monotonic() + within;
    for (;;) {
      std::optional<std::string> why = check();
      if (!why) return ok_status();
      if (clock_.monotonic() >= deadline) {
        return fail(what + (within.count() > 0 ? " within " + format_ms(within) : "") + ": " +
                    *why);
      }
      advance(options_.poll);
    }
  }

  // ---- boxes ----

  Result<Slot*> slot_for(const json& args) {
    if (args.contains("box")) {
      RC_ASSIGN_OR_RETURN(std::string id, as_string(args["box"]));
      auto it = boxes_.find(id);
      if (it == boxes_.end()) return fail("box " + id + " was not started (add a start step)");
      return &it->second;
    }
    if (boxes_.size() == 1) return &boxes_.begin()->second;
    return fail(boxes_.empty() ? "no box is started (add a start step)"
                               : "several boxes are started: say which with box:");
  }

  template <typename T>
  static Result<T> get_or(const json& args, const char* name, T fallback,
                          Result<T> (*convert)(const json&)) {
    if (!args.contains(name) || args[name].is_null()) return fallback;
    auto v = convert(args[name]);
    if (!v.ok())
      return make_error(ErrorCode::kInvalidArgument, std::string(name) + ": " + v.error().message);
    return v;
  }
  static Result<std::int64_t> get_int(const json& a, const char* n, std::int64_t d = 0) {
    return get_or<std::int64_t>(a, n, d, &as_int);
  }
  static Result<double> get_number(const json& a, const char* n, double d = 0) {
    return get_or<double>(a, n, d, &as_number);
  }
  static Result<bool> get_bool(const json& a, const char* n, bool d) {
    return get_or<bool>(a, n, d, &as_bool);
  }
  static Result<std::string> get_string(const json& a, const char* n, std::string d = "") {
    return get_or<std::string>(a, n, std::move(d), &as_string);
  }
  static Result<milliseconds> get_duration(const json& a, const char* n, milliseconds d) {
    if (!a.contains(n) || a[n].is_null()) return d;
    auto v = parse_duration(a[n]);
    if (!v.ok())
      return make_error(ErrorCode::kInvalidArgument, std::string(n) + ": " + v.error().message);
    return v;
  }

  static Result<int> get_compartment(const json& a) {
    RC_ASSIGN_OR_RETURN(std::int64_t c, get_int(a, "compartment"));
    if (c < 1 || c > 255) return fail("compartment must be 1..255");
    return static_cast<int>(c);
  }

  Result<TokenAction> get_action(const json& a, const char* fallback) {
    RC_ASSIGN_OR_RETURN(std::string name, get_string(a, "action", fallback));
    auto action = token_action_from_string(name);
    if (!action) {
      return fail("unknown action \"" + name +
                  "\" (deposit, pickup, courier_collect, courier_load, return)");
    }
    return *action;
  }

  // ---- steps ----

  Status execute(const ScenarioStep& step) {
    note_.clear();
    RC_ASSIGN_OR_RETURN(json args, substitute(step.args));
    const std::string& k = step.kind;
    if (k == "http" && step.args.contains("body")) {
      RC_ASSIGN_OR_RETURN(args["body"], substitute(step.args["body"], true));
    }
    if (k == "start") return start(args);
    if (k == "wait") {
      RC_ASSIGN_OR_RETURN(milliseconds d, get_duration(args, "for", milliseconds(0)));
      advance(d);
      return ok_status();
    }
    if (k == "set") {
      for (auto& [name, value] : args.items()) {
        RC_ASSIGN_OR_RETURN(vars_[name], as_string(value));
      }
      return ok_status();
    }
    if (k == "log") {
      RC_ASSIGN_OR_RETURN(note_, get_string(args, "message"));
      return ok_status();
    }
    if (k == "http") return http(args);
    if (k == "keygen") {
      RC_ASSIGN_OR_RETURN(std::string name, get_string(args, "save_as"));
      RC_ASSIGN_OR_RETURN(std::int64_t key_id, get_int(args, "key_id", 1));
      if (key_id < 0 || key_id > 65535) return fail("key_id must be 0..65535");
      const std::filesystem::path priv = state_dir_ / (name + ".key.pem");
      const std::filesystem::path pub = state_dir_ / (name + ".pub.pem");
      RC_TRY(write_key_pair(static_cast<std::uint16_t>(key_id), priv, pub));
      vars_[name] = priv.string();
      vars_[name + "_public"] = pub.string();
      note_ = "key " + std::to_string(key_id) + " in ${" + name + "}, ${" + name + "_public}";
      return ok_status();
    }

    RC_ASSIGN_OR_RETURN(Slot * slot, slot_for(args));
    SimBox& box = *slot->box;
    if (k == "stop") {
      if (slot->runner) slot->runner->stop();
      slot->runner.reset();
      box.shutdown();
      return ok_status();
    }
    if (k == "pull_power") {
      box.pull_power();
      return ok_status();
    }
    if (k == "restore_power") {
      RC_TRY(box.power_on());
      if (!options_.virtual_time && !slot->runner)
        slot->runner = std::make_unique<SimBoxRunner>(box);
      return ok_status();
    }
    if (k == "pull_network") return box.pull_network();
    if (k == "restore_network") return box.restore_network();
    if (k == "present") return present(box, args);
    if (k == "open_door" || k == "close_door") {
      RC_ASSIGN_OR_RETURN(int c, get_compartment(args));
      return k == "open_door" ? box.open_door(c) : box.close_door(c);
    }
    if (k == "set_fill") {
      RC_ASSIGN_OR_RETURN(int c, get_compartment(args));
      RC_ASSIGN_OR_RETURN(std::int64_t percent, get_int(args, "percent"));
      return box.set_fill(c, static_cast<int>(percent));
    }
    if (k == "set_environment") {
      RC_ASSIGN_OR_RETURN(double t, get_number(args, "temperature_c"));
      RC_ASSIGN_OR_RETURN(double h, get_number(args, "humidity_percent", 50));
      box.set_environment(t, h);
      return ok_status();
    }
    if (k == "tamper") {
      RC_ASSIGN_OR_RETURN(bool on, get_bool(args, "on", true));
      box.set_tampered(on);
      return ok_status();
    }
    if (k == "jam") {
      RC_ASSIGN_OR_RETURN(int c, get_compartment(args));
      RC_ASSIGN_OR_RETURN(bool on, get_bool(args, "on", true));
      return box.set_jammed(c, on);
    }
    if (k == "auto_open") {
      RC_ASSIGN_OR_RETURN(bool on, get_bool(args, "enabled", true));
      std::optional<milliseconds> delay;
      if (args.contains("delay")) {
        RC_ASSIGN_OR_RETURN(delay, get_duration(args, "delay", milliseconds(800)));
      }
      box.set_auto_open(on, delay);
      return ok_status();
    }
    if (k == "command" || k == "reserve") return command(step, box, args, k == "reserve");
    if (k == "mint") return mint(box, args);
    if (k == "expect_compartment") return expect_compartment(box, args);
    if (k == "expect_event") return expect_event(*slot, args);
    if (k == "expect_no_event") return expect_no_event(*slot, args);
    if (k == "expect_indicator") return expect_indicator(box, args);
    if (k == "expect_pulses") return expect_pulses(box, args);
    if (k == "expect_connected") {
      RC_ASSIGN_OR_RETURN(bool want, get_bool(args, "connected", true));
      RC_ASSIGN_OR_RETURN(milliseconds within, get_duration(args, "within", milliseconds(0)));
      return wait_until(within, box.box_id() + (want ? " connected" : " disconnected"),
                        [&]() -> std::optional<std::string> {
                          const BoxView v = box.view();
                          if (v.network.connected == want) return std::nullopt;
                          return want ? "the sync is not connected" : "the sync is still connected";
                        });
    }
    if (k == "expect_backlog") {
      RC_ASSIGN_OR_RETURN(std::int64_t max, get_int(args, "max", 0));
      RC_ASSIGN_OR_RETURN(milliseconds within, get_duration(args, "within", milliseconds(0)));
      return wait_until(within, box.box_id() + " backlog <= " + std::to_string(max),
                        [&]() -> std::optional<std::string> {
                          const BoxView v = box.view();
                          if (static_cast<std::int64_t>(v.journal.backlog) <= max)
                            return std::nullopt;
                          return "backlog is " + std::to_string(v.journal.backlog) + " (last seq " +
                                 std::to_string(v.journal.last_seq) + ", acked up to " +
                                 std::to_string(v.journal.acked_upto) + ")";
                        });
    }
    return fail("step kind " + k + " is not implemented");
  }

  Status start(const json& args) {
    RC_ASSIGN_OR_RETURN(std::string id, get_string(args, "box"));
    if (!is_valid_box_id(id))
      return fail("box id \"" + id + "\" is not valid ([A-Za-z0-9_-]{1,32})");
    if (boxes_.count(id) != 0) return fail("box " + id + " is already started");
    RC_ASSIGN_OR_RETURN(std::string config_path, get_string(args, "config"));
    auto config = firmware::load_config(resolve(config_path));
    if (!config.ok()) return fail(config.error().message);
    // One configuration file can serve several boxes: the step's id wins.
    if (config->broker.client_id.empty() || config->broker.client_id == config->box_id) {
      config->broker.client_id = id;
    }
    config->box_id = id;
    if (args.contains("trust")) RC_TRY(add_trusted_keys(*config, args["trust"]));
    RC_ASSIGN_OR_RETURN(bool fresh, get_bool(args, "fresh", true));
    if (fresh) config->journal_path = state_dir_ / (id + ".journal.db");
    SimBoxOptions o;
    RC_ASSIGN_OR_RETURN(std::string broker, get_string(args, "broker", ""));
    if (broker == "none") {
      o.sync = false;
    } else if (!broker.empty()) {
      config->broker.uri = broker;
    }
    RC_ASSIGN_OR_RETURN(o.network_link, get_bool(args, "network_link", true));
    if (args.contains("auto_open")) {
      const json& a = args["auto_open"];
      if (a.is_boolean() || (a.is_string() && as_bool(a).ok())) {
        RC_ASSIGN_OR_RETURN(o.auto_open, as_bool(a));
      } else {
        RC_ASSIGN_OR_RETURN(o.auto_open_delay, parse_duration(a));
        o.auto_open = true;
      }
    }
    o.config = std::move(*config);
    RC_ASSIGN_OR_RETURN(std::unique_ptr<SimBox> box, SimBox::create(std::move(o), clock_));
    RC_TRY(box->power_on());
    Slot slot;
    slot.box = std::move(box);
    if (!options_.virtual_time) slot.runner = std::make_unique<SimBoxRunner>(*slot.box);
    boxes_.emplace(id, std::move(slot));
    note_ = id + " powered on";
    return ok_status();
  }

  // trust: PATH | {key: PATH, key_id: N} | a list of those: public keys added to the box's
  // configuration (key id 1 unless given), as if the configuration file listed them.
  Status add_trusted_keys(firmware::BoxConfig& config, const json& trust) {
    const json items = trust.is_array() ? trust : json::array({trust});
    for (const json& item : items) {
      std::string path;
      std::int64_t key_id = 1;
      if (item.is_object()) {
        RC_ASSIGN_OR_RETURN(path, get_string(item, "key"));
        RC_ASSIGN_OR_RETURN(key_id, get_int(item, "key_id", 1));
      } else {
        RC_ASSIGN_OR_RETURN(path, as_string(item));
      }
      if (path.empty()) return fail("trust: a public key file is needed");
      if (key_id < 0 || key_id > 65535) return fail("trust: key_id must be 0..65535");
      std::ifstream in(resolve(path));
      if (!in) return fail("trust: cannot read " + resolve(path).string());
      std::ostringstream pem;
      pem << in.rdbuf();
      std::erase_if(config.trusted_keys,
                    [key_id](const firmware::TrustedKeyConfig& k) { return k.key_id == key_id; });
      config.trusted_keys.push_back({static_cast<std::uint16_t>(key_id), pem.str(), false});
    }
    return ok_status();
  }

  Status present(SimBox& box, const json& args) {
    RC_ASSIGN_OR_RETURN(std::string token, get_string(args, "token"));
    PresentOptions p;
    RC_ASSIGN_OR_RETURN(std::int64_t module_px, get_int(args, "module_px", 4));
    p.module_px = static_cast<int>(module_px);
    RC_ASSIGN_OR_RETURN(p.degrade.scale, get_number(args, "scale", 1.0));
    RC_ASSIGN_OR_RETURN(p.degrade.rotation_deg, get_number(args, "rotation", 0.0));
    RC_ASSIGN_OR_RETURN(p.degrade.blur_sigma, get_number(args, "blur", 0.0));
    RC_ASSIGN_OR_RETURN(std::int64_t noise, get_int(args, "noise", 0));
    p.degrade.noise = static_cast<int>(noise);
    RC_ASSIGN_OR_RETURN(std::int64_t seed, get_int(args, "seed", 1));
    p.degrade.seed = static_cast<std::uint32_t>(seed);
    RC_ASSIGN_OR_RETURN(PresentReport report, box.present_token(token, p));
    note_ = report.camera_sees_code ? "the camera sees the code" : "no code seen by the camera";
    if (args.contains("expect_seen")) {
      RC_ASSIGN_OR_RETURN(bool want, get_bool(args, "expect_seen", true));
      if (want != report.camera_sees_code) {
        return fail(want ? "no code seen by the camera in the presented frame"
                         : "the camera still reads the code");
      }
    }
    return ok_status();
  }

  Status command(const ScenarioStep& step, SimBox& box, const json& args, bool reserve) {
    msg::Command c;
    std::string op_name = "reserve";
    if (!reserve) {
      RC_ASSIGN_OR_RETURN(op_name, get_string(args, "op"));
    }
    auto op = msg::command_op_from_string(op_name);
    if (!op) return fail("unknown command op \"" + op_name + "\"");
    c.op = *op;
    std::string fallback_id = "scenario-" + std::to_string(step.index) + "-" +
                              std::to_string(std::random_device{}() % 1'000'000);
    RC_ASSIGN_OR_RETURN(c.id, get_string(args, "id", fallback_id));
    if (args.contains("compartment")) {
      RC_ASSIGN_OR_RETURN(int compartment, get_compartment(args));
      c.compartment = compartment;
    }
    if (c.op == msg::CommandOp::kReserve) {
      if (!c.compartment) return fail("a reserve needs compartment:");
      RC_ASSIGN_OR_RETURN(TokenAction action, get_action(args, "deposit"));
      RC_ASSIGN_OR_RETURN(std::int64_t order, get_int(args, "order_ref", 1));
      RC_ASSIGN_OR_RETURN(milliseconds valid, get_duration(args, "valid", std::chrono::hours(1)));
      c.reservation = msg::Reservation{*c.compartment, static_cast<std::uint64_t>(order), action,
                                       clock_.wall_seconds() + valid.count() / 1000};
      c.compartment.reset();
    }
    note_ = "command " + c.id;
    return box.push_command(std::move(c));
  }

  Status mint(SimBox& box, const json& args) {
    RC_ASSIGN_OR_RETURN(std::string key, get_string(args, "key"));
    RC_ASSIGN_OR_RETURN(std::int64_t key_id, get_int(args, "key_id", 1));
    if (key_id < 0 || key_id > 65535) return fail("key_id must be 0..65535");
    const std::string cache_key = resolve(key).string() + "#" + std::to_string(key_id);
    auto it = signers_.find(cache_key);
    if (it == signers_.end()) {
      RC_ASSIGN_OR_RETURN(TokenSigner signer,
                          load_signer(resolve(key), static_cast<std::uint16_t>(key_id)));
      it = signers_.emplace(cache_key, std::move(signer)).first;
    }
    RC_ASSIGN_OR_RETURN(std::vector<int> compartments, as_compartments(args["compartments"]));
    RC_ASSIGN_OR_RETURN(TokenAction action, get_action(args, "courier_load"));
    RC_ASSIGN_OR_RETURN(std::int64_t order, get_int(args, "order_ref", 1));
    RC_ASSIGN_OR_RETURN(milliseconds valid, get_duration(args, "valid", std::chrono::minutes(15)));
    RC_ASSIGN_OR_RETURN(milliseconds not_before,
                        get_duration(args, "not_before", std::chrono::minutes(-1)));
    RC_ASSIGN_OR_RETURN(std::string save_as, get_string(args, "save_as"));
    MintRequest m;
    m.box_id = box.box_id();
    m.action = action;
    for (int c : compartments) m.compartments.push_back(static_cast<std::uint8_t>(c));
    m.order_ref = static_cast<std::uint64_t>(order);
    m.not_before = clock_.wall_seconds() + not_before.count() / 1000;
    m.expires = clock_.wall_seconds() + valid.count() / 1000;
    RC_ASSIGN_OR_RETURN(std::string token, mint_token(it->second, m));
    vars_[save_as] = token;
    note_ = "minted " + std::string(to_string(action)) + " as ${" + save_as + "}";
    return ok_status();
  }

  Status expect_compartment(SimBox& box, const json& args) {
    RC_ASSIGN_OR_RETURN(int c, get_compartment(args));
    RC_ASSIGN_OR_RETURN(milliseconds within, get_duration(args, "within", milliseconds(0)));
    std::optional<std::string> state;
    if (args.contains("state")) {
      RC_ASSIGN_OR_RETURN(state, get_string(args, "state"));
    }
    std::optional<bool> door_open;
    if (args.contains("door")) {
      RC_ASSIGN_OR_RETURN(std::string door, get_string(args, "door"));
      if (door != "open" && door != "closed") return fail("door: expected open or closed");
      door_open = door == "open";
    }
    std::optional<bool> unlocked;
    if (args.contains("unlocked")) {
      RC_ASSIGN_OR_RETURN(unlocked, get_bool(args, "unlocked", false));
    }
    std::string want = "compartment " + std::to_string(c) + " of " + box.box_id();
    if (state) want += " state " + *state;
    if (door_open) want += *door_open ? " door open" : " door closed";
    if (unlocked) want += *unlocked ? " unlocked" : " locked";
    return wait_until(within, want, [&]() -> std::optional<std::string> {
      const BoxView v = box.view();
      if (c < 1 || static_cast<std::size_t>(c) > v.compartments.size()) {
        return "the box has " + std::to_string(v.compartments.size()) + " compartments";
      }
      const CompartmentView& cv = v.compartments[static_cast<std::size_t>(c - 1)];
      const bool ok = (!state || cv.state == *state) &&
                      (!door_open || cv.door_open == *door_open) &&
                      (!unlocked || cv.unlocked == *unlocked);
      if (ok) return std::nullopt;
      return "it is " + cv.state + ", door " + (cv.door_open ? "open" : "closed") + ", " +
             (cv.unlocked ? "unlocked" : "locked");
    });
  }

  // Does the event match the step's criteria?
  Result<bool> matches(const JournalEvent& e, const json& args) {
    RC_ASSIGN_OR_RETURN(std::string kind, get_string(args, "kind"));
    if (e.kind != kind) return false;
    auto field_is = [&e](const std::string& name, const json& want) -> Result<bool> {
      if (!e.body.contains(name)) return false;
      RC_ASSIGN_OR_RETURN(std::string a, as_string(e.body[name]));
      RC_ASSIGN_OR_RETURN(std::string b, as_string(want));
      return a == b;
    };
    for (const char* name : {"compartment", "reason", "action"}) {
      if (!args.contains(name)) continue;
      RC_ASSIGN_OR_RETURN(bool same, field_is(name, args[name]));
      if (!same) return false;
    }
    if (args.contains("fields")) {
      for (auto& [name, want] : args["fields"].items()) {
        RC_ASSIGN_OR_RETURN(bool same, field_is(name, want));
        if (!same) return false;
      }
    }
    return true;
  }

  static std::string brief(const JournalEvent& e) {
    std::string out = std::to_string(e.seq) + ":" + e.kind;
    if (e.body.contains("compartment")) out += "(" + e.body["compartment"].dump() + ")";
    if (e.body.contains("reason")) out += "[" + e.body["reason"].get<std::string>() + "]";
    return out;
  }

  Status expect_event(Slot& slot, const json& args) {
    RC_ASSIGN_OR_RETURN(milliseconds within, get_duration(args, "within", milliseconds(0)));
    RC_ASSIGN_OR_RETURN(std::string kind, get_string(args, "kind"));
    std::optional<JournalEvent> found;
    Status error = ok_status();
    Status waited = wait_until(
        within, "event " + kind + " at " + slot.box->box_id(), [&]() -> std::optional<std::string> {
          auto events = slot.box->events_after(slot.cursor, 10'000);
          if (!events.ok()) return events.error().message;
          std::string seen;
          for (const JournalEvent& e : *events) {
            auto m = matches(e, args);
            if (!m.ok()) {
              error = m.error();
              return std::nullopt;
            }
            if (*m) {
              found = e;
              return std::nullopt;
            }
            if (seen.size() < 300) seen += (seen.empty() ? "" : " ") + brief(e);
          }
          return "not journaled; events since the last match: " + (seen.empty() ? "none" : seen);
        });
    RC_TRY(error);
    RC_TRY(waited);
    slot.cursor = found->seq;
    note_ = "seq " + std::to_string(found->seq);
    if (args.contains("save")) {
      const json event = to_json(*found);
      for (auto& [var, field] : args["save"].items()) {
        RC_ASSIGN_OR_RETURN(std::string name, as_string(field));
        if (!event.contains(name)) return fail("event " + brief(*found) + " has no field " + name);
        RC_ASSIGN_OR_RETURN(vars_[var], as_string(event[name]));
      }
    }
    return ok_status();
  }

  Status expect_no_event(Slot& slot, const json& args) {
    RC_ASSIGN_OR_RETURN(milliseconds window, get_duration(args, "for", milliseconds(0)));
    RC_ASSIGN_OR_RETURN(std::string kind, get_string(args, "kind"));
    const Clock::Monotonic until = clock_.monotonic() + window;
    for (;;) {
      RC_ASSIGN_OR_RETURN(std::vector<JournalEvent> events,
                          slot.box->events_after(slot.cursor, 10'000));
      for (const JournalEvent& e : events) {
        RC_ASSIGN_OR_RETURN(bool m, matches(e, args));
        if (m) return fail("unexpected event " + brief(e) + " at " + slot.box->box_id());
      }
      if (clock_.monotonic() >= until) return ok_status();
      advance(options_.poll);
    }
  }

  Status expect_indicator(SimBox& box, const json& args) {
    RC_ASSIGN_OR_RETURN(milliseconds within, get_duration(args, "within", milliseconds(0)));
    RC_ASSIGN_OR_RETURN(std::string pattern, get_string(args, "pattern", ""));
    RC_ASSIGN_OR_RETURN(std::string message, get_string(args, "message", ""));
    RC_ASSIGN_OR_RETURN(std::string contains, get_string(args, "message_contains", ""));
    return wait_until(within, "indicator of " + box.box_id(), [&]() -> std::optional<std::string> {
      const BoxView v = box.view();
      if (!v.indicator) return "nothing shown yet";
      const std::string shown_pattern(hal::to_string(v.indicator->pattern));
      const std::string& shown_message = v.indicator->message;
      const bool ok = (pattern.empty() || shown_pattern == pattern) &&
                      (message.empty() || shown_message == message) &&
                      (contains.empty() || shown_message.find(contains) != std::string::npos);
      if (ok) return std::nullopt;
      return "it shows " + shown_pattern + " \"" + shown_message + "\"";
    });
  }

  Status expect_pulses(SimBox& box, const json& args) {
    RC_ASSIGN_OR_RETURN(std::int64_t want, get_int(args, "count"));
    std::optional<int> compartment;
    if (args.contains("compartment")) {
      RC_ASSIGN_OR_RETURN(compartment, get_compartment(args));
    }
    std::int64_t count = 0;
    for (const hal::sim::PulseRecord& p : box.pulses()) {
      if (!compartment || static_cast<int>(p.compartment) + 1 == *compartment) ++count;
    }
    if (count != want) {
      return fail("expected " + std::to_string(want) + " lock pulses" +
                  (compartment ? " on compartment " + std::to_string(*compartment) : "") +
                  ", saw " + std::to_string(count));
    }
    return ok_status();
  }

  Status http(const json& args) {
    RC_ASSIGN_OR_RETURN(std::string method,
                        get_string(args, "method", args.contains("body") ? "POST" : "GET"));
    for (char& ch : method) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    std::string url;
    if (args.contains("url")) {
      RC_ASSIGN_OR_RETURN(url, get_string(args, "url"));
    } else {
      std::string base;
      if (args.contains("base_url")) {
        RC_ASSIGN_OR_RETURN(base, get_string(args, "base_url"));
      } else if (auto it = vars_.find("base_url"); it != vars_.end()) {
        base = it->second;
      } else {
        return fail(
            "path: needs base_url: or the variable base_url (e.g. --var base_url=http://...)");
      }
      RC_ASSIGN_OR_RETURN(std::string path, get_string(args, "path"));
      while (!base.empty() && base.back() == '/') base.pop_back();
      url = base + (path.empty() || path.front() != '/' ? "/" : "") + path;
    }
    if (method != "GET" && method != "POST" && method != "PUT" && method != "PATCH" &&
        method != "DELETE") {
      return fail("method " + method + " is not one of GET, POST, PUT, PATCH, DELETE");
    }
    const std::size_t scheme = url.find("://");
    if (scheme == std::string::npos) return fail("url \"" + url + "\" has no http:// or https://");
    const std::size_t path_at = url.find('/', scheme + 3);
    const std::string origin = path_at == std::string::npos ? url : url.substr(0, path_at);
    const std::string target = path_at == std::string::npos ? "/" : url.substr(path_at);

    httplib::Headers headers;
    if (args.contains("headers")) {
      for (auto& [name, value] : args["headers"].items()) {
        RC_ASSIGN_OR_RETURN(std::string v, as_string(value));
        headers.emplace(name, v);
      }
    }
    std::string body;
    std::string content_type = "application/json";
    if (args.contains("body")) {
      const json& b = args["body"];
      if (b.is_string()) {
        body = b.get<std::string>();
        if (json::parse(body, nullptr, false).is_discarded()) content_type = "text/plain";
      } else {
        body = b.dump();
      }
    }
    RC_ASSIGN_OR_RETURN(milliseconds timeout,
                        get_duration(args, "timeout", std::chrono::seconds(10)));
    RC_ASSIGN_OR_RETURN(milliseconds within, get_duration(args, "within", milliseconds(0)));
    std::vector<int> wanted;
    if (args.contains("expect_status")) {
      RC_ASSIGN_OR_RETURN(wanted, as_statuses(args["expect_status"]));
    }
    // One attempt: the request, its status and the `expect` checks. With `within`, attempts
    // repeat (every 200 ms) until one passes: the controller applies box events asynchronously.
    httplib::Result res{nullptr, httplib::Error::Unknown};
    json doc;
    const auto attempt = [&]() -> std::optional<std::string> {
      httplib::Client client(origin);
      client.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
      client.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
      client.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
      if (method == "GET") {
        res = client.Get(target, headers);
      } else if (method == "DELETE") {
        res = client.Delete(target, headers, body, content_type);
      } else if (method == "POST") {
        res = client.Post(target, headers, body, content_type);
      } else if (method == "PUT") {
        res = client.Put(target, headers, body, content_type);
      } else {
        res = client.Patch(target, headers, body, content_type);
      }
      if (!res) return method + " " + url + ": " + httplib::to_string(res.error());
      const std::string excerpt = res->body.substr(0, 300);
      if (!wanted.empty()) {
        if (std::find(wanted.begin(), wanted.end(), res->status) == wanted.end()) {
          return method + " " + url + " answered " + std::to_string(res->status) + ", expected " +
                 args["expect_status"].dump() + ": " + excerpt;
        }
      } else if (res->status < 200 || res->status > 299) {
        return method + " " + url + " answered " + std::to_string(res->status) + ": " + excerpt;
      }
      doc = json::parse(res->body, nullptr, false);
      if (args.contains("expect")) {
        if (doc.is_discarded())
          return method + " " + url + ": the response is not JSON: " + excerpt;
        for (auto& [path, expected] : args["expect"].items()) {
          auto actual = extract_path(doc, path);
          if (!actual.ok())
            return "expect " + path + ": " + actual.error().message + ": " + excerpt;
          if (!same_value(*actual, expected)) {
            return "expect " + path + " = " + expected.dump() + ", got " + actual->dump() + ": " +
                   excerpt;
          }
        }
      }
      return std::nullopt;
    };
    const Clock::Monotonic deadline = clock_.monotonic() + within;
    for (;;) {
      std::optional<std::string> why = attempt();
      if (!why) break;
      if (clock_.monotonic() >= deadline) {
        return fail(*why + (within.count() > 0 ? " (still, after " + format_ms(within) + ")" : ""));
      }
      advance(std::max(options_.poll, milliseconds(200)));
    }
    note_ = method + " " + url + " -> " + std::to_string(res->status);
    if (args.contains("save")) {
      const std::string excerpt = res->body.substr(0, 300);
      for (auto& [var, path_value] : args["save"].items()) {
        RC_ASSIGN_OR_RETURN(std::string path, as_string(path_value));
        if (path == "status") {
          vars_[var] = std::to_string(res->status);
          continue;
        }
        if (doc.is_discarded()) return fail("the response is not JSON, cannot save " + var);
        auto value = extract_path(doc, path);
        if (!value.ok()) return fail("save " + var + ": " + value.error().message + ": " + excerpt);
        vars_[var] = value->is_string() ? value->get<std::string>() : value->dump();
        if (value->is_string() || value->is_null()) {
          typed_vars_.erase(var);
        } else {
          typed_vars_[var] = *value;
        }
        note_ += ", saved ${" + var + "}";
      }
    }
    return ok_status();
  }

  // An `expect` value against the response's: equal JSON, or equal text when one side is a
  // string (variables are substituted as text: "${compartment}" becomes "3", the response has 3).
  static bool same_value(const json& actual, const json& expected) {
    if (actual == expected) return true;
    if (expected.is_string() && !actual.is_string() && !actual.is_null()) {
      return actual.dump() == expected.get<std::string>();
    }
    return false;
  }

  const Scenario& scenario_;
  ScenarioRunOptions options_;
  SystemClock system_clock_;
  ManualClock manual_clock_;
  const Clock& clock_;
  std::map<std::string, Slot> boxes_;
  std::map<std::string, std::string> vars_;
  std::map<std::string, json> typed_vars_;  // http save of non-strings, for typed bodies
  std::map<std::string, TokenSigner> signers_;
  std::filesystem::path state_dir_;
  bool remove_state_dir_ = false;
  std::string note_;  // what the current step wants to say in the log
};

}  // namespace

ScenarioReport run_scenario(const Scenario& scenario, const ScenarioRunOptions& options) {
  Runner runner(scenario, options);
  return runner.run();
}

}  // namespace reclothes::simulator
