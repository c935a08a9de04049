// Alarms' pure rules (rules/alarms.cpp): the fault's state machine over every (state, event), the
// on-call windows (also across midnight), clock times, the alarm texts of any fault kind, and the
// "alarms" section of the domain configuration.
#include "reclothes/controller/domain/alarms.h"

#include <gtest/gtest.h>

#include "reclothes/controller/domain/domain_config.h"

namespace reclothes::controller::domain {
namespace {

TEST(FaultMachine, EveryStateAndEventHasTheDocumentedAnswer) {
  using S = FaultState;
  using E = FaultEvent;
  for (auto from : all_fault_states()) {
    for (auto event : all_fault_events()) {
      const auto to = next(from, event);
      const bool legal =
          from != S::kResolved && !(from == S::kAcknowledged && event == E::kAcknowledge);
      ASSERT_EQ(to.ok(), legal) << to_string(from) << " + " << to_string(event);
      if (!legal) {
        EXPECT_EQ(to.error().order_kind, "fault");
        EXPECT_EQ(to.error().from, to_string(from));
        EXPECT_EQ(to.error().event, to_string(event));
        continue;
      }
      EXPECT_EQ(*to, event == E::kAcknowledge ? S::kAcknowledged : S::kResolved);
    }
  }
  for (auto s : all_fault_states()) EXPECT_EQ(fault_state_from_string(to_string(s)), s);
  EXPECT_FALSE(fault_state_from_string("closed"));
  EXPECT_EQ(fault_state_of(false, false), S::kOpen);
  EXPECT_EQ(fault_state_of(false, true), S::kAcknowledged);
  EXPECT_EQ(fault_state_of(true, true), S::kResolved);
  EXPECT_EQ(fault_state_of(true, false), S::kResolved);
}

TEST(OnCall, WindowsCoverTheirMinutesAlsoAcrossMidnight) {
  EXPECT_TRUE(on_call_at({}, 0));
  EXPECT_TRUE(on_call_at({}, 1439));
  const OnCallWindow day{8 * 60, 16 * 60};
  EXPECT_FALSE(on_call_at(day, 8 * 60 - 1));
  EXPECT_TRUE(on_call_at(day, 8 * 60));
  EXPECT_TRUE(on_call_at(day, 16 * 60 - 1));
  EXPECT_FALSE(on_call_at(day, 16 * 60)) << "until is exclusive";
  const OnCallWindow night{22 * 60, 6 * 60};
  EXPECT_TRUE(on_call_at(night, 22 * 60));
  EXPECT_TRUE(on_call_at(night, 0));
  EXPECT_TRUE(on_call_at(night, 6 * 60 - 1));
  EXPECT_FALSE(on_call_at(night, 6 * 60));
  EXPECT_FALSE(on_call_at(night, 12 * 60));
  // 2026-01-01T00:00:00Z and 23:59 later; times before 1970 wrap too.
  EXPECT_EQ(utc_minute_of_day(1'767'225'600'000), 0);
  EXPECT_EQ(utc_minute_of_day(1'767'225'600'000 + 1439 * 60000 + 59999), 1439);
  EXPECT_EQ(utc_minute_of_day(-60000), 1439);
}

TEST(OnCall, ClockTimesParseStrictly) {
  EXPECT_EQ(parse_clock_time("00:00"), 0);
  EXPECT_EQ(parse_clock_time("23:59"), 1439);
  EXPECT_EQ(parse_clock_time("08:30"), 510);
  for (const char* bad :
       {"24:00", "12:60", "8:30", "08:3", "0830", "08-30", "ab:cd", "", "08:300"}) {
    EXPECT_FALSE(parse_clock_time(bad)) << bad;
  }
  EXPECT_EQ(format_clock_time(0), "00:00");
  EXPECT_EQ(format_clock_time(1439), "23:59");
  EXPECT_EQ(format_clock_time(510), "08:30");
}

TEST(AlarmText, EveryAlarmKindNamesTheFaultTheBoxAndWhatToDo) {
  const nlohmann::json p = {{"fault_id", 12},
                            {"kind", "jammed"},
                            {"box_id", "bx-1"},
                            {"compartment", 2},
                            {"location_name", "Kiez Mitte"},
                            {"location_address", "Main St 1"},
                            {"opened_at", "2026-01-01T00:00:00Z"},
                            {"detail", "latch did not release"}};
  const auto opened = render_notification("fault_opened", p);
  EXPECT_EQ(opened.title, "Alarm: jammed at box bx-1");
  EXPECT_NE(opened.text.find("Fault 12 at box bx-1 (compartment 2) at Kiez Mitte, Main St 1"),
            std::string::npos)
      << opened.text;
  EXPECT_NE(opened.text.find("door jammed"), std::string::npos);
  EXPECT_NE(opened.text.find("/internal/v1/faults/12/acknowledge"), std::string::npos);
  auto reminder = p;
  reminder["reminder"] = 1;
  EXPECT_EQ(render_notification("fault_reminder", reminder).title,
            "Reminder: jammed at box bx-1 is still open");
  auto closed = p;
  closed["closed_by"] = "staff";
  closed["note"] = "re-hung the door";
  const auto c = render_notification("fault_closed", closed);
  EXPECT_EQ(c.title, "Cleared: jammed at box bx-1");
  EXPECT_NE(c.text.find("A staff member resolved it: re-hung the door"), std::string::npos);
  closed["closed_by"] = "box";
  EXPECT_NE(render_notification("fault_closed", closed).text.find("The box reports it cleared"),
            std::string::npos);
  // Any kind renders, a known one in words, an unknown one as itself; a bad payload still does.
  auto other = p;
  other["kind"] = "late_deposit_conflict";
  EXPECT_NE(render_notification("fault_opened", other).text.find("held by another order"),
            std::string::npos);
  other["kind"] = "smoke_detected";
  EXPECT_EQ(render_notification("fault_opened", other).title, "Alarm: smoke_detected at box bx-1");
  EXPECT_EQ(describe_fault_kind("offline"), "the box has not been heard from for too long");
  EXPECT_FALSE(render_notification("fault_opened", nlohmann::json::array()).title.empty());
  // A title is one line whatever the box sent.
  other["box_id"] = "bx\r\nBcc: x@example.org";
  EXPECT_EQ(render_notification("fault_opened", other).title.find('\n'), std::string::npos);
  for (const auto kind : alarm_notification_kinds()) EXPECT_TRUE(is_alarm_notification_kind(kind));
  EXPECT_FALSE(is_alarm_notification_kind("task_assigned"));
  EXPECT_FALSE(render_alarm("pickup_ready", p));
}

TEST(AlarmConfig, TheAlarmsSectionIsReadStrictly) {
  auto c = parse_domain_config(nlohmann::json::object());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->alarms.offline_after, std::chrono::seconds(3600));
  EXPECT_EQ(c->alarms.reminder, std::chrono::seconds(1800));
  EXPECT_EQ(c->alarms.max_reminders, 1);
  EXPECT_TRUE(c->alarms.notify_closed);
  c = parse_domain_config({{"alarms",
                            {{"offline_after_s", 0},
                             {"reminder_s", 60},
                             {"max_reminders", 3},
                             {"notify_closed", false}}}});
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->alarms.offline_after.count(), 0);
  EXPECT_EQ(c->alarms.reminder.count(), 60);
  EXPECT_EQ(c->alarms.max_reminders, 3);
  EXPECT_FALSE(c->alarms.notify_closed);
  for (const auto& bad :
       {nlohmann::json{{"offline_after_s", 30}}, nlohmann::json{{"reminder_s", 1}},
        nlohmann::json{{"max_reminders", -1}}, nlohmann::json{{"snooze_s", 5}}}) {
    const auto r = parse_domain_config({{"alarms", bad}});
    EXPECT_FALSE(r.ok()) << bad.dump();
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("/alarms/"), std::string::npos) << r.error().message;
    }
  }
}

}  // namespace
}  // namespace reclothes::controller::domain
