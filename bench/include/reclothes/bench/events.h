// Journal events as the benchmarks write them, and the bytes the journal stores for one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "reclothes/common/messages.h"
#include "reclothes/common/result.h"

namespace reclothes::bench {

// The event a scan journals: an `unlocked` for a deposit token, compartment n % 24 + 1.
msg::Event unlocked_event(std::int64_t now_ms, std::uint64_t n);

// The size of what the journal stores for `event`: the event object of its wire JSON (the outbox
// body, docs/box-sync.md). msg::serialize's errors.
Result<std::size_t> stored_event_bytes(const msg::Event& event);

}  // namespace reclothes::bench
