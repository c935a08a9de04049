#include "reclothes/firmware/mailbox.h"

#include <gtest/gtest.h>

#include <thread>

#include "reclothes/firmware/text.h"

namespace reclothes::firmware {
namespace {

msg::Command command(std::string id) {
  msg::Command c;
  c.id = std::move(id);
  c.op = msg::CommandOp::kMaintenanceOn;
  return c;
}

TEST(Mailbox, InboundIsFirstInFirstOutAndBounded) {
  Mailbox m;
  EXPECT_FALSE(m.pop_inbound().has_value());
  for (std::size_t i = 0; i < Mailbox::kMaxInbound; ++i) {
    ASSERT_TRUE(m.push_inbound(command("c" + std::to_string(i))));
  }
  EXPECT_FALSE(m.push_inbound(command("overflow")));
  msg::Config config;
  config.revision = 1;
  auto first = m.pop_inbound();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(std::get<msg::Command>(*first).id, "c0");
  EXPECT_TRUE(m.push_inbound(config));  // room again
  for (std::size_t i = 1; i < Mailbox::kMaxInbound; ++i) ASSERT_TRUE(m.pop_inbound().has_value());
  auto last = m.pop_inbound();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(std::get<msg::Config>(*last).revision, 1u);
}

TEST(Mailbox, ResultsAreBoundedAndWakeAWaiter) {
  Mailbox m;
  EXPECT_FALSE(m.wait_for_result(std::chrono::milliseconds(1)));
  bool woke = false;
  std::thread waiter([&] { woke = m.wait_for_result(std::chrono::seconds(30)); });
  ASSERT_TRUE(m.push_result({"c1", true, "ok", ""}));
  waiter.join();
  EXPECT_TRUE(woke);
  EXPECT_EQ(m.pop_result()->command_id, "c1");
  EXPECT_FALSE(m.pop_result().has_value());
  for (std::size_t i = 0; i < Mailbox::kMaxResults; ++i) {
    ASSERT_TRUE(m.push_result({"c", true, "ok", ""}));
  }
  EXPECT_FALSE(m.push_result({"c", true, "ok", ""}));
}

TEST(Mailbox, StateIsTheLatestSet) {
  Mailbox m;
  EXPECT_FALSE(m.state().has_value());
  msg::State s;
  s.uptime_s = 1;
  m.set_state(s);
  s.uptime_s = 2;
  m.set_state(s);
  EXPECT_EQ(m.state()->uptime_s, 2);
}

TEST(Text, TruncationNeverSplitsACharacter) {
  EXPECT_EQ(truncate_utf8("abc", 5), "abc");
  EXPECT_EQ(truncate_utf8("abcdef", 3), "abc");
  EXPECT_EQ(truncate_utf8("a\xc3\xa9", 2), "a");  // "aé" cut inside the é
  EXPECT_EQ(truncate_chars("gr\xc3\xbc\xc3\x9f"
                           "e",
                           4),
            "gr\xc3\xbc\xc3\x9f");
  EXPECT_EQ(truncate_chars("short", 32), "short");
}

}  // namespace
}  // namespace reclothes::firmware
