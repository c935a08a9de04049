#include "reclothes/controller/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace reclothes::controller {
namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool is_v4_mapped(const std::array<std::uint8_t, 16>& b) {
  return std::memcmp(b.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0;
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string s(text);
  IpAddress out;
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    std::memcpy(out.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
    std::memcpy(out.bytes.data() + 12, &v4.s_addr, 4);  // s_addr is already in network order
    out.is_v4 = true;
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.bytes.data(), v6.s6_addr, 16);
    out.is_v4 = is_v4_mapped(out.bytes);
    return out;
  }
  return std::nullopt;
}

Result<CidrBlock> CidrBlock::parse(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return make_error(ErrorCode::kInvalidArgument,
                      "\"" + std::string(text) + "\" is not a CIDR block: " + std::string(why));
  };
  const auto slash = text.find('/');
  const auto address = parse_ip(text.substr(0, slash));
  if (!address) return bad("bad address");
  const int max_bits = address->is_v4 ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || bits < 0 ||
        bits > max_bits) {
      return bad("bad prefix length");
    }
  }
  CidrBlock block;
  block.network_ = *address;
  block.prefix_bits_ = address->is_v4 ? bits + 96 : bits;
  block.text_ = std::string(text);
  // Host bits must be zero.
  for (int i = block.prefix_bits_; i < 128; ++i) {
    const auto byte = block.network_.bytes[static_cast<std::size_t>(i / 8)];
    if ((byte >> (7 - i % 8)) & 1) return bad("host bits are set after the prefix");
  }
  return block;
}

bool CidrBlock::contains(const IpAddress& address) const {
  for (int i = 0; i < prefix_bits_; ++i) {
    const auto idx = static_cast<std::size_t>(i / 8);
    const int shift = 7 - i % 8;
    if (((network_.bytes[idx] >> shift) & 1) != ((address.bytes[idx] >> shift) & 1)) return false;
  }
  return true;
}

Result<Allowlist> Allowlist::parse(const std::vector<std::string>& blocks) {
  Allowlist list;
  for (const auto& text : blocks) {
    RC_ASSIGN_OR_RETURN(auto block, CidrBlock::parse(text));
    list.blocks_.push_back(std::move(block));
  }
  return list;
}

bool Allowlist::allows(std::string_view address) const {
  const auto ip = parse_ip(address);
  if (!ip) return false;
  for (const auto& block : blocks_) {
    if (block.contains(*ip)) return true;
  }
  return false;
}

}  // namespace reclothes::controller
