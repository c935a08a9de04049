// The box configuration file (firmware/config/box.example.json, docs/firmware.md "Configuration
// reference") as the CLI writes and reads it. The firmware's own parser (firmware::load_config)
// is the authority on the format; the CLI does not link the firmware, so it keeps this model of
// the fields it writes and needs, and a test checks that every file it writes loads in the
// firmware.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"
#include "reclothes/provisioning/cli/cabinet_spec.h"

namespace reclothes::provisioning::cli {

// File names inside a box directory (register's --out). The configuration names them relative to
// its own directory, which the firmware resolves against the file's location, so the directory
// can be copied to the box anywhere (e.g. /etc/reclothes).
inline constexpr char kBoxConfigFile[] = "box.json";
inline constexpr char kBoxKeyFile[] = "box.key";
inline constexpr char kBoxCertFile[] = "box.crt";
inline constexpr char kBoxCaFile[] = "ca.crt";
// The box's own printed code (reclothes:box:<box_id>, common/box_code.h) as a QR PNG for the
// label on the cabinet; the firmware does not read it.
inline constexpr char kBoxCodeFile[] = "box-code.png";
// 10 px per module: a box code (version 2 or 3, 33..37 modules with the quiet zone) is about
// 350 px, 44 mm at 203 dpi or 30 mm at 300 dpi, which phones read from arm's length.
inline constexpr int kBoxCodeModulePx = 10;
inline constexpr char kDefaultJournalPath[] = "/var/lib/reclothes/journal.db";

struct TrustedKey {
  std::uint16_t key_id = 0;
  std::string public_key_pem;
  bool retired = false;
  bool operator==(const TrustedKey&) const = default;
};

struct CameraSettings {
  std::string device = "/dev/video0";
  std::uint32_t width = 640;
  std::uint32_t height = 480;
  std::uint32_t fps = 10;
  bool operator==(const CameraSettings&) const = default;
};

enum class Backend { kSim, kLinux };
std::string_view to_string(Backend backend);  // "sim", "linux"
std::optional<Backend> backend_from_string(std::string_view s);

struct BoxFile {
  std::string box_id;
  std::string journal_path = kDefaultJournalPath;
  struct Broker {
    std::string uri;  // ssl://host:port
    // As written in the file: relative names are relative to the file's directory.
    std::string ca = kBoxCaFile;
    std::string cert = kBoxCertFile;
    std::string key = kBoxKeyFile;
    int keepalive_s = 30;
    bool operator==(const Broker&) const = default;
  } broker;
  std::vector<TrustedKey> trusted_keys;
  CabinetPlan cabinet;
  Backend backend = Backend::kSim;
  std::optional<CameraSettings> camera = CameraSettings{};
  int state_report_interval_s = 60;

  bool operator==(const BoxFile&) const = default;
};

// The JSON text (2-space indented, fields in the order of the example file, trailing newline).
std::string render_box_file(const BoxFile& file);

// Reads the fields above from a configuration file's text. Fields the CLI does not model
// (timeouts, client_id, ...) are ignored: they stay in the file untouched, and the firmware checks
// them. Fields it does model are checked for type and range; kInvalidArgument names the field.
Result<BoxFile> parse_box_file(std::string_view json_text);
// kNotFound / kIo naming the file, or parse_box_file's errors prefixed by the path.
Result<BoxFile> load_box_file(const std::filesystem::path& path);

// A path from the file, resolved as the firmware does: relative to the file's directory.
std::filesystem::path resolve(const std::filesystem::path& config_file, std::string_view name);

}  // namespace reclothes::provisioning::cli
