#include "reclothes/bench/events.h"

#include <nlohmann/json.hpp>
#include <string>

namespace reclothes::bench {

msg::Event unlocked_event(std::int64_t now_ms, std::uint64_t n) {
  msg::Event e;
  e.kind = msg::EventKind::kUnlocked;
  e.at_ms = now_ms;
  e.compartment = static_cast<int>(n % 24) + 1;
  e.token_id = "be00000000000001";
  e.action = TokenAction::kDeposit;
  e.order_ref = 100000 + n;
  return e;
}

Result<std::size_t> stored_event_bytes(const msg::Event& event) {
  msg::Event e = event;
  e.seq = 1;
  const msg::Envelope env{msg::kSchemaVersion, "bench", e.at_ms, "bench", msg::Events{{e}}};
  RC_ASSIGN_OR_RETURN(const std::string text, msg::serialize(env));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return make_error(ErrorCode::kInternal, "serialised event is not JSON");
  return j["body"]["events"][0].dump().size();
}

}  // namespace reclothes::bench
