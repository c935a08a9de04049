// Fixture of the order-domain integration tests: the core fixture (real PostgreSQL and
// Mosquitto per suite, fresh database per test, ManualClock) plus a sandbox payment provider per
// test, a domain configuration with the background worker off (tests run DomainWorker passes
// themselves, so time-based behaviour follows the ManualClock), a location with one real-MQTT
// fake box, and helpers that play box visits as real event batches on the box's events topic.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../domain/qr_png_reader.h"
#include "box_client.h"
#include "fixture.h"
#include "reclothes/controller/domain/domain.h"
#include "reclothes/controller/domain/sandbox.h"
#include "reclothes/controller/domain/webhook.h"
#include "reclothes/controller/domain/worker.h"

namespace reclothes::controller::testing {

class DomainTest : public ControllerTest {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The domain configuration the controller is started with (tests may change it, then call
  // restart_with_domain_config()).
  nlohmann::json domain_json() const;
  void restart_with_domain_config();

  // A location with one active box (this test's id) and compartments of the given sizes,
  // numbered 1..n; a FakeBox connected to the broker plays that box.
  void add_fleet(const std::vector<std::string>& sizes);
  // A second box at the same location (not played by a FakeBox).
  std::string add_box(const std::vector<std::string>& sizes);

  // One token visit as the firmware journals it: unlocked, door_opened, door_closed and
  // access_completed, published as one batch; waits for the controller's ack.
  void visit(int compartment, TokenAction action, const std::string& token_id,
             std::int64_t order_ref);
  void publish_and_ack(std::vector<msg::Event> events);
  // The next config the box receives that satisfies pred.
  std::optional<msg::Config> wait_config(const std::function<bool(const msg::Config&)>& pred);
  std::optional<msg::Command> wait_command(const std::function<bool(const msg::Command&)>& pred);

  // One DomainWorker pass at the clock's current time (payments through the sandbox).
  domain::DomainWorker::Pass run_worker();

  std::string customer(const std::string& name, std::int64_t* id = nullptr);
  Reply create_donation(const std::string& token, const nlohmann::json& items);
  // Creates a product as a manager and prices it: returns its id.
  std::int64_t listed_product(const std::string& title, std::int64_t price_cents,
                              const std::string& category = "tops");
  // Puts products in the customer's cart and orders them with the card: the reply of POST
  // /v1/orders.
  Reply buy(const std::string& token, const std::vector<std::int64_t>& products,
            const std::string& card = domain::SandboxPaymentProvider::kCardOk);
  // The internal order of a kind for a source (donation/buying order id), or 0.
  std::int64_t task_of(const std::string& kind, std::int64_t source_id);
  std::int64_t last_task(const std::string& kind);
  Reply get_task(std::int64_t id, const std::string& token);
  Reply assign(std::int64_t task, std::int64_t staff_id);
  // Packs a paid order through the API (its packing order assigned to the packer and completed):
  // its shipping order, 0 (and the test failed) when packing did not go through.
  std::int64_t pack(std::int64_t order);
  // Three listed products (two wool sweaters in knitwear at 30 and 20, a shirt in tops at 10) and
  // an unpriced wool hat that is not listed: what the catalogue's filters are tried on.
  void list_catalogue_sample();

  std::unique_ptr<domain::SandboxPaymentProvider> sandbox_;
  nlohmann::json domain_overrides_ = nlohmann::json::object();
  std::unique_ptr<domain::DomainWorker> worker_;
  std::shared_ptr<domain::PaymentProvider> worker_payments_;

  std::string box_;
  std::int64_t location_ = 0;
  std::unique_ptr<FakeBox> fake_box_;
  std::uint64_t seq_ = 0;
  std::string manager_;
  std::int64_t manager_id_ = 0;
  std::string delivery_;
  std::int64_t delivery_id_ = 0;
  std::string checker_;
  std::int64_t checker_id_ = 0;
  std::string packer_;
  std::int64_t packer_id_ = 0;
  int customers_ = 0;
};

}  // namespace reclothes::controller::testing
