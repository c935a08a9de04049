// reclothes-provision selftest: the hardware check of selftest.h on the backend the configuration
// (or --backend) names, printed as a table; exit 1 on any fault.
#include "commands_common.h"
#include "reclothes/provisioning/cli/selftest.h"
#include "reclothes/provisioning/cli/selftest_backend.h"

namespace reclothes::provisioning::cli {

using detail::Ordered;

CliResult<CommandOutput> run_selftest(const SelfTestCommandOptions& o, Environment& env) {
  Console& console = env.console;
  RC_ASSIGN_OR_RETURN(BoxFile config, detail::local(load_box_file(o.config)));
  BackendOptions backend;
  backend.backend = o.backend.value_or(config.backend);
  backend.sim_auto_open = o.sim_auto_open;
  for (const auto& text : o.sim_faults) {
    auto fault = parse_sim_fault(text);
    if (!fault.ok()) return CliError{ExitCode::kUsage, std::move(fault).error(), {}};
    backend.sim_faults.push_back(*fault);
  }
  if (o.door_open_timeout.count() <= 0 || o.door_close_timeout.count() <= 0) {
    return cli_error(ExitCode::kUsage, ErrorCode::kInvalidArgument,
                     "--door-timeout and --close-timeout must be positive");
  }
  console.step("opening the " + std::string(to_string(backend.backend)) + " backend for box " +
               config.box_id + " (" + std::to_string(config.cabinet.compartments.size()) +
               " compartments)");
  auto rig = make_self_test_rig(config, backend);
  if (!rig.ok()) {
    const ExitCode exit =
        rig.error().code == ErrorCode::kInvalidArgument ? ExitCode::kUsage : ExitCode::kFailure;
    std::string hint;
    if (backend.backend == Backend::kLinux && exit == ExitCode::kFailure) {
      hint = "stop reclothes-box first (it holds the GPIO lines), and check the pin map";
    }
    return CliError{exit, std::move(rig).error().with_context("opening the hardware"), hint};
  }
  SelfTestRig& r = **rig;
  SelfTestOptions options;
  options.door_open_timeout = o.door_open_timeout;
  options.door_close_timeout = o.door_close_timeout;
  SelfTestHooks hooks;
  auto say = [&console](const std::string& line) { console.step(line); };
  hooks.progress = say;
  hooks.door_opened = [&r, &say](int number) { r.on_door_opened(number, say); };
  const SelfTestReport report =
      run_self_test(r.cabinet(), expectation_of(config), r.clock(), r.sleeper(), options, hooks);

  CommandOutput out;
  const auto faults = report.faults();
  out.exit = faults.empty() ? ExitCode::kOk : ExitCode::kFailure;
  out.json["ok"] = faults.empty();
  out.json["box_id"] = config.box_id;
  out.json["backend"] = r.description();
  Ordered compartments = Ordered::array();
  detail::Table table({"compartment", "size", "lock", "door", "fill", "result"});
  for (std::size_t i = 0; i < report.compartments.size(); ++i) {
    const CompartmentCheck& c = report.compartments[i];
    Ordered j{
        {"compartment", c.number},
        {"size", config.cabinet.compartments[i].size},
        {"lock", std::string(to_string(c.lock))},
        {"lock_detail", c.lock_text},
        {"door", std::string(to_string(c.door))},
        {"door_detail", c.door_text},
        {"fill", std::string(to_string(c.fill))},
        {"fill_percent", c.fill_percent ? Ordered(*c.fill_percent) : Ordered(nullptr)},
        {"opened_after_ms", c.opened_after ? Ordered(c.opened_after->count()) : Ordered(nullptr)},
        {"ok", c.ok()},
        {"faults", c.faults}};
    compartments.push_back(std::move(j));
    table.add({std::to_string(c.number), config.cabinet.compartments[i].size, c.lock_text,
               c.door_text, c.fill_text, c.ok() ? "ok" : "FAULT"});
  }
  out.json["compartments"] = compartments;
  Ordered cabinet = Ordered::array();
  std::vector<std::string> cabinet_text;
  for (const CabinetCheck& c : report.cabinet) {
    cabinet.push_back(Ordered{
        {"check", c.name}, {"outcome", std::string(to_string(c.outcome))}, {"detail", c.text}});
    cabinet_text.push_back(c.name + " " + std::string(to_string(c.outcome)) + " (" + c.text + ")");
  }
  out.json["cabinet"] = cabinet;
  out.json["faults"] = faults;

  out.text = "Self-test of box " + config.box_id + " on " + r.description() + "\n";
  out.text += table.render("  ");
  out.text += "  cabinet: " + detail::join(cabinet_text, "; ") + "\n";
  if (faults.empty()) {
    out.text += "PASSED\n";
  } else {
    out.text += "FAILED: " + std::to_string(faults.size()) +
                (faults.size() == 1 ? " fault\n" : " faults\n");
    for (const auto& f : faults) out.text += "  - " + f + "\n";
  }
  return out;
}

}  // namespace reclothes::provisioning::cli
