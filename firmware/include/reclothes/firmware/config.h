// The box's fixed configuration: a const struct read once at start-up from a JSON file.
//
// Runtime state that the controller changes (reservations, revocations, maintenance, extra keys)
// is not here: it arrives as msg::Config revisions and lives in the journal. docs/firmware.md
// ("Configuration reference") lists every field; firmware/config/box.example.json is a sample.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/firmware/log_format.h"

namespace reclothes::firmware {

// The version this firmware reports in boot events, state and status. Keep in step with the
// project version in the top-level CMakeLists.txt.
inline constexpr std::string_view kFirmwareVersion = "0.1.0";

enum class CompartmentSize { kS, kM, kL, kXL };
std::string_view to_string(CompartmentSize size);  // "S", "M", "L", "XL"

// GPIO wiring of one compartment (linux backend only).
struct PinConfig {
  std::string chip = "gpiochip0";
  unsigned int lock_line = 0;
  bool lock_active_low = false;
  unsigned int door_line = 0;
  bool door_active_low = false;
};

struct GpioPinConfig {
  std::string chip = "gpiochip0";
  unsigned int line = 0;
  bool active_low = false;
};

struct CompartmentConfig {
  int id = 0;  // 1..N, consecutive, in file order
  CompartmentSize size = CompartmentSize::kM;
  std::chrono::milliseconds pulse{500};  // 50..2000 ms
  bool fill_sensor = false;
  std::optional<PinConfig> pin;  // required with the linux backend
};

struct TlsConfig {
  std::filesystem::path ca;                   // CA that signed the broker's certificate
  std::optional<std::filesystem::path> cert;  // client certificate (the box's identity)
  std::optional<std::filesystem::path> key;   // its private key; given together with cert
};

struct BrokerConfig {
  std::string uri;        // "ssl://broker.example:8883", "tcp://127.0.0.1:1883"
  std::string client_id;  // defaults to the box id
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<TlsConfig> tls;
  std::chrono::seconds keepalive{30};  // 5..3600
};

struct TrustedKeyConfig {
  std::uint16_t key_id = 0;
  std::string public_key_pem;  // from public_key_pem, or read from public_key_file at load
  bool retired = false;
};

struct Timeouts {
  // Unlocked but the door did not open within this: jammed (the latch may have caught again).
  std::chrono::seconds door_open_after_unlock{15};
  // Open longer than this: ajar.
  std::chrono::seconds door_ajar{120};
  // A reservation stays valid this long after its `until` (the person is at the box).
  std::chrono::seconds reservation_grace{60};
  // Tolerated clock difference between box and controller when checking token windows.
  std::chrono::seconds token_leeway{60};
  // The same QR text seen again within this window is not re-evaluated (a phone held in front of
  // the camera is seen in every frame).
  std::chrono::seconds scan_repeat{5};
};

enum class HalBackend { kSim, kLinux };
std::string_view to_string(HalBackend backend);  // "sim", "linux"

struct HalConfig {
  HalBackend backend = HalBackend::kSim;
  std::optional<GpioPinConfig> tamper;     // linux: the service panel switch, active = open
  std::optional<GpioPinConfig> led_green;  // linux: status LEDs
  std::optional<GpioPinConfig> led_red;
};

struct CameraConfig {
  std::string device = "/dev/video0";
  std::uint32_t width = 640;
  std::uint32_t height = 480;
  std::uint32_t fps = 10;  // scan attempts per second the main loop aims for
};

struct BoxConfig {
  std::string box_id;
  std::filesystem::path journal_path;
  BrokerConfig broker;
  std::vector<TrustedKeyConfig> trusted_keys;
  std::vector<CompartmentConfig> compartments;  // 1..64
  Timeouts timeouts;
  HalConfig hal;
  std::optional<CameraConfig> camera;  // absent: no camera (remote opens only)
  std::chrono::seconds state_report_interval{60};
  LogFormat log_format = LogFormat::kText;  // "log": {"format": "text" | "json"}
};

// Parses and checks a configuration. Strict: unknown fields, duplicate keys, wrong JSON types
// and out-of-range values are refused with kInvalidArgument, and the message names the field by
// its JSON pointer, e.g. "/compartments/2/pin/lock_line: expected an integer 0..1023, got the
// string \"17\"" (the common reader, reclothes/common/json_reader.h).
// Every trusted key must be a P-256 public key PEM. Relative file names (public_key_file) are
// resolved against base_dir. Pure apart from reading public_key_file.
Result<BoxConfig> parse_config(std::string_view json_text,
                               const std::filesystem::path& base_dir = {});

// Reads and parses a file (relative file names inside are resolved against its directory).
// kNotFound / kIo if it cannot be read, otherwise parse_config's errors prefixed by the path.
Result<BoxConfig> load_config(const std::filesystem::path& path);

}  // namespace reclothes::firmware
