// reclothes-box: the box daemon and its small tools.
//
//   reclothes-box run --config FILE [--sim-control FIFO] [--sim-auto-open-ms MS]
//   reclothes-box scan-image FILE...
//   reclothes-box check-config FILE
//
// `run` wires the pieces together and nothing more: configuration -> journal -> HAL backend ->
// Box (the main loop, this thread) + Sync (MQTT, its own thread). Signals are blocked in every
// thread and taken synchronously by the main loop (sigtimedwait is also its sleep between steps),
// so no work ever happens in a signal handler. docs/box-sync.md describes the whole.
#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/common/stop_signals.h"
#include "reclothes/firmware/box.h"
#include "reclothes/firmware/config.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/firmware/log_format.h"
#include "reclothes/firmware/mailbox.h"
#include "reclothes/firmware/scanner.h"
#include "reclothes/firmware/sim_config.h"
#include "reclothes/firmware/sync.h"
#include "reclothes/hal/sim/sim_cabinet.h"

#ifdef RECLOTHES_HAVE_HAL_LINUX
#include "reclothes/firmware/linux_config.h"
#include "reclothes/hal/linux/gpiod_port.h"
#include "reclothes/hal/linux/linux_cabinet.h"
#include "reclothes/hal/linux/v4l2_camera.h"
#include "reclothes/hal/linux/v4l2_port.h"
#endif

namespace reclothes::firmware {
namespace {

// Exit codes (also printed by --help).
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // run: the main loop failed (journal not writable); scan-image:
                                 // a file has no QR code or cannot be read
constexpr int kExitUsage = 2;    // bad command line
constexpr int kExitConfig = 3;   // the configuration file is missing or invalid
constexpr int kExitStartup = 4;  // run: journal, hardware or MQTT client could not be set up

constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  success (run: stopped by SIGTERM or SIGINT)\n"
    "  1  run: the main loop failed (the journal could not be written); scan-image: a file has\n"
    "     no QR code or cannot be read\n"
    "  2  bad command line\n"
    "  3  the configuration file is missing or invalid\n"
    "  4  run: the journal, the hardware or the MQTT client could not be set up\n";

// ---- systemd notification (sd_notify without libsystemd) ---------------------------------------

// Sends datagrams to $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace), which is all
// sd_notify(3) does. Without NOTIFY_SOCKET every call is a no-op, so `run` behaves the same under
// systemd, in a terminal and in tests.
class SdNotifier {
 public:
  SdNotifier() {
    const char* socket_path = std::getenv("NOTIFY_SOCKET");
    if (socket_path == nullptr || socket_path[0] == '\0') return;
    const std::string path = socket_path;
    if (path.size() >= sizeof(addr_.sun_path) || (path[0] != '/' && path[0] != '@')) {
      spdlog::warn("NOTIFY_SOCKET \"{}\" is not a usable socket path; not notifying", path);
      return;
    }
    addr_.sun_family = AF_UNIX;
    std::memcpy(addr_.sun_path, path.data(), path.size());
    if (path[0] == '@') addr_.sun_path[0] = '\0';  // abstract namespace
    addr_len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      spdlog::warn("cannot create the notify socket: {}", std::strerror(errno));
      return;
    }
    // WATCHDOG_PID, when set, names the process the watchdog is meant for.
    const char* usec = std::getenv("WATCHDOG_USEC");
    const char* pid = std::getenv("WATCHDOG_PID");
    if (usec != nullptr && (pid == nullptr || std::atol(pid) == static_cast<long>(::getpid()))) {
      const long long value = std::atoll(usec);
      if (value > 0) watchdog_ = std::chrono::microseconds(value);
    }
  }
  ~SdNotifier() {
    if (fd_ >= 0) ::close(fd_);
  }
  SdNotifier(const SdNotifier&) = delete;
  SdNotifier& operator=(const SdNotifier&) = delete;

  void notify(const std::string& state) {
    if (fd_ < 0) return;
    const ssize_t n = ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL,
                               reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
    if (n < 0) spdlog::debug("sd_notify {} failed: {}", state, std::strerror(errno));
  }
  // systemd's WatchdogSec, if it asked for pings; ping at half of it.
  std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }

 private:
  int fd_ = -1;
  sockaddr_un addr_{};
  socklen_t addr_len_ = 0;
  std::optional<std::chrono::microseconds> watchdog_;
};

// ---- sim backend helpers ------------------------------------------------------------------------

// The sim lock returns from pulse() at once; the board's lock blocks the calling thread for the
// whole pulse (hal/linux). The daemon runs the sim like the board so that the main loop's timing,
// and a crash in the middle of a pulse, look the same as in the field.
class RealTimePulseLock final : public hal::CompartmentLock {
 public:
  explicit RealTimePulseLock(hal::CompartmentLock& inner) : inner_(inner) {}

 private:
  Status do_pulse(std::chrono::milliseconds duration) override {
    RC_TRY(inner_.pulse(duration));
    std::this_thread::sleep_for(duration);
    return ok_status();
  }
  Status do_release() override { return inner_.release(); }
  bool do_energised() const override { return inner_.energised(); }

  hal::CompartmentLock& inner_;
};

// --sim-control: a FIFO with one command per line, read between main-loop steps, that plays the
// person at the cabinet. Documented in docs/box-sync.md ("Driving the sim backend").
//   open N | close N        the door of compartment N (1-based) opens / closes
//   present TEXT            a phone shows a QR code of TEXT to the camera
//   tamper on|off           the cabinet's tamper switch
//   fill N PERCENT          compartment N's fill-level sensor
//   jam N on|off            compartment N's latch holds even when pulsed
//   env TEMP_C HUMIDITY     the environment sensor
class SimControl {
 public:
  static Result<std::unique_ptr<SimControl>> open(const std::string& path,
                                                  hal::sim::SimCabinet& sim) {
    if (::mkfifo(path.c_str(), 0600) != 0 && errno != EEXIST) {
      return make_error(ErrorCode::kIo,
                        "--sim-control " + path + ": cannot create FIFO: " + std::strerror(errno));
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISFIFO(st.st_mode)) {
      return make_error(ErrorCode::kInvalidArgument, "--sim-control " + path + " is not a FIFO");
    }
    // O_RDWR: the FIFO never reports end-of-file when a writer goes away, and opening does not
    // wait for a writer.
    const int fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      return make_error(ErrorCode::kIo,
                        "--sim-control " + path + ": cannot open: " + std::strerror(errno));
    }
    spdlog::info("sim-control: reading commands from {}", path);
    return std::unique_ptr<SimControl>(new SimControl(fd, sim));
  }
  ~SimControl() { ::close(fd_); }
  SimControl(const SimControl&) = delete;
  SimControl& operator=(const SimControl&) = delete;

  // Applies every complete line available now. Never blocks.
  void poll() {
    char chunk[4096];
    for (;;) {
      const ssize_t n = ::read(fd_, chunk, sizeof(chunk));
      if (n <= 0) break;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
    std::size_t newline;
    while ((newline = buffer_.find('\n')) != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      if (Status s = apply(line); !s.ok()) {
        spdlog::warn("sim-control: \"{}\": {}", line.substr(0, 200), s.error().message);
      } else {
        spdlog::info("sim-control: {}", line.substr(0, 200));
      }
    }
    if (buffer_.size() > 64 * 1024) buffer_.clear();  // a line that never ends
  }

 private:
  SimControl(int fd, hal::sim::SimCabinet& sim) : fd_(fd), sim_(sim) {}

  Result<std::size_t> index(std::istringstream& in) {
    long n = 0;
    if (!(in >> n) || n < 1 || static_cast<std::size_t>(n) > sim_.compartment_count()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "expected a compartment 1.." + std::to_string(sim_.compartment_count()));
    }
    return static_cast<std::size_t>(n - 1);
  }
  static Result<bool> on_off(std::istringstream& in) {
    std::string word;
    in >> word;
    if (word == "on") return true;
    if (word == "off") return false;
    return make_error(ErrorCode::kInvalidArgument, "expected on or off");
  }

  Status apply(const std::string& line) {
    std::istringstream in(line);
    std::string verb;
    in >> verb;
    if (verb == "open" || verb == "close") {
      RC_ASSIGN_OR_RETURN(std::size_t i, index(in));
      return verb == "open" ? sim_.open_door(i) : sim_.close_door(i);
    }
    if (verb == "present") {
      std::string text;
      std::getline(in >> std::ws, text);
      RC_ASSIGN_OR_RETURN(hal::Frame frame, render_qr(text));
      // Held still in front of the camera for a moment, like a phone: a few identical frames.
      for (int k = 0; k < 3; ++k) RC_TRY(sim_.present_frame(frame));
      return ok_status();
    }
    if (verb == "tamper") {
      RC_ASSIGN_OR_RETURN(bool on, on_off(in));
      sim_.set_tampered(on);
      return ok_status();
    }
    if (verb == "fill") {
      RC_ASSIGN_OR_RETURN(std::size_t i, index(in));
      int percent = 0;
      if (!(in >> percent)) return make_error(ErrorCode::kInvalidArgument, "expected a percent");
      return sim_.set_fill_percent(i, percent);
    }
    if (verb == "jam") {
      RC_ASSIGN_OR_RETURN(std::size_t i, index(in));
      RC_ASSIGN_OR_RETURN(bool on, on_off(in));
      return sim_.set_jammed(i, on);
    }
    if (verb == "env") {
      hal::EnvironmentReading reading;
      if (!(in >> reading.temperature_c >> reading.humidity_percent)) {
        return make_error(ErrorCode::kInvalidArgument, "expected TEMP_C HUMIDITY");
      }
      sim_.set_environment(reading);
      return ok_status();
    }
    return make_error(ErrorCode::kInvalidArgument,
                      "unknown command (open, close, present, tamper, fill, jam, env)");
  }

  int fd_;
  hal::sim::SimCabinet& sim_;
  std::string buffer_;
};

// ---- the HAL backend the configuration asks for -------------------------------------------------

// Owns whichever backend was built; cabinet() lends its devices to the Box.
struct Hardware {
  hal::Cabinet cabinet;
  std::unique_ptr<hal::sim::SimCabinet> sim;
  std::vector<std::unique_ptr<RealTimePulseLock>> sim_locks;
#ifdef RECLOTHES_HAVE_HAL_LINUX
  std::unique_ptr<hal::linux_backend::GpioPort> gpio;
  std::unique_ptr<hal::linux_backend::VideoPort> video;
  std::unique_ptr<hal::linux_backend::LinuxCabinet> board;
  std::unique_ptr<hal::linux_backend::V4l2Camera> camera;
#endif
};

struct RunOptions {
  std::string config_path;
  std::string sim_control;
  int sim_auto_open_ms = 0;
  std::optional<LogFormat> log_format;  // --log-format: wins over the configuration's log.format
};

Result<std::unique_ptr<Hardware>> open_hardware(const BoxConfig& config, const RunOptions& run,
                                                const Clock& clock) {
  auto hw = std::make_unique<Hardware>();
  if (config.hal.backend == HalBackend::kSim) {
    hal::sim::SimCabinetConfig sim_config = to_sim_config(config);
    if (run.sim_auto_open_ms > 0) {
      sim_config.auto_open_after = std::chrono::milliseconds(run.sim_auto_open_ms);
    }
    RC_ASSIGN_OR_RETURN(hw->sim, hal::sim::SimCabinet::create(clock, sim_config));
    hw->cabinet = hw->sim->cabinet();
    for (hal::Compartment& c : hw->cabinet.compartments) {
      hw->sim_locks.push_back(std::make_unique<RealTimePulseLock>(*c.lock));
      c.lock = hw->sim_locks.back().get();
    }
    spdlog::info("hal: sim backend, {} compartments", hw->cabinet.compartments.size());
    return hw;
  }
#ifdef RECLOTHES_HAVE_HAL_LINUX
  namespace lb = hal::linux_backend;
  RC_ASSIGN_OR_RETURN(lb::PinMap pins, to_pin_map(config));
  hw->gpio = lb::make_gpiod_port();
  RC_ASSIGN_OR_RETURN(hw->board, lb::LinuxCabinet::open(pins, *hw->gpio, clock));
  hw->cabinet = hw->board->cabinet();
  if (config.camera) {
    hw->video = lb::make_v4l2_port();
    auto camera = lb::V4l2Camera::open(*hw->video, to_v4l2_config(*config.camera));
    if (camera.ok()) {
      hw->camera = std::move(camera).value();
      hw->cabinet.camera = hw->camera.get();
    } else {
      // The box still serves remote opens without its camera.
      spdlog::error("hal: camera unavailable, scanning is off: {}", camera.error().to_string());
    }
  }
  spdlog::info("hal: linux backend, {} compartments", hw->cabinet.compartments.size());
  return hw;
#else
  return make_error(ErrorCode::kFailedPrecondition,
                    "the configuration asks for the linux HAL backend, but this build has none "
                    "(libgpiod was not found at build time)");
#endif
}

// ---- subcommands --------------------------------------------------------------------------------

int run_box(const RunOptions& options) {
  // Before any thread exists (see block_stop_signals).
  const sigset_t signals = block_stop_signals();

  auto config = load_config(options.config_path);
  if (!config.ok()) {
    spdlog::critical("{}", config.error().to_string());
    return kExitConfig;
  }
  // From here on the lines say which box wrote them (JSON: "box").
  use_log_format(options.log_format.value_or(config->log_format), config->box_id);
  const SyncOptions sync_opts = sync_options(*config);
  if (Status s = validate(sync_opts); !s.ok()) {
    spdlog::critical("{}: {}", options.config_path, s.error().to_string());
    return kExitConfig;
  }
  spdlog::info("reclothes-box {} starting: box {}, journal {}", kFirmwareVersion, config->box_id,
               config->journal_path.string());

  SystemClock clock;
  auto journal = Journal::open({.path = config->journal_path});
  if (!journal.ok()) {
    spdlog::critical("journal: {}", journal.error().to_string());
    return kExitStartup;
  }
  auto hardware = open_hardware(*config, options, clock);
  if (!hardware.ok()) {
    spdlog::critical("hal: {}", hardware.error().to_string());
    return kExitStartup;
  }
  std::unique_ptr<SimControl> sim_control;
  if (!options.sim_control.empty()) {
    if (!(*hardware)->sim) {
      spdlog::critical("--sim-control needs the sim HAL backend");
      return kExitStartup;
    }
    auto control = SimControl::open(options.sim_control, *(*hardware)->sim);
    if (!control.ok()) {
      spdlog::critical("{}", control.error().to_string());
      return kExitStartup;
    }
    sim_control = std::move(control).value();
  }

  Mailbox mailbox;
  auto box = Box::create(*config, (*hardware)->cabinet, **journal, mailbox, clock);
  if (!box.ok()) {
    spdlog::critical("box: {}", box.error().to_string());
    return kExitStartup;
  }
  // Safety first: locks released, doors read, crash intents recorded, before anything else.
  if (Status s = (*box)->start(); !s.ok()) {
    spdlog::critical("box start-up: {}", s.error().to_string());
    return kExitStartup;
  }
  auto sync = Sync::create(sync_opts, **journal, mailbox, clock);
  if (!sync.ok()) {
    spdlog::critical("sync: {}", sync.error().to_string());
    (*box)->stop();
    return kExitStartup;
  }
  if (Status s = (*sync)->start(); !s.ok()) {
    spdlog::critical("sync: {}", s.error().to_string());
    (*box)->stop();
    return kExitStartup;
  }

  SdNotifier systemd;
  systemd.notify("READY=1\nSTATUS=box " + config->box_id + " running");
  // Ping at half the watchdog interval; zero means systemd asked for no watchdog. (A plain value
  // rather than an optional: GCC 12 at -O2 on arm64 warns the optional "may be used
  // uninitialized".)
  std::chrono::milliseconds watchdog_every{0};
  if (const auto interval = systemd.watchdog(); interval.has_value()) {
    watchdog_every = std::chrono::duration_cast<std::chrono::milliseconds>(*interval) / 2;
  }
  auto last_ping = std::chrono::steady_clock::now();
  spdlog::info("box {} running", config->box_id);

  int exit_code = kExitOk;
  const std::chrono::milliseconds step_pause = (*box)->step_interval();
  for (;;) {
    if (Status s = (*box)->step(); !s.ok()) {
      // The journal cannot be written: nothing may be unlocked any more. Exit and let the
      // supervisor restart us (without a watchdog ping, it would anyway).
      spdlog::critical("main loop stopped: {}", s.error().to_string());
      exit_code = kExitFailure;
      break;
    }
    if (sim_control) sim_control->poll();
    if (watchdog_every.count() > 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_ping >= watchdog_every) {
        systemd.notify("WATCHDOG=1");
        last_ping = now;
      }
    }
    // The pause between steps doubles as the signal check.
    timespec pause{};
    pause.tv_sec = static_cast<std::time_t>(step_pause.count() / 1000);
    pause.tv_nsec = static_cast<long>((step_pause.count() % 1000) * 1'000'000);
    siginfo_t info{};
    const int sig = ::sigtimedwait(&signals, &info, &pause);
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("{} received, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }

  systemd.notify("STOPPING=1");
  (*box)->stop();
  (*sync)->stop();
  spdlog::info("reclothes-box stopped");
  return exit_code;
}

int scan_images(const std::vector<std::string>& files) {
  int exit_code = kExitOk;
  for (const std::string& file : files) {
    auto texts = scan_image_file(file);
    if (!texts.ok()) {
      // The core's messages usually name the file already.
      const std::string& why = texts.error().message;
      std::cerr << (why.find(file) == std::string::npos ? file + ": " + why : why) << "\n";
      exit_code = kExitFailure;
      continue;
    }
    for (const std::string& text : *texts) std::cout << file << ": " << text << "\n";
  }
  return exit_code;
}

int check_config(const std::string& path) {
  auto config = load_config(path);
  if (!config.ok()) {
    std::cerr << config.error().to_string() << "\n";
    return kExitConfig;
  }
  if (Status s = validate(sync_options(*config)); !s.ok()) {
    std::cerr << path << ": " << s.error().to_string() << "\n";
    return kExitConfig;
  }
  std::cout << path << ": ok: box " << config->box_id << ", " << config->compartments.size()
            << " compartments, hal " << to_string(config->hal.backend) << ", broker "
            << config->broker.uri << ", journal " << config->journal_path.string() << "\n";
  return kExitOk;
}

std::optional<spdlog::level::level_enum> parse_level(const std::string& name) {
  const auto level = spdlog::level::from_str(name);
  // from_str gives `off` for anything unknown; accept `off` only when asked for.
  if (level == spdlog::level::off && name != "off") return std::nullopt;
  return level;
}

}  // namespace
}  // namespace reclothes::firmware

int main(int argc, char** argv) {
  using namespace reclothes::firmware;
  CLI::App app{"reclothes-box: the ReClothes drop-off box daemon and its tools"};
  app.set_version_flag("--version", std::string("reclothes-box ") + std::string(kFirmwareVersion));
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->capture_default_str();
  std::string log_format;
  app.add_option("--log-format", log_format,
                 "text or json (one JSON object per line); default: the configuration's "
                 "log.format, text without one");

  RunOptions run;
  CLI::App* run_cmd = app.add_subcommand("run", "run the box until SIGTERM or SIGINT");
  run_cmd->add_option("--config,-c", run.config_path, "the box configuration (JSON)")->required();
  run_cmd->add_option("--sim-control", run.sim_control,
                      "sim backend only: create/read this FIFO for door, QR and sensor commands "
                      "(docs/box-sync.md)");
  run_cmd
      ->add_option("--sim-auto-open-ms", run.sim_auto_open_ms,
                   "sim backend only: a pulsed door springs open after this many ms (0: never)")
      ->check(CLI::Range(0, 60'000));
  run_cmd->footer(kExitCodesHelp);

  std::vector<std::string> images;
  CLI::App* scan_cmd =
      app.add_subcommand("scan-image", "print the QR codes in image files (PNG, JPEG, PGM ...)");
  scan_cmd->add_option("FILE", images, "image files")->required();
  scan_cmd->footer(kExitCodesHelp);

  std::string config_file;
  CLI::App* check_cmd =
      app.add_subcommand("check-config", "load and check a configuration file, print a summary");
  check_cmd->add_option("FILE", config_file, "the box configuration (JSON)")->required();
  check_cmd->footer(kExitCodesHelp);

  for (CLI::App* sub : {run_cmd, scan_cmd, check_cmd}) {
    sub->set_version_flag("--version",
                          std::string("reclothes-box ") + std::string(kFirmwareVersion));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, the version or the error
    return code == 0 ? kExitOk : kExitUsage;
  }
  const auto level = parse_level(log_level);
  if (!level) {
    std::cerr << "--log-level: unknown level \"" << log_level << "\"\n";
    return kExitUsage;
  }
  spdlog::set_level(*level);
  if (!log_format.empty()) {
    run.log_format = parse_log_format(log_format);
    if (!run.log_format) {
      std::cerr << "--log-format: expected text or json, got \"" << log_format << "\"\n";
      return kExitUsage;
    }
    use_log_format(*run.log_format);
  }

  if (*run_cmd) return run_box(run);
  if (*scan_cmd) return scan_images(images);
  if (*check_cmd) return check_config(config_file);
  return kExitUsage;
}
