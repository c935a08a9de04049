// Network allowlists for the internal listener: IPv4 and IPv6 CIDR blocks.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::controller {

// An address in 16-byte form; IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d) so that a
// dual-stack socket's "::ffff:127.0.0.1" and a plain "127.0.0.1" are the same address.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool is_v4 = false;
  bool operator==(const IpAddress&) const = default;
};

// Parses "10.1.2.3", "::1", "fe80::1", "::ffff:10.1.2.3". Zone ids ("%eth0") are refused.
std::optional<IpAddress> parse_ip(std::string_view text);

class CidrBlock {
 public:
  // "10.0.0.0/8", "2001:db8::/32"; a bare address means /32 or /128. Host bits must be zero
  // ("10.0.0.1/8" is refused) so that a typo does not silently widen or narrow the block.
  static Result<CidrBlock> parse(std::string_view text);

  bool contains(const IpAddress& address) const;
  const std::string& text() const { return text_; }

 private:
  CidrBlock() = default;
  IpAddress network_;
  int prefix_bits_ = 0;  // over the 16-byte form (an IPv4 /8 is stored as /104)
  std::string text_;
};

class Allowlist {
 public:
  static Result<Allowlist> parse(const std::vector<std::string>& blocks);
  // An unparsable address is never allowed.
  bool allows(std::string_view address) const;
  bool empty() const { return blocks_.empty(); }

 private:
  std::vector<CidrBlock> blocks_;
};

}  // namespace reclothes::controller
