#include "reclothes/controller/cidr.h"

#include <gtest/gtest.h>

namespace reclothes::controller {
namespace {

TEST(Cidr, Ipv4BlockContainsItsAddressesOnly) {
  auto block = CidrBlock::parse("10.0.0.0/8");
  ASSERT_TRUE(block.ok()) << block.error().message;
  EXPECT_TRUE(block->contains(*parse_ip("10.0.0.1")));
  EXPECT_TRUE(block->contains(*parse_ip("10.255.255.255")));
  EXPECT_FALSE(block->contains(*parse_ip("11.0.0.0")));
  EXPECT_FALSE(block->contains(*parse_ip("127.0.0.1")));
}

TEST(Cidr, Ipv4MappedIpv6AddressMatchesIpv4Block) {
  auto block = CidrBlock::parse("127.0.0.0/8");
  ASSERT_TRUE(block.ok());
  EXPECT_TRUE(block->contains(*parse_ip("::ffff:127.0.0.1")));
}

TEST(Cidr, Ipv6Block) {
  auto block = CidrBlock::parse("2001:db8::/32");
  ASSERT_TRUE(block.ok());
  EXPECT_TRUE(block->contains(*parse_ip("2001:db8::1")));
  EXPECT_TRUE(block->contains(*parse_ip("2001:db8:ffff::1")));
  EXPECT_FALSE(block->contains(*parse_ip("2001:db9::1")));
  EXPECT_FALSE(block->contains(*parse_ip("10.0.0.1")));
}

TEST(Cidr, BareAddressIsSingleHost) {
  auto v4 = CidrBlock::parse("192.168.1.5");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4->contains(*parse_ip("192.168.1.5")));
  EXPECT_FALSE(v4->contains(*parse_ip("192.168.1.6")));
  auto v6 = CidrBlock::parse("::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->contains(*parse_ip("::1")));
  EXPECT_FALSE(v6->contains(*parse_ip("::2")));
}

TEST(Cidr, ZeroPrefixMatchesEverythingOfItsFamily) {
  auto all4 = CidrBlock::parse("0.0.0.0/0");
  ASSERT_TRUE(all4.ok());
  EXPECT_TRUE(all4->contains(*parse_ip("8.8.8.8")));
  EXPECT_FALSE(all4->contains(*parse_ip("2001:db8::1")));
  auto all6 = CidrBlock::parse("::/0");
  ASSERT_TRUE(all6.ok());
  EXPECT_TRUE(all6->contains(*parse_ip("2001:db8::1")));
}

TEST(Cidr, RefusesMalformedBlocks) {
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "10.0.0.1/8", "300.0.0.0/8",
                          "::/129", "fe80::1%eth0", "10.0.0.0/8/8", "abc", "10.0.0.0/-1"}) {
    EXPECT_FALSE(CidrBlock::parse(bad).ok()) << bad;
  }
}

TEST(Allowlist, AllowsOnlyListedNetworksAndNeverGarbage) {
  auto list = Allowlist::parse({"10.0.0.0/8", "::1/128"});
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->allows("10.1.2.3"));
  EXPECT_TRUE(list->allows("::1"));
  EXPECT_FALSE(list->allows("127.0.0.1"));
  EXPECT_FALSE(list->allows(""));
  EXPECT_FALSE(list->allows("not an address"));
  auto empty = Allowlist::parse({});
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->allows("127.0.0.1"));
}

}  // namespace
}  // namespace reclothes::controller
