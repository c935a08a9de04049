// Alarms (issue 18, item 7; docs/orders.md, "Alarms") against real PostgreSQL and Mosquitto and a
// real SMTP server (tests/integration/smtp_sink.py): a jammed door alarms the staff on call for
// the box's location once, reminds after the moved clock, stops after an acknowledgement and
// closes itself when the box reports the jam cleared; a box not seen for the threshold gets an
// offline fault that closes when the box is back; staff not on call for the location (or outside
// their window) get nothing; any fault kind alarms; the fault list with its filters, acknowledge
// and resolve with their refusals; the on-call list with its refusals.
#include <map>
#include <set>

#include "domain_fixture.h"
#include "reclothes/controller/domain/smtp.h"
#include "smtp_sink.h"

namespace reclothes::controller::testing {
namespace {

using namespace std::chrono_literals;

class AlarmTest : public DomainTest {
 protected:
  void SetUp() override {
    sink_ = std::make_unique<SmtpSink>();
    domain_overrides_ = {{"notifications",
                          {{"channels", {"log", "smtp"}},
                           {"smtp_url", sink_->url()},
                           {"smtp_from", "alarms@reclothes.example"},
                           {"smtp_connect_timeout_ms", 500},
                           {"smtp_timeout_ms", 3000},
                           {"smtp_max_attempts", 2}}},
                         // Offline faults only in the test that sets 3600 (make_worker()):
                         // the fake box sends no state reports while the clock moves on.
                         {"alarms",
                          {{"offline_after_s", 7 * 86400},
                           {"reminder_s", 600},
                           {"max_reminders", 1},
                           {"notify_closed", true}}}};
    DomainTest::SetUp();
    ASSERT_TRUE(sink_->start());
    add_fleet({"M", "M", "M", "L"});
    make_worker();
  }
  // The worker with the configured channels (log and smtp); its SMTP sender does not sleep.
  void make_worker() {
    auto config = domain::parse_domain_config(domain_json());
    ASSERT_TRUE(config.ok()) << config.error().to_string();
    auto smtp = domain::SmtpNotificationSender::create(config->notifications.smtp, clock_,
                                                       [](std::chrono::milliseconds) {});
    ASSERT_TRUE(smtp.ok()) << smtp.error().to_string();
    std::vector<domain::NotificationChannel> channels = {
        {"log", std::make_shared<domain::LogNotificationSender>(controller_->services().log)},
        {"smtp", std::move(smtp).value()}};
    worker_ = std::make_unique<domain::DomainWorker>(controller_->services(), *config,
                                                     worker_payments_, std::move(channels));
  }
  void TearDown() override {
    DomainTest::TearDown();
    if (sink_) sink_->stop();
    sink_.reset();
  }

  std::string email_of(std::int64_t staff_id) {
    return query("SELECT email FROM staff WHERE id = " + std::to_string(staff_id))[0][0]
        .as<std::string>();
  }

  // The mails the sink has for one address, in arrival order.
  std::vector<Mail> mails_to(const std::string& address) {
    std::vector<Mail> out;
    for (auto& m : sink_->mails()) {
      if (m.rcpt_tos == std::vector<std::string>{address}) out.push_back(std::move(m));
    }
    return out;
  }

  Reply put_on_call(std::int64_t location, const nlohmann::json& staff,
                    const std::string& token = "") {
    return internal("PUT", "/internal/v1/locations/" + std::to_string(location) + "/on-call",
                    nlohmann::json{{"staff", staff}}, token.empty() ? manager_ : token);
  }

  // The box reports a fault event on a compartment (or the whole box without one).
  void box_reports(msg::EventKind kind, std::optional<int> compartment,
                   std::optional<std::string> detail = std::nullopt) {
    msg::Event e;
    e.kind = kind;
    e.compartment = compartment;
    e.detail = std::move(detail);
    publish_and_ack({e});
  }

  // The newest fault of a kind at this test's box: its id, or 0.
  std::int64_t fault_of(const std::string& kind) {
    return count("SELECT COALESCE(max(id), 0) FROM box_faults WHERE box_id = '" + box_ +
                 "' AND kind = '" + kind + "'");
  }

  Reply get_fault(std::int64_t id, const std::string& token = "") {
    return internal("GET", "/internal/v1/faults/" + std::to_string(id), std::nullopt,
                    token.empty() ? manager_ : token);
  }
  Reply fault_action(std::int64_t id, const std::string& action,
                     const std::optional<nlohmann::json>& body, const std::string& token) {
    return internal("POST", "/internal/v1/faults/" + std::to_string(id) + "/" + action, body,
                    token);
  }

  std::unique_ptr<SmtpSink> sink_;
};

TEST_F(AlarmTest, JammedDoorAlarmsTheStaffOnCallOnceRemindsAndClosesItself) {
  // The courier is on call here; another courier is on call at another location only.
  std::int64_t other_id = 0;
  const auto other = staff_token({Role::kDelivery}, &other_id);
  auto elsewhere =
      internal("POST", "/internal/v1/locations",
               nlohmann::json{{"name", "Elsewhere"}, {"address", "Side St 2"}}, manager_);
  ASSERT_EQ(elsewhere.status, 201) << describe(elsewhere);
  ASSERT_EQ(put_on_call(location_, {{{"staff_id", delivery_id_}}}).status, 200);
  ASSERT_EQ(put_on_call(elsewhere.body["id"], {{{"staff_id", other_id}}}).status, 200);
  const auto courier_mail = email_of(delivery_id_);
  const auto other_mail = email_of(other_id);

  box_reports(msg::EventKind::kJammed, 2, "latch did not release");
  const auto fault = fault_of("jammed");
  ASSERT_NE(fault, 0);

  auto pass = run_worker();
  EXPECT_EQ(pass.alarms_queued, 1);
  EXPECT_EQ(pass.notifications_failed, 0);
  auto mails = mails_to(courier_mail);
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].header("Subject"), "Alarm: jammed at box " + box_);
  EXPECT_EQ(mails[0].mail_from, "alarms@reclothes.example");
  const auto body = mails[0].body();
  EXPECT_NE(body.find("Fault " + std::to_string(fault) + " at box " + box_ + " (compartment 2)"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("Kiez " + db_name_), std::string::npos) << "names the location: " << body;
  EXPECT_NE(body.find("latch did not release"), std::string::npos) << body;

  // Once: later passes send nothing new.
  EXPECT_EQ(run_worker().alarms_queued, 0);
  EXPECT_EQ(mails_to(courier_mail).size(), 1u);

  // Unacknowledged after reminder_s (600 s): one reminder, and no second (max_reminders 1).
  clock_.advance(9min);
  EXPECT_EQ(run_worker().alarm_reminders, 0) << "not yet";
  clock_.advance(2min);
  EXPECT_EQ(run_worker().alarm_reminders, 1);
  mails = mails_to(courier_mail);
  ASSERT_EQ(mails.size(), 2u);
  EXPECT_EQ(mails[1].header("Subject"), "Reminder: jammed at box " + box_ + " is still open");
  clock_.advance(30min);
  EXPECT_EQ(run_worker().alarm_reminders, 0);
  EXPECT_EQ(mails_to(courier_mail).size(), 2u);

  // The box reports the latch released (an unlock of that compartment): the fault closes itself,
  // and the alarmed courier hears that it is over.
  auto r = get_fault(fault);
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_EQ(r.body["state"], "open");
  msg::Event unlocked;
  unlocked.kind = msg::EventKind::kUnlocked;
  unlocked.compartment = 2;
  publish_and_ack({unlocked});
  r = get_fault(fault);
  EXPECT_EQ(r.body["state"], "resolved");
  EXPECT_EQ(r.body["closed_by"], "box");
  EXPECT_TRUE(r.body["resolved_by"].is_null());
  EXPECT_EQ(run_worker().alarm_closings, 1);
  mails = mails_to(courier_mail);
  ASSERT_EQ(mails.size(), 3u);
  EXPECT_EQ(mails[2].header("Subject"), "Cleared: jammed at box " + box_);
  EXPECT_NE(mails[2].body().find("The box reports it cleared"), std::string::npos);
  clock_.advance(1h);
  pass = run_worker();
  EXPECT_EQ(pass.alarms_queued + pass.alarm_reminders + pass.alarm_closings, 0);
  EXPECT_EQ(mails_to(courier_mail).size(), 3u);

  // The courier on call elsewhere got nothing; the fault's history names who got what.
  EXPECT_TRUE(mails_to(other_mail).empty());
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE recipient_kind = 'staff' AND "
                  "recipient_id = " +
                  std::to_string(other_id)),
            0);
  r = get_fault(fault, other);
  ASSERT_EQ(r.status, 200);
  std::vector<std::string> kinds;
  for (const auto& a : r.body["alarms"]) {
    EXPECT_EQ(a["staff_id"], delivery_id_);
    kinds.push_back(a["kind"]);
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"opened", "reminder", "closed"}));
  EXPECT_EQ(r.body["alarm_recipients"], 1);
  EXPECT_EQ(r.body["reminders_sent"], 1);
}

TEST_F(AlarmTest, AcknowledgedFaultIsNotRemindedAndResolveIsRefusedWhenIllegal) {
  ASSERT_EQ(put_on_call(location_, {{{"staff_id", delivery_id_}}}).status, 200);
  const auto courier_mail = email_of(delivery_id_);
  box_reports(msg::EventKind::kForced, 3);
  const auto fault = fault_of("forced");
  ASSERT_NE(fault, 0);
  EXPECT_EQ(run_worker().alarms_queued, 1);
  ASSERT_EQ(mails_to(courier_mail).size(), 1u);

  // The courier (fleet.read) acknowledges: no reminder afterwards.
  auto r = fault_action(fault, "acknowledge", nlohmann::json{{"note", "on my way"}}, delivery_);
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_EQ(r.body["state"], "acknowledged");
  EXPECT_EQ(r.body["acknowledged_by"], delivery_id_);
  EXPECT_EQ(r.body["acknowledge_note"], "on my way");
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'fault.acknowledge' AND "
                  "target_id = '" +
                  std::to_string(fault) +
                  "' AND outcome = 'ok' AND before->>'state' = 'open' AND after->>'state' = "
                  "'acknowledged'"),
            1);
  clock_.advance(1h);
  EXPECT_EQ(run_worker().alarm_reminders, 0);
  EXPECT_EQ(mails_to(courier_mail).size(), 1u);

  // Twice: 409 naming the state.
  r = fault_action(fault, "acknowledge", std::nullopt, delivery_);
  EXPECT_EQ(r.status, 409) << describe(r);
  EXPECT_EQ(r.body["error"]["code"], "illegal_transition");
  EXPECT_EQ(r.body["error"]["details"]["from"], "acknowledged");
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("it is acknowledged"),
            std::string::npos);
  // Resolving needs fleet.write; a note is required.
  EXPECT_EQ(fault_action(fault, "resolve", nlohmann::json{{"note", "fixed"}}, delivery_).status,
            403);
  r = fault_action(fault, "resolve", nlohmann::json::object(), manager_);
  EXPECT_EQ(r.status, 400) << describe(r);
  r = fault_action(fault, "resolve", nlohmann::json{{"note", "door re-hung"}}, manager_);
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_EQ(r.body["state"], "resolved");
  EXPECT_EQ(r.body["closed_by"], "staff");
  EXPECT_EQ(r.body["resolved_by"], manager_id_);
  EXPECT_EQ(r.body["resolve_note"], "door re-hung");
  EXPECT_EQ(
      count("SELECT count(*) FROM audit_log WHERE action = 'fault.resolve' AND target_id = '" +
            std::to_string(fault) +
            "' AND reason = 'door re-hung' AND after->>'state' = "
            "'resolved'"),
      1);
  // The courier who was alarmed hears that it is closed (the manager who resolved it does not).
  EXPECT_EQ(run_worker().alarm_closings, 1);
  const auto mails = mails_to(courier_mail);
  ASSERT_EQ(mails.size(), 2u);
  EXPECT_EQ(mails[1].header("Subject"), "Cleared: forced at box " + box_);
  EXPECT_NE(mails[1].body().find("A staff member resolved it: door re-hung"), std::string::npos);
  EXPECT_TRUE(mails_to(email_of(manager_id_)).empty());

  // Resolved: neither acknowledged nor resolved again.
  for (const auto* action : {"acknowledge", "resolve"}) {
    r = fault_action(fault, action, nlohmann::json{{"note", "again"}}, manager_);
    EXPECT_EQ(r.status, 409) << action << ": " << describe(r);
    EXPECT_EQ(r.body["error"]["details"]["from"], "resolved");
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find("a staff member resolved it"),
              std::string::npos);
  }
  EXPECT_EQ(fault_action(999999, "acknowledge", std::nullopt, manager_).status, 404);
  EXPECT_EQ(get_fault(999999).status, 404);
}

TEST_F(AlarmTest, OfflineFaultOpensAfterTheThresholdAndClosesWhenTheBoxIsBack) {
  domain_overrides_["alarms"]["offline_after_s"] = 3600;
  make_worker();
  ASSERT_EQ(put_on_call(location_, {{{"staff_id", delivery_id_}}}).status, 200);
  const auto courier_mail = email_of(delivery_id_);
  fake_box_->set_online(false);
  ASSERT_TRUE(eventually([&] {
    return count("SELECT count(*) FROM boxes WHERE id = '" + box_ + "' AND NOT online") == 1;
  }));

  clock_.advance(59min);
  EXPECT_EQ(run_worker().offline_faults_opened, 0) << "not before offline_after_s";
  clock_.advance(2min);
  auto pass = run_worker();
  EXPECT_EQ(pass.offline_faults_opened, 1);
  EXPECT_EQ(pass.alarms_queued, 1) << "the new fault alarms in the same pass";
  const auto fault = fault_of("offline");
  ASSERT_NE(fault, 0);
  auto r = get_fault(fault);
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_EQ(r.body["state"], "open");
  EXPECT_TRUE(r.body["event_seq"].is_null());
  EXPECT_TRUE(r.body["compartment"].is_null());
  EXPECT_NE(r.body["detail"].get<std::string>().find("not seen since"), std::string::npos);
  // The box view lists it too (an offline fault has no event seq).
  auto box = internal("GET", "/internal/v1/boxes/" + box_, std::nullopt, manager_);
  ASSERT_EQ(box.status, 200) << describe(box);
  EXPECT_EQ(box.body["open_faults"], 1);
  EXPECT_TRUE(box.body["faults"][0]["event_seq"].is_null());
  auto mails = mails_to(courier_mail);
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].header("Subject"), "Alarm: offline at box " + box_);

  // One fault per outage (and its reminder, nobody having acknowledged it).
  clock_.advance(2h);
  pass = run_worker();
  EXPECT_EQ(pass.offline_faults_opened, 0);
  EXPECT_EQ(pass.alarm_reminders, 1);
  EXPECT_EQ(count("SELECT count(*) FROM box_faults WHERE kind = 'offline'"), 1);

  // The box is back: the fault closes at the time it was seen, and the courier hears it.
  clock_.advance(1s);
  const auto back_ms = clock_.wall_ms();
  fake_box_->set_online(true);
  ASSERT_TRUE(eventually([&] {
    return count("SELECT count(*) FROM boxes WHERE id = '" + box_ + "' AND online") == 1;
  }));
  clock_.advance(5s);
  pass = run_worker();
  EXPECT_EQ(pass.offline_faults_cleared, 1);
  EXPECT_EQ(pass.alarm_closings, 1);
  r = get_fault(fault);
  EXPECT_EQ(r.body["state"], "resolved");
  EXPECT_EQ(r.body["closed_by"], "box");
  EXPECT_EQ(r.body["resolved_at"], ts(back_ms));
  mails = mails_to(courier_mail);
  ASSERT_EQ(mails.size(), 3u);
  EXPECT_EQ(mails[1].header("Subject"), "Reminder: offline at box " + box_ + " is still open");
  EXPECT_EQ(mails[2].header("Subject"), "Cleared: offline at box " + box_);
  EXPECT_EQ(run_worker().offline_faults_opened, 0);
}

TEST_F(AlarmTest, OnlyStaffOnCallNowAreAlarmedAndAnyFaultKindAlarms) {
  // 2026-01-01T00:00Z: the night courier (22:00-06:00) is on call, the day one (08:00-16:00) not.
  std::int64_t day_id = 0;
  staff_token({Role::kDelivery}, &day_id);
  auto r =
      put_on_call(location_, {{{"staff_id", delivery_id_}, {"from", "22:00"}, {"until", "06:00"}},
                              {{"staff_id", day_id}, {"from", "08:00"}, {"until", "16:00"}}});
  ASSERT_EQ(r.status, 200) << describe(r);
  ASSERT_EQ(r.body["items"].size(), 2u);
  EXPECT_EQ(r.body["items"][0]["from"], "22:00");
  EXPECT_EQ(r.body["items"][0]["on_call_now"], true);
  EXPECT_EQ(r.body["items"][1]["on_call_now"], false);
  const auto night_mail = email_of(delivery_id_);
  const auto day_mail = email_of(day_id);

  // A fault kind no event opens (another module's, here written directly): alarms like any other.
  exec(
      "INSERT INTO box_faults (box_id, compartment, kind, event_seq, opened_at, detail) VALUES "
      "('" +
      box_ + "', 4, 'late_deposit_conflict', NULL, '2026-01-01T00:00:00Z', 'order 7')");
  EXPECT_EQ(run_worker().alarms_queued, 1);
  auto night = mails_to(night_mail);
  ASSERT_EQ(night.size(), 1u);
  EXPECT_EQ(night[0].header("Subject"), "Alarm: late_deposit_conflict at box " + box_);
  EXPECT_NE(night[0].body().find("a late offline deposit went into a compartment held by another"),
            std::string::npos)
      << night[0].body();
  EXPECT_TRUE(mails_to(day_mail).empty());

  // At 08:00 the day courier is on call and gets the (still unacknowledged) fault once; the
  // reminder goes to whoever is on call then, reminder_s after their own alarm. The night courier,
  // off duty, gets none.
  clock_.advance(8h);
  auto pass = run_worker();
  EXPECT_EQ(pass.alarms_queued, 1);
  EXPECT_EQ(pass.alarm_reminders, 0) << "not on top of the day courier's fresh alarm";
  auto day = mails_to(day_mail);
  ASSERT_EQ(day.size(), 1u);
  EXPECT_EQ(day[0].header("Subject"), "Alarm: late_deposit_conflict at box " + box_);
  clock_.advance(11min);
  pass = run_worker();
  EXPECT_EQ(pass.alarms_queued, 0);
  EXPECT_EQ(pass.alarm_reminders, 1);
  day = mails_to(day_mail);
  ASSERT_EQ(day.size(), 2u);
  EXPECT_EQ(day[1].header("Subject"),
            "Reminder: late_deposit_conflict at box " + box_ + " is still open");
  EXPECT_EQ(mails_to(night_mail).size(), 1u) << "off duty: no reminder";

  // Nobody on call at all: faults wait without alarms.
  ASSERT_EQ(put_on_call(location_, nlohmann::json::array()).status, 200);
  box_reports(msg::EventKind::kTamper, std::nullopt, "service panel opened");
  EXPECT_EQ(run_worker().alarms_queued, 0);
  EXPECT_EQ(sink_->mails().size(), 3u);
}

TEST_F(AlarmTest, OnCallRoutesCheckWhatTheyAreGiven) {
  auto r = internal("GET", "/internal/v1/locations/" + std::to_string(location_) + "/on-call",
                    std::nullopt, delivery_);
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_TRUE(r.body["items"].empty());

  r = put_on_call(location_, {{{"staff_id", delivery_id_}}});
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_EQ(r.body["items"][0]["staff_id"], delivery_id_);
  EXPECT_TRUE(r.body["items"][0]["from"].is_null());
  EXPECT_EQ(r.body["items"][0]["on_call_now"], true);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'location.on_call_set' AND "
                  "target_id = '" +
                  std::to_string(location_) +
                  "' AND jsonb_array_length(before->'on_call') = 0 AND "
                  "jsonb_array_length(after->'on_call') = 1"),
            1);

  // The courier may read but not set it.
  EXPECT_EQ(put_on_call(location_, nlohmann::json::array(), delivery_).status, 403);
  const auto expect_400 = [&](const nlohmann::json& staff, const std::string& code) {
    auto bad = put_on_call(location_, staff);
    EXPECT_EQ(bad.status, 400) << staff.dump() << ": " << describe(bad);
    EXPECT_EQ(bad.body["error"]["code"], code) << describe(bad);
  };
  expect_400({{{"staff_id", 999999}}}, "unknown_staff");
  expect_400({{{"staff_id", delivery_id_}}, {{"staff_id", delivery_id_}}}, "duplicate_staff");
  expect_400({{{"staff_id", delivery_id_}, {"from", "22:00"}}}, "invalid_field");
  expect_400({{{"staff_id", delivery_id_}, {"from", "25:00"}, {"until", "06:00"}}},
             "invalid_field");
  expect_400({{{"staff_id", delivery_id_}, {"from", "06:00"}, {"until", "06:00"}}},
             "invalid_field");
  expect_400({{{"staff_id", delivery_id_}, {"shift", "night"}}}, "unknown_field");
  exec("UPDATE staff SET active = false WHERE id = " + std::to_string(checker_id_));
  expect_400({{{"staff_id", checker_id_}}}, "staff_inactive");
  EXPECT_EQ(put_on_call(999999, nlohmann::json::array()).status, 404);
  EXPECT_EQ(internal("GET", "/internal/v1/locations/999999/on-call", std::nullopt, manager_).status,
            404);
  // Refusals change nothing.
  r = internal("GET", "/internal/v1/locations/" + std::to_string(location_) + "/on-call",
               std::nullopt, manager_);
  ASSERT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(r.body["items"][0]["staff_id"], delivery_id_);
}

TEST_F(AlarmTest, FaultListFiltersByStateKindBoxAndLocationAndPages) {
  box_reports(msg::EventKind::kJammed, 1);
  box_reports(msg::EventKind::kAjar, 2);
  box_reports(msg::EventKind::kTamper, std::nullopt, "service panel opened");
  const auto jammed = fault_of("jammed");
  const auto ajar = fault_of("ajar");
  ASSERT_EQ(fault_action(jammed, "acknowledge", std::nullopt, manager_).status, 200);
  ASSERT_EQ(
      fault_action(ajar, "resolve", nlohmann::json{{"note", "closed by hand"}}, manager_).status,
      200);
  const auto list = [&](const std::string& q) {
    auto r = internal("GET", "/internal/v1/faults" + q, std::nullopt, delivery_);
    EXPECT_EQ(r.status, 200) << q << ": " << describe(r);
    return r;
  };
  auto r = list("");
  EXPECT_EQ(r.body["total"], 3);
  EXPECT_EQ(r.body["items"][0]["kind"], "tamper") << "newest first";
  EXPECT_EQ(list("?state=open").body["items"][0]["kind"], "tamper");
  EXPECT_EQ(list("?state=open").body["total"], 1);
  EXPECT_EQ(list("?state=acknowledged").body["items"][0]["id"], jammed);
  EXPECT_EQ(list("?state=resolved").body["items"][0]["id"], ajar);
  EXPECT_EQ(list("?kind=ajar").body["total"], 1);
  EXPECT_EQ(list("?kind=offline").body["total"], 0);
  EXPECT_EQ(list("?box_id=" + box_).body["total"], 3);
  EXPECT_EQ(list("?box_id=other-box").body["total"], 0);
  EXPECT_EQ(list("?location_id=" + std::to_string(location_)).body["total"], 3);
  EXPECT_EQ(list("?location_id=" + std::to_string(location_ + 1000)).body["total"], 0);
  r = list("?limit=1&offset=1");
  EXPECT_EQ(r.body["total"], 3);
  ASSERT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(r.body["items"][0]["kind"], "ajar");
  EXPECT_EQ(r.body["items"][0]["location_id"], location_);
  for (const auto* bad :
       {"?state=closed", "?kind=Jammed!", "?limit=0", "?box_id=a%20b", "?location_id=x"}) {
    auto refused =
        internal("GET", std::string("/internal/v1/faults") + bad, std::nullopt, delivery_);
    EXPECT_EQ(refused.status, 400) << bad << ": " << describe(refused);
  }
  // Staff without fleet.read see none of it.
  EXPECT_EQ(internal("GET", "/internal/v1/faults", std::nullopt, packer_).status, 403);
}

}  // namespace
}  // namespace reclothes::controller::testing
