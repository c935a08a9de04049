#include "domain_fixture.h"

namespace reclothes::controller::testing {

void DomainTest::SetUp() {
  ControllerTest::SetUp();
  domain::SandboxPaymentProvider::Options so;
  so.slow_delay = std::chrono::milliseconds(1500);
  auto sandbox = domain::SandboxPaymentProvider::start(so);
  ASSERT_TRUE(sandbox.ok()) << sandbox.error().to_string();
  sandbox_ = std::move(sandbox).value();
  restart_with_domain_config();
  manager_ = staff_token({Role::kManager}, &manager_id_);
  delivery_ = staff_token({Role::kDelivery}, &delivery_id_);
  checker_ = staff_token({Role::kChecker}, &checker_id_);
  packer_ = staff_token({Role::kPacker}, &packer_id_);
}

void DomainTest::TearDown() {
  worker_.reset();
  fake_box_.reset();
  ControllerTest::TearDown();
  sandbox_.reset();
}

nlohmann::json DomainTest::domain_json() const {
  nlohmann::json j = {
      {"donations", {{"reservation_s", 86400}, {"expiry_warning_s", 7200}}},
      {"collecting", {{"compartment_threshold", 2}, {"fill_percent", 90}, {"max_wait_s", 172800}}},
      {"payments",
       {{"provider_url", sandbox_->url()},
        {"read_timeout_ms", 300},
        {"connect_timeout_ms", 300},
        {"max_attempts", 3},
        {"backoff_initial_ms", 20},
        {"backoff_max_ms", 100},
        {"breaker_failures", 3},
        {"breaker_cooldown_ms", 30000},
        {"retry_interval_s", 60}}},
      {"notifications", {{"sender", "log"}}},
      {"worker_interval_ms", 0}};
  j.merge_patch(domain_overrides_);
  return j;
}

void DomainTest::restart_with_domain_config() {
  worker_.reset();
  const auto j = domain_json();
  auto config = domain::parse_domain_config(j);
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  config_.domain = *config;
  start_controller();
  ASSERT_TRUE(controller_->bridge().wait_connected(std::chrono::seconds(10)));
  domain::HttpPaymentClient::Options o;
  o.base_url = config->payments.provider_url;
  o.read_timeout = config->payments.read_timeout;
  o.connect_timeout = config->payments.connect_timeout;
  o.max_attempts = config->payments.max_attempts;
  o.backoff_initial = config->payments.backoff_initial;
  o.backoff_max = config->payments.backoff_max;
  o.breaker = {config->payments.breaker_failures, config->payments.breaker_cooldown};
  worker_payments_.reset();
  if (!o.base_url.empty()) {  // with payments.sandbox the controller's own sandbox is private
    auto client = domain::HttpPaymentClient::create(o, clock_);
    ASSERT_TRUE(client.ok()) << client.error().to_string();
    worker_payments_ = std::move(client).value();
  }
  std::shared_ptr<domain::NotificationSender> sender;
  if (config->notifications.sender == "webhook") {
    auto w = domain::WebhookNotificationSender::create(config->notifications.webhook_url,
                                                       config->notifications.timeout);
    ASSERT_TRUE(w.ok());
    sender = std::move(w).value();
  } else {
    sender = std::make_shared<domain::LogNotificationSender>(controller_->services().log);
  }
  worker_ = std::make_unique<domain::DomainWorker>(controller_->services(), *config,
                                                   worker_payments_, sender);
}

void DomainTest::add_fleet(const std::vector<std::string>& sizes) {
  auto loc =
      internal("POST", "/internal/v1/locations",
               nlohmann::json{{"name", "Kiez " + db_name_}, {"address", "Main St 1"}}, manager_);
  ASSERT_EQ(loc.status, 201) << describe(loc);
  location_ = loc.body["id"];
  // Box ids are unique per test: retained messages on the shared broker outlive a test.
  box_ = "bx-" + db_name_;
  nlohmann::json compartments = nlohmann::json::array();
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    compartments.push_back({{"number", i + 1}, {"size", sizes[i]}});
  }
  auto box = internal(
      "POST", "/internal/v1/boxes",
      nlohmann::json{{"box_id", box_}, {"location_id", location_}, {"compartments", compartments}},
      manager_);
  ASSERT_EQ(box.status, 201) << describe(box);
  fake_box_ = std::make_unique<FakeBox>(broker_->uri(), box_);
  ASSERT_TRUE(fake_box_->connect());
  fake_box_->set_online(true);
  ASSERT_TRUE(eventually([&] {
    return count("SELECT count(*) FROM boxes WHERE id = '" + box_ + "' AND status = 'active'") == 1;
  }));
}

std::string DomainTest::add_box(const std::vector<std::string>& sizes) {
  const auto id = "bx2-" + db_name_;
  nlohmann::json compartments = nlohmann::json::array();
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    compartments.push_back({{"number", i + 1}, {"size", sizes[i]}});
  }
  auto box = internal(
      "POST", "/internal/v1/boxes",
      nlohmann::json{{"box_id", id}, {"location_id", location_}, {"compartments", compartments}},
      manager_);
  EXPECT_EQ(box.status, 201) << describe(box);
  exec("UPDATE boxes SET status = 'active' WHERE id = '" + id + "'");
  return id;
}

void DomainTest::publish_and_ack(std::vector<msg::Event> events) {
  for (auto& e : events) {
    e.seq = ++seq_;
    e.at_ms = clock_.wall_ms();
  }
  fake_box_->publish_events(std::move(events));
  ASSERT_TRUE(fake_box_->wait_for_ack(seq_)) << "no ack for seq " << seq_;
}

void DomainTest::visit(int compartment, TokenAction action, const std::string& token_id,
                       std::int64_t order_ref) {
  const bool occupied = action == TokenAction::kDeposit || action == TokenAction::kReturn ||
                        action == TokenAction::kCourierLoad;
  msg::Event unlocked;
  unlocked.kind = msg::EventKind::kUnlocked;
  unlocked.compartment = compartment;
  unlocked.token_id = token_id;
  unlocked.action = action;
  unlocked.order_ref = static_cast<std::uint64_t>(order_ref);
  msg::Event opened;
  opened.kind = msg::EventKind::kDoorOpened;
  opened.compartment = compartment;
  msg::Event closed;
  closed.kind = msg::EventKind::kDoorClosed;
  closed.compartment = compartment;
  closed.occupied = occupied;
  msg::Event done = unlocked;
  done.kind = msg::EventKind::kAccessCompleted;
  done.occupied = occupied;
  publish_and_ack({unlocked, opened, closed, done});
}

std::optional<msg::Config> DomainTest::wait_config(
    const std::function<bool(const msg::Config&)>& pred) {
  auto env = fake_box_->wait_for(msg::Topic::kConfig, [&](const msg::Envelope& e) {
    return pred(std::get<msg::Config>(e.body));
  });
  if (!env) return std::nullopt;
  return std::get<msg::Config>(env->body);
}

std::optional<msg::Command> DomainTest::wait_command(
    const std::function<bool(const msg::Command&)>& pred) {
  auto env = fake_box_->wait_for(msg::Topic::kCommands, [&](const msg::Envelope& e) {
    return pred(std::get<msg::Command>(e.body));
  });
  if (!env) return std::nullopt;
  return std::get<msg::Command>(env->body);
}

domain::DomainWorker::Pass DomainTest::run_worker() {
  auto pass = worker_->run_once();
  EXPECT_TRUE(pass.ok()) << pass.error().to_string();
  return pass.ok() ? *pass : domain::DomainWorker::Pass{};
}

std::string DomainTest::customer(const std::string& name, std::int64_t* id) {
  const auto email = name + std::to_string(++customers_) + "@example.org";
  const auto cid = register_customer(email);
  if (id) *id = cid;
  return customer_login(email);
}

Reply DomainTest::create_donation(const std::string& token, const nlohmann::json& items) {
  return pub("POST", "/v1/donations", nlohmann::json{{"location_id", location_}, {"items", items}},
             token);
}

std::int64_t DomainTest::listed_product(const std::string& title, std::int64_t price_cents,
                                        const std::string& category) {
  auto p =
      internal("POST", "/internal/v1/products",
               nlohmann::json{{"title", title}, {"category", category}, {"size", "M"}}, manager_);
  EXPECT_EQ(p.status, 201) << describe(p);
  const auto id = p.body.value("id", std::int64_t{0});
  auto priced = internal("PUT", "/internal/v1/products/" + std::to_string(id) + "/price",
                         nlohmann::json{{"price_cents", price_cents}}, manager_);
  EXPECT_EQ(priced.status, 200) << describe(priced);
  return id;
}

Reply DomainTest::buy(const std::string& token, const std::vector<std::int64_t>& products,
                      const std::string& card) {
  for (auto p : products) {
    auto r = pub("POST", "/v1/cart/items", nlohmann::json{{"product_id", p}}, token);
    EXPECT_EQ(r.status, 201) << describe(r);
  }
  return pub("POST", "/v1/orders",
             nlohmann::json{
                 {"pickup_location_id", location_},
                 {"payment",
                  {{"card_number", card}, {"exp_month", 12}, {"exp_year", 2030}, {"cvc", "123"}}}},
             token);
}

std::int64_t DomainTest::task_of(const std::string& kind, std::int64_t source_id) {
  const auto r = query("SELECT id FROM internal_orders WHERE kind = '" + kind +
                       "' AND source_id = " + std::to_string(source_id) + " ORDER BY id DESC");
  return r.empty() ? 0 : r[0][0].as<std::int64_t>();
}

std::int64_t DomainTest::last_task(const std::string& kind) {
  const auto r =
      query("SELECT COALESCE(max(id), 0) FROM internal_orders WHERE kind = '" + kind + "'");
  return r[0][0].as<std::int64_t>();
}

Reply DomainTest::get_task(std::int64_t id, const std::string& token) {
  return internal("GET", "/internal/v1/orders/" + std::to_string(id), std::nullopt, token);
}

Reply DomainTest::assign(std::int64_t task, std::int64_t staff_id) {
  return internal("POST", "/internal/v1/orders/" + std::to_string(task) + "/assign",
                  nlohmann::json{{"staff_id", staff_id}}, manager_);
}

std::int64_t DomainTest::pack(std::int64_t order) {
  const auto packing = task_of("packing", order);
  EXPECT_NE(packing, 0);
  EXPECT_EQ(assign(packing, packer_id_).status, 200);
  auto packed = internal("POST", "/internal/v1/orders/" + std::to_string(packing) + "/complete",
                         std::nullopt, packer_);
  EXPECT_EQ(packed.status, 200) << describe(packed);
  return packed.status == 200 ? task_of("shipping", order) : 0;
}

void DomainTest::list_catalogue_sample() {
  listed_product("Red wool sweater", 3000, "knitwear");
  listed_product("Blue wool sweater", 2000, "knitwear");
  listed_product("Green shirt", 1000, "tops");
  EXPECT_EQ(internal("POST", "/internal/v1/products",
                     nlohmann::json{{"title", "Unpriced wool hat"}, {"category", "accessories"}},
                     manager_)
                .status,
            201);
}

}  // namespace reclothes::controller::testing
