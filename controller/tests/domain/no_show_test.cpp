// No-shows, the pure parts: the policy and the reminder schedule before the pickup window ends.
#include "reclothes/controller/domain/no_show.h"

#include <gtest/gtest.h>

#include "reclothes/controller/domain/notification_text.h"

namespace reclothes::controller::domain {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

constexpr std::int64_t kHourMs = 3600 * 1000;

TEST(NoShowPolicy, NamesAndTheCollectEvent) {
  EXPECT_EQ(to_string(NoShowPolicy::kRefund), "refund");
  EXPECT_EQ(to_string(NoShowPolicy::kRestock), "restock");
  EXPECT_EQ(no_show_policy_from_string("refund"), NoShowPolicy::kRefund);
  EXPECT_EQ(no_show_policy_from_string("restock"), NoShowPolicy::kRestock);
  EXPECT_FALSE(no_show_policy_from_string("keep").has_value());
  EXPECT_EQ(no_show_collect_event(NoShowPolicy::kRefund), BuyingEvent::kNoShowRefund);
  EXPECT_EQ(no_show_collect_event(NoShowPolicy::kRestock), BuyingEvent::kNoShowRestock);
  // The default is what a customer expects: the money back.
  EXPECT_EQ(no_show_policy(DomainConfig{}.buying), NoShowPolicy::kRefund);
  // Each policy ends the expired order in its own end state; nothing else can.
  EXPECT_EQ(next(BuyingState::kPickupExpired, BuyingEvent::kNoShowRefund).value(),
            BuyingState::kRefunded);
  EXPECT_EQ(next(BuyingState::kPickupExpired, BuyingEvent::kNoShowRestock).value(),
            BuyingState::kRestocked);
  const auto refused = next(BuyingState::kReadyForPickup, BuyingEvent::kNoShowRefund);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message(),
            "cannot no_show_refund a buying order that is ready_for_pickup");
}

TEST(NoShowReminders, OffsetsAreTheNonZeroRemindersLongestFirst) {
  DomainConfig::Buying b;
  EXPECT_EQ(pickup_reminder_offsets(b), std::vector<seconds>{hours(24)});
  b.pickup_last_reminder = hours(1);
  EXPECT_EQ(pickup_reminder_offsets(b), (std::vector<seconds>{hours(24), hours(1)}));
  b.pickup_reminder = seconds(0);
  EXPECT_EQ(pickup_reminder_offsets(b), std::vector<seconds>{hours(1)});
  b.pickup_last_reminder = seconds(0);
  EXPECT_TRUE(pickup_reminder_offsets(b).empty());
}

TEST(NoShowReminders, DueCountsFromTheWindowsEndAndStopsAtIt) {
  const std::vector<seconds> offsets = {hours(24), hours(1)};
  const std::int64_t until = 100 * kHourMs;
  EXPECT_EQ(pickup_reminders_due(until, until - 25 * kHourMs, offsets), 0);
  EXPECT_EQ(pickup_reminders_due(until, until - 24 * kHourMs - 1, offsets), 0);
  EXPECT_EQ(pickup_reminders_due(until, until - 24 * kHourMs, offsets), 1) << "due at the mark";
  EXPECT_EQ(pickup_reminders_due(until, until - 2 * kHourMs, offsets), 1);
  EXPECT_EQ(pickup_reminders_due(until, until - kHourMs, offsets), 2);
  EXPECT_EQ(pickup_reminders_due(until, until - 1, offsets), 2);
  // At the end the order expires instead: no reminder is due any more.
  EXPECT_EQ(pickup_reminders_due(until, until, offsets), 0);
  EXPECT_EQ(pickup_reminders_due(until, until + kHourMs, offsets), 0);
  EXPECT_EQ(pickup_reminders_due(until, until - kHourMs, {}), 0);
}

TEST(NoShowConfig, ParsedStrictlyWithDefaults) {
  auto c = parse_domain_config(nlohmann::json::object());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->buying.pickup_window, hours(72));
  EXPECT_EQ(c->buying.pickup_last_reminder, seconds(0));
  EXPECT_EQ(c->buying.no_show_policy, "refund");
  c = parse_domain_config({{"buying",
                            {{"pickup_window_s", 20},
                             {"pickup_reminder_s", 10},
                             {"pickup_last_reminder_s", 5},
                             {"no_show_policy", "restock"}}}});
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->buying.pickup_window, seconds(20));
  EXPECT_EQ(c->buying.pickup_last_reminder, seconds(5));
  EXPECT_EQ(c->buying.no_show_policy, "restock");
  const auto bad_policy = parse_domain_config({{"buying", {{"no_show_policy", "keep"}}}});
  ASSERT_FALSE(bad_policy.ok());
  EXPECT_NE(bad_policy.error().message.find("/buying/no_show_policy"), std::string::npos)
      << bad_policy.error().message;
  EXPECT_NE(bad_policy.error().message.find("refund or restock"), std::string::npos);
  const auto late_first = parse_domain_config(
      {{"buying", {{"pickup_reminder_s", 3600}, {"pickup_last_reminder_s", 3600}}}});
  ASSERT_FALSE(late_first.ok());
  EXPECT_NE(late_first.error().message.find("/buying/pickup_last_reminder_s"), std::string::npos)
      << late_first.error().message;
}

TEST(NoShowTexts, TheCustomerLearnsWhatHappensByThePolicy) {
  const nlohmann::json refund = {{"order_id", 41},     {"box_id", "bx-1"},
                                 {"compartment", 3},   {"until", "2026-01-04T00:00:00Z"},
                                 {"policy", "refund"}, {"amount_cents", 4499},
                                 {"currency", "EUR"}};
  const auto expired = render_notification("pickup_expired", refund);
  EXPECT_EQ(expired.title, "Your order 41 was not picked up");
  EXPECT_NE(expired.text.find("compartment 3 of box bx-1"), std::string::npos) << expired.text;
  EXPECT_NE(expired.text.find("no longer opens the box"), std::string::npos) << expired.text;
  EXPECT_NE(expired.text.find("refund 44.99 EUR"), std::string::npos) << expired.text;
  auto restock = refund;
  restock["policy"] = "restock";
  const auto kept = render_notification("pickup_expired", restock);
  EXPECT_NE(kept.text.find("back on sale"), std::string::npos) << kept.text;
  EXPECT_NE(kept.text.find("not refunded"), std::string::npos) << kept.text;
  EXPECT_EQ(kept.text.find("44.99"), std::string::npos) << kept.text;

  auto reminder = refund;
  reminder["reminder"] = 1;
  const auto first = render_notification("pickup_reminder", reminder);
  EXPECT_EQ(first.title, "Reminder: your order 41 is waiting");
  EXPECT_NE(first.text.find("until 2026-01-04T00:00:00Z"), std::string::npos) << first.text;
  EXPECT_NE(first.text.find("you get your money back"), std::string::npos) << first.text;
  reminder["reminder"] = 2;
  reminder["last"] = true;
  EXPECT_EQ(render_notification("pickup_reminder", reminder).title,
            "Last reminder: your order 41 is waiting");
  // A payload of another shape still renders (the generic title, no exception).
  EXPECT_EQ(render_notification("pickup_reminder", {{"order_id", 41}, {"last", "yes"}}).title,
            "Reminder: your order 41 is waiting");
}

}  // namespace
}  // namespace reclothes::controller::domain
