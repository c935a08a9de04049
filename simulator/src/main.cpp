// reclothes-sim: the desktop simulator. Runs the real firmware on the sim HAL.
//
//   reclothes-sim box --config BOX.json [--http 127.0.0.1:8088] [--state-dir DIR] ...
//   reclothes-sim fleet --boxes N --broker URI [--compartments 24] [--events-per-minute X] ...
//   reclothes-sim scenario FILE.yaml [--var NAME=VALUE]...
//   reclothes-sim keygen / mint / render: small tools for testers
//
// docs/simulator.md describes every mode. Signals are blocked in every thread and taken by the
// main thread with sigwait, so nothing runs in a signal handler.
#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "reclothes/common/stop_signals.h"
#include "reclothes/firmware/config.h"
#include "reclothes/firmware/scanner.h"
#include "reclothes/simulator/fleet.h"
#include "reclothes/simulator/frame_tools.h"
#include "reclothes/simulator/scenario.h"
#include "reclothes/simulator/sim_box.h"
#include "reclothes/simulator/tokens.h"
#include "reclothes/simulator/web_server.h"

namespace reclothes::simulator {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // a scenario step failed; fleet: boxes failed; a tool failed
constexpr int kExitUsage = 2;    // bad command line
constexpr int kExitConfig = 3;   // a configuration or scenario file is missing or invalid
constexpr int kExitStartup = 4;  // the box, the web server or the fleet could not be set up

constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  scenario: a step failed (named on stderr); fleet: boxes failed; mint/render: failed\n"
    "  2  bad command line\n"
    "  3  a configuration or scenario file is missing or invalid\n"
    "  4  box/fleet: the box, the web server or the broker connection could not be set up\n";

// Waits for SIGTERM/SIGINT, or until `deadline` if given. True if a signal came.
bool wait_for_stop(const sigset_t& signals,
                   std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) {
  for (;;) {
    timespec pause{1, 0};
    if (deadline) {
      const auto left = *deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) return false;
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
      pause.tv_sec = static_cast<std::time_t>(std::min<long long>(ms / 1000, 1));
      pause.tv_nsec = ms >= 1000 ? 0 : static_cast<long>((ms % 1000) * 1'000'000);
    }
    siginfo_t info{};
    const int sig = ::sigtimedwait(&signals, &info, &pause);
    if (sig == SIGTERM || sig == SIGINT) return true;
  }
}

Result<std::pair<std::string, int>> parse_listen(const std::string& text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument, "--http: expected HOST:PORT, got " + text);
  }
  int port = -1;
  try {
    std::size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return make_error(ErrorCode::kInvalidArgument, "--http: port must be 0..65535 in " + text);
  }
  std::string host = text.substr(0, colon);
  if (host.empty()) host = "127.0.0.1";
  return std::make_pair(host, port);
}

// ---- box ----------------------------------------------------------------------------------------

struct BoxArgs {
  std::string config;
  std::string http = "127.0.0.1:8088";
  std::string state_dir;
  std::string broker;
  bool no_sync = false;
  bool no_link = false;
  int auto_open_ms = 800;
  std::string signing_key;
  int key_id = 1;
  std::string token_source_url;
};

int run_box(const BoxArgs& args) {
  const sigset_t signals = block_stop_signals();
  auto config = firmware::load_config(args.config);
  if (!config.ok()) {
    std::cerr << config.error().to_string() << "\n";
    return kExitConfig;
  }
  if (!args.state_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(args.state_dir, ec);
    if (ec) {
      std::cerr << "--state-dir " << args.state_dir << ": " << ec.message() << "\n";
      return kExitStartup;
    }
    config->journal_path = std::filesystem::path(args.state_dir) / (config->box_id + ".journal.db");
  }
  if (!args.broker.empty()) config->broker.uri = args.broker;
  if (!config->camera) {
    spdlog::warn("{}: the configuration has no camera section: presented codes cannot be read",
                 args.config);
  }
  auto listen = parse_listen(args.http);
  if (!listen.ok()) {
    std::cerr << listen.error().message << "\n";
    return kExitUsage;
  }
  std::optional<TokenSigner> signer;
  if (!args.signing_key.empty()) {
    auto loaded = load_signer(args.signing_key, static_cast<std::uint16_t>(args.key_id));
    if (!loaded.ok()) {
      std::cerr << "--signing-key: " << loaded.error().to_string() << "\n";
      return kExitConfig;
    }
    signer = std::move(loaded).value();
  }

  SystemClock clock;
  SimBoxOptions options;
  options.config = *config;
  options.sync = !args.no_sync;
  options.network_link = !args.no_link;
  options.auto_open = args.auto_open_ms > 0;
  if (args.auto_open_ms > 0) options.auto_open_delay = std::chrono::milliseconds(args.auto_open_ms);
  auto box = SimBox::create(options, clock);
  if (!box.ok()) {
    std::cerr << box.error().to_string() << "\n";
    return kExitStartup;
  }
  if (Status s = (*box)->power_on(); !s.ok()) {
    std::cerr << s.error().to_string() << "\n";
    return kExitStartup;
  }
  PendingTokens tokens;
  std::unique_ptr<TokenSource> source;
  if (!args.token_source_url.empty()) source = make_http_token_source(args.token_source_url);
  WebServerOptions web_options;
  web_options.host = listen->first;
  web_options.port = listen->second;
  web_options.signer = signer ? &*signer : nullptr;
  web_options.token_source = source.get();
  auto web = BoxWebServer::start(**box, tokens, web_options);
  if (!web.ok()) {
    std::cerr << web.error().to_string() << "\n";
    return kExitStartup;
  }
  SimBoxRunner runner(**box);
  // The one line scripts wait for (the port is the real one when --http asked for port 0).
  std::cout << "reclothes-sim: box " << (*box)->box_id() << " at " << (*web)->url() << std::endl;
  wait_for_stop(signals);
  spdlog::info("stopping");
  runner.stop();
  (*web)->stop();
  (*box)->shutdown();
  return kExitOk;
}

// ---- tools --------------------------------------------------------------------------------------

int run_keygen(int key_id, const std::string& private_path, const std::string& public_path) {
  if (Status s = write_key_pair(static_cast<std::uint16_t>(key_id), private_path, public_path);
      !s.ok()) {
    std::cerr << s.error().to_string() << "\n";
    return kExitFailure;
  }
  std::cout << "wrote " << private_path << " and " << public_path << " (key id " << key_id << ")\n";
  return kExitOk;
}

struct MintArgs {
  std::string key;
  int key_id = 1;
  std::string box;
  std::string action = "courier_load";
  std::string compartments = "1";
  std::uint64_t order_ref = 1;
  std::int64_t valid_s = 900;
  std::int64_t not_before_s = -60;
};

int run_mint(const MintArgs& a) {
  auto signer = load_signer(a.key, static_cast<std::uint16_t>(a.key_id));
  if (!signer.ok()) {
    std::cerr << signer.error().to_string() << "\n";
    return kExitConfig;
  }
  auto action = token_action_from_string(a.action);
  if (!action) {
    std::cerr << "--action: unknown action \"" << a.action
              << "\" (deposit, pickup, courier_collect, courier_load, return)\n";
    return kExitUsage;
  }
  auto compartments = parse_compartment_list(a.compartments);
  if (!compartments.ok()) {
    std::cerr << "--compartments: " << compartments.error().message << "\n";
    return kExitUsage;
  }
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  MintRequest m;
  m.box_id = a.box;
  m.action = *action;
  m.compartments = *compartments;
  m.order_ref = a.order_ref;
  m.not_before = now + a.not_before_s;
  m.expires = now + a.valid_s;
  auto token = mint_token(*signer, m);
  if (!token.ok()) {
    std::cerr << token.error().to_string() << "\n";
    return kExitFailure;
  }
  std::cout << *token << "\n";
  return kExitOk;
}

struct RenderArgs {
  std::string token;
  std::string out;
  int width = 640;
  int height = 480;
  PresentOptions present;
};

int run_render(const RenderArgs& a) {
  auto frame = render_presented(a.token, static_cast<std::uint32_t>(a.width),
                                static_cast<std::uint32_t>(a.height), a.present);
  if (!frame.ok()) {
    std::cerr << frame.error().to_string() << "\n";
    return kExitFailure;
  }
  auto png = encode_png(*frame);
  if (!png.ok()) {
    std::cerr << png.error().to_string() << "\n";
    return kExitFailure;
  }
  std::ofstream out(a.out, std::ios::binary | std::ios::trunc);
  out << *png;
  out.close();
  if (!out) {
    std::cerr << a.out << ": cannot write\n";
    return kExitFailure;
  }
  const auto seen = firmware::Scanner{}.decode(*frame);
  std::cout << a.out << ": " << frame->width << "x" << frame->height << ", "
            << (seen ? "the box camera reads it" : "no code seen by the box camera") << "\n";
  return seen ? kExitOk : kExitFailure;
}

// ---- scenario -----------------------------------------------------------------------------------

struct ScenarioArgs {
  std::string file;
  std::vector<std::string> vars;
  bool virtual_time = false;
  bool check_only = false;
  bool timeline = false;
  std::string keep_state;
};

int run_scenario_command(const ScenarioArgs& a) {
  block_stop_signals();
  auto scenario = load_scenario(a.file);
  if (!scenario.ok()) {
    std::cerr << scenario.error().message << "\n";
    return kExitConfig;
  }
  if (a.check_only) {
    std::cout << a.file << ": ok, " << scenario->steps.size() << " steps\n";
    return kExitOk;
  }
  ScenarioRunOptions options;
  for (const std::string& v : a.vars) {
    const std::size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "--var " << v << ": expected NAME=VALUE\n";
      return kExitUsage;
    }
    options.vars[v.substr(0, eq)] = v.substr(eq + 1);
  }
  options.virtual_time = a.virtual_time;
  if (!a.keep_state.empty()) options.state_dir = a.keep_state;
  // Each step's line as it finishes, with the time since the start; --timeline prints only the
  // `log` steps (the story) and a failure.
  const auto started = std::chrono::steady_clock::now();
  options.on_step = [&](const ScenarioStep& step, bool passed, const std::string& line) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    char at[32];
    std::snprintf(at, sizeof at, "[%6.1fs] ", s);
    if (!a.timeline) {
      std::cout << at << line << std::endl;
    } else if (!passed) {
      std::cout << at << "FAILED: " << line.substr(5) << std::endl;
    } else if (step.kind == "log") {
      // The substituted message is the line's note: "ok   step 5 (log, f.yaml:9): message".
      const std::size_t note = line.find("): ");
      std::cout << at << (note == std::string::npos ? line : line.substr(note + 3)) << std::endl;
    }
  };
  ScenarioReport report = run_scenario(*scenario, options);
  if (!report.passed) {
    std::cerr << report.failure << "\n";
    return kExitFailure;
  }
  std::cout << "scenario passed: " << report.steps_run << " steps in " << report.elapsed.count()
            << " ms\n";
  return kExitOk;
}

// ---- fleet --------------------------------------------------------------------------------------

int run_fleet_command(FleetOptions options, const std::string& json_out) {
  const sigset_t signals = block_stop_signals();
  auto fleet = Fleet::create(options);
  if (!fleet.ok()) {
    std::cerr << fleet.error().to_string() << "\n";
    return kExitStartup;
  }
  if (Status s = (*fleet)->start(); !s.ok()) {
    std::cerr << s.error().to_string() << "\n";
    return kExitStartup;
  }
  // Without --duration the fleet runs until a signal (time_point::max never comes).
  const auto until = options.duration.count() > 0
                         ? std::chrono::steady_clock::now() + options.duration
                         : std::chrono::steady_clock::time_point::max();
  const auto every = options.progress_interval;
  auto next_progress = std::chrono::steady_clock::now() + every;
  for (;;) {
    const auto wake = std::min(next_progress, until);
    if (wait_for_stop(signals, wake)) break;
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_progress) {
      std::cerr << (*fleet)->progress_line() << std::endl;
      next_progress += every;
    }
    if (now >= until) break;
  }
  FleetSummary summary = (*fleet)->stop();
  const std::string text = to_json(summary).dump(2);
  std::cout << text << std::endl;
  if (!json_out.empty()) {
    std::ofstream out(json_out, std::ios::trunc);
    out << text << "\n";
  }
  return summary.boxes_failed == 0 ? kExitOk : kExitFailure;
}

// ---- the command line ---------------------------------------------------------------------------

// One subcommand: its CLI11 definition, and how it runs once the command line parsed (its
// arguments live in the closure).
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_box_command(CLI::App& app) {
  auto box = std::make_shared<BoxArgs>();
  CLI::App* cmd = app.add_subcommand(
      "box", "one box with a web page: present QR codes, open doors, pull the network or power");
  cmd->add_option("--config,-c", box->config, "the box configuration (JSON, as reclothes-box)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--http", box->http, "HOST:PORT of the page (port 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--state-dir", box->state_dir,
                  "keep the journal here (DIR/<box_id>.journal.db) instead of the "
                  "configuration's journal_path");
  cmd->add_option("--broker", box->broker, "use this broker URI instead of the configuration's");
  cmd->add_flag("--no-sync", box->no_sync, "do not connect to a broker (an offline box)");
  cmd->add_flag("--no-network-link", box->no_link,
                "connect directly, without the relay that makes 'pull network' a real "
                "connection loss");
  cmd->add_option("--auto-open-ms", box->auto_open_ms,
                  "the customer opens the door this long after the lock clicks (0: never; "
                  "a page toggle too)")
      ->check(CLI::Range(0, 60'000))
      ->capture_default_str();
  cmd->add_option("--signing-key", box->signing_key,
                  "a P-256 private key PEM the box trusts: the page can mint test tokens")
      ->check(CLI::ExistingFile);
  cmd->add_option("--key-id", box->key_id, "the key id of --signing-key")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--pending-tokens-url", box->token_source_url,
                  "GET this URL ({box_id} is replaced) for tokens issued for the box: a JSON "
                  "array of {token, label}");
  cmd->footer(kExitCodesHelp);
  return {cmd, [box] { return run_box(*box); }};
}

struct FleetArgs {
  FleetOptions options;
  std::string json_out;
  int duration_s = 0;
  double progress_s = 5;
};

// The fleet's shape and load: how many boxes, how busy, how fast they step.
void add_fleet_load_options(CLI::App* cmd, FleetArgs& a) {
  FleetOptions& o = a.options;
  cmd->add_option("--boxes,-n", o.boxes, "how many boxes")
      ->required()
      ->check(CLI::Range(1, 100'000));
  cmd->add_option("--compartments", o.compartments, "compartments per box")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--events-per-minute", o.events_per_minute,
                  "journal events per box per minute from synthetic visits (4 per visit: "
                  "unlocked, door_opened, door_closed, access_completed); 0: heartbeats only")
      ->check(CLI::Range(0.0, 6000.0))
      ->capture_default_str();
  cmd->add_option("--duration", a.duration_s, "seconds to run (0: until SIGINT)")
      ->check(CLI::Range(0, 86'400))
      ->capture_default_str();
  cmd->add_option("--threads", o.threads, "worker threads stepping the boxes")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--step-hz", o.step_hz, "main-loop steps per box per second")
      ->check(CLI::Range(0.1, 20.0))
      ->capture_default_str();
  cmd->add_option("--state-interval", o.state_interval_s,
                  "seconds between state reports (heartbeats) per box")
      ->check(CLI::Range(5, 86'400))
      ->capture_default_str();
  cmd->add_flag("--no-fsync", o.no_fsync,
                "journals with synchronous=NORMAL (load tests of everything but the disk)");
}

// Where the fleet connects, who it is, and what it reports.
void add_fleet_wiring_options(CLI::App* cmd, FleetArgs& a) {
  FleetOptions& o = a.options;
  cmd->add_option("--broker", o.broker_uri, "the MQTT broker (tcp://host:port)")->required();
  cmd->add_option("--sync", o.sync_mode,
                  "pooled: each box's firmware Sync without a thread, polled by the workers; "
                  "threaded: the same Sync with a thread per box (as on a board); none")
      ->check(CLI::IsMember({"pooled", "threaded", "none"}))
      ->capture_default_str();
  cmd->add_option("--state-dir", o.state_dir,
                  "journals go here (default: a temporary directory, removed at the end)");
  cmd->add_option("--box-prefix", o.box_prefix, "box ids are PREFIX00001 ...")
      ->capture_default_str();
  cmd->add_option("--signing-key", o.signing_key,
                  "P-256 private key PEM for the visit tokens (default: a fresh key)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--key-id", o.key_id, "the key id of --signing-key")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_flag("--ack", o.ack,
                "play the controller's ack: an in-process subscriber acks every box's events");
  cmd->add_option("--connect-rate", o.connect_rate,
                  "new broker connections per second while the fleet starts")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  cmd->add_option("--progress", a.progress_s, "seconds between progress lines")
      ->check(CLI::Range(0.5, 3600.0))
      ->capture_default_str();
  cmd->add_option("--http", o.http, "HOST:PORT serving GET /api/fleet (progress JSON)");
  cmd->add_option("--json-out", a.json_out, "also write the summary JSON to this file");
}

Command add_fleet_command(CLI::App& app) {
  auto fleet = std::make_shared<FleetArgs>();
  CLI::App* cmd =
      app.add_subcommand("fleet", "many boxes in one process, for load and scale tests");
  add_fleet_load_options(cmd, *fleet);
  add_fleet_wiring_options(cmd, *fleet);
  cmd->footer(kExitCodesHelp);
  return {cmd, [fleet] {
            fleet->options.duration = std::chrono::seconds(fleet->duration_s);
            fleet->options.progress_interval =
                std::chrono::milliseconds(static_cast<std::int64_t>(fleet->progress_s * 1000));
            return run_fleet_command(fleet->options, fleet->json_out);
          }};
}

Command add_scenario_command(CLI::App& app) {
  auto scenario = std::make_shared<ScenarioArgs>();
  CLI::App* cmd = app.add_subcommand(
      "scenario", "play a scenario file (YAML or JSON), fail on the first bad step");
  cmd->add_option("FILE", scenario->file, "the scenario")->required()->check(CLI::ExistingFile);
  cmd->add_option("--var", scenario->vars, "NAME=VALUE, overrides the file's vars (repeatable)");
  cmd->add_flag("--virtual-time", scenario->virtual_time,
                "step the boxes on a virtual clock: waits take no real time (MQTT and HTTP "
                "still do)");
  cmd->add_flag("--check", scenario->check_only, "only parse and check the file");
  cmd->add_flag("--timeline", scenario->timeline,
                "print only the log steps (the story), with times, and a failure");
  cmd->add_option("--keep-state", scenario->keep_state,
                  "put journals here and keep them (default: a temporary directory)");
  cmd->footer(kExitCodesHelp);
  return {cmd, [scenario] { return run_scenario_command(*scenario); }};
}

struct KeygenArgs {
  int key_id = 1;
  std::string private_path;
  std::string public_path;
};

Command add_keygen_command(CLI::App& app) {
  auto keygen = std::make_shared<KeygenArgs>();
  CLI::App* cmd = app.add_subcommand("keygen", "write a new token signing key pair (PEM)");
  cmd->add_option("--key-id", keygen->key_id, "the key id")->check(CLI::Range(0, 65535));
  cmd->add_option("--private", keygen->private_path, "private key file (mode 0600)")->required();
  cmd->add_option("--public", keygen->public_path, "public key file")->required();
  cmd->footer(kExitCodesHelp);
  return {cmd, [keygen] {
            return run_keygen(keygen->key_id, keygen->private_path, keygen->public_path);
          }};
}

Command add_mint_command(CLI::App& app) {
  auto mint = std::make_shared<MintArgs>();
  CLI::App* cmd = app.add_subcommand("mint", "sign a test token and print it");
  cmd->add_option("--key", mint->key, "private key PEM")->required()->check(CLI::ExistingFile);
  cmd->add_option("--key-id", mint->key_id, "its key id")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--box", mint->box, "the box id")->required();
  cmd->add_option("--action", mint->action,
                  "deposit, pickup, courier_collect, courier_load or return")
      ->capture_default_str();
  cmd->add_option("--compartments", mint->compartments, "e.g. 3 or 1,2,5")->capture_default_str();
  cmd->add_option("--order-ref", mint->order_ref, "the order id")->capture_default_str();
  cmd->add_option("--valid-s", mint->valid_s, "expires this many seconds from now")
      ->capture_default_str();
  cmd->add_option("--not-before-s", mint->not_before_s,
                  "valid from this many seconds from now (negative: in the past)")
      ->capture_default_str();
  cmd->footer(kExitCodesHelp);
  return {cmd, [mint] { return run_mint(*mint); }};
}

Command add_render_command(CLI::App& app) {
  auto render = std::make_shared<RenderArgs>();
  CLI::App* cmd =
      app.add_subcommand("render", "write the camera frame of a presented token as PNG");
  cmd->add_option("--token", render->token, "the text to encode")->required();
  cmd->add_option("--out,-o", render->out, "PNG file")->required();
  cmd->add_option("--width", render->width, "frame width")
      ->check(CLI::Range(16, 4096))
      ->capture_default_str();
  cmd->add_option("--height", render->height, "frame height")
      ->check(CLI::Range(16, 4096))
      ->capture_default_str();
  PresentOptions& p = render->present;
  cmd->add_option("--module-px", p.module_px, "pixels per module")->capture_default_str();
  cmd->add_option("--scale", p.degrade.scale, "zoom 0.25..4")->capture_default_str();
  cmd->add_option("--rotation", p.degrade.rotation_deg, "degrees")->capture_default_str();
  cmd->add_option("--blur", p.degrade.blur_sigma, "Gaussian sigma, px")->capture_default_str();
  cmd->add_option("--noise", p.degrade.noise, "+- grey levels")->capture_default_str();
  cmd->add_option("--seed", p.degrade.seed, "noise seed")->capture_default_str();
  cmd->footer(kExitCodesHelp);
  return {cmd, [render] { return run_render(*render); }};
}

// Logs go to stderr: stdout carries the box's URL line, scenario results and fleet summaries.
bool set_up_logging(const std::string& log_level) {
  const auto level = spdlog::level::from_str(log_level);
  if (level == spdlog::level::off && log_level != "off") {
    std::cerr << "--log-level: unknown level \"" << log_level << "\"\n";
    return false;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("reclothes-sim"));
  spdlog::set_level(level);
  return true;
}

int run(int argc, char** argv) {
  CLI::App app{"reclothes-sim: runs the real box firmware on the simulated hardware"};
  app.set_version_flag("--version", "reclothes-sim " + std::string(firmware::kFirmwareVersion));
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);
  // --log-level may follow the subcommand too (`reclothes-sim box ... --log-level warn`).
  app.fallthrough();
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->capture_default_str();
  const Command commands[] = {add_box_command(app),      add_fleet_command(app),
                              add_scenario_command(app), add_keygen_command(app),
                              add_mint_command(app),     add_render_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!set_up_logging(log_level)) return kExitUsage;
  for (const Command& command : commands) {
    if (*command.app) return command.run();
  }
  return kExitUsage;
}

}  // namespace
}  // namespace reclothes::simulator

int main(int argc, char** argv) { return reclothes::simulator::run(argc, argv); }
