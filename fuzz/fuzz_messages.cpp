// libFuzzer target for the MQTT contract: msg::parse, parse_as, parse_received and parse_topic.
//
// Besides "never crash, never hang", it checks the round-trip invariant that the sync protocol
// relies on: whatever parse() accepts, serialize() can send again, and parsing that gives the
// same message. A box that relays or re-sends a message must never produce one its peer rejects.
//
// Build by hand (see docs/mqtt-contract.md, "Fuzzing"):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I common/include \
//     fuzz/fuzz_messages.cpp \
//     common/src/{messages,json_reader,token,mbedtls_util,base45,result,bytes,clock}.cpp \
//     -lmbedcrypto -o fuzz_messages
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "reclothes/common/messages.h"

namespace {

using namespace reclothes::msg;

void check_round_trip(const Envelope& envelope) {
  reclothes::Result<std::string> text = serialize(envelope);
  if (!text.ok()) std::abort();  // parse() accepted something serialize() refuses
  reclothes::Result<Envelope> again = parse(*text);
  if (!again.ok()) std::abort();  // serialize() produced something parse() refuses
  if (!(*again == envelope)) std::abort();
  reclothes::Result<Envelope> typed = parse_as(*text, type_of(envelope.body));
  if (!typed.ok() || !(*typed == envelope)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  reclothes::Result<ParsedTopic> parsed_topic = parse_topic(input);
  if (parsed_topic.ok()) {
    // A topic we accept must be one we would build.
    if (topic(parsed_topic->box_id, parsed_topic->leaf) != input) std::abort();
  }

  reclothes::Result<Envelope> envelope = parse(input);
  if (envelope.ok()) check_round_trip(*envelope);

  // The typed entry point has its own size check before parsing; let the first byte pick a type.
  if (size > 0) {
    const auto type = static_cast<MessageType>(data[0] % 7);
    reclothes::Result<Envelope> typed = parse_as(input.substr(1), type);
    if (typed.ok()) {
      if (type_of(typed->body) != type) std::abort();
      check_round_trip(*typed);
    }
  }
  // "topic\npayload": the subscriber's entry point, which must agree with the topic it was given.
  if (const std::size_t newline = input.find('\n'); newline != std::string_view::npos) {
    const std::string_view topic_text = input.substr(0, newline);
    reclothes::Result<Envelope> received = parse_received(topic_text, input.substr(newline + 1));
    if (received.ok()) {
      reclothes::Result<ParsedTopic> t = parse_topic(topic_text);
      if (!t.ok() || t->box_id != received->box_id) std::abort();
      if (message_type_for(t->leaf) != type_of(received->body)) std::abort();
      check_round_trip(*received);
    }
  }
  return 0;
}
