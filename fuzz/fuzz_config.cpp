// libFuzzer target for every configuration file reader: each input goes to all of them, as the
// file each one reads.
//   firmware::parse_config       the box's config (reclothes-box, and reclothes-sim box --config)
//   controller::parse_config     the controller's config (reclothes-controller --config)
//   cli::parse_box_file          the provisioning CLI's view of a box config (register, show)
//   cli::parse_cabinet_json      reclothes-provision --compartments FILE.json
//   cli::parse_shorthand         reclothes-provision --compartments "S:8,M:8"
//   cli::parse_fleet_settings    the fleet PKI's fleet.json
//   RevocationList::parse        the fleet PKI's revocations.json
// (The simulator's fleet mode takes its settings from the command line, not a file; its box mode
// reads the box config above. The scenario files are fuzz_scenario's.)
//
// Relative key files in a box config (public_key_file) are resolved against a directory that does
// not exist, so they are refused as missing files.
//
// Besides "never crash, never hang", the files the CLI writes back are checked: what the CLI
// parses from a box file, fleet.json or revocations.json, it renders to text it parses again to
// the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "reclothes/controller/config.h"
#include "reclothes/firmware/config.h"
#include "reclothes/provisioning/cli/box_file.h"
#include "reclothes/provisioning/cli/cabinet_spec.h"
#include "reclothes/provisioning/cli/fleet_pki.h"
#include "reclothes/provisioning/pki.h"

namespace {

namespace cli = reclothes::provisioning::cli;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  (void)reclothes::firmware::parse_config(text, "/nonexistent/reclothes-fuzz");
  (void)reclothes::controller::parse_config(text);
  (void)cli::parse_cabinet_json(text);
  (void)cli::parse_shorthand(text);

  if (auto box = cli::parse_box_file(text); box.ok()) {
    auto again = cli::parse_box_file(cli::render_box_file(*box));
    check(again.ok() && *again == *box);
  }
  if (auto fleet = cli::parse_fleet_settings(text); fleet.ok()) {
    const std::string rendered = cli::render_fleet_settings(*fleet);
    auto again = cli::parse_fleet_settings(rendered);
    check(again.ok() && cli::render_fleet_settings(*again) == rendered);
  }
  if (auto list = reclothes::provisioning::RevocationList::parse(text); list.ok()) {
    const std::string json = list->to_json();
    auto again = reclothes::provisioning::RevocationList::parse(json);
    check(again.ok() && again->to_json() == json);
  }
  return 0;
}
