// The buying store called directly (no HTTP): each function with a transaction (or the domain
// context, for those that run their own) and plain values, against real PostgreSQL, the broker
// and the sandbox payment provider. Results, every refusal kind, and database failures that come
// back as DomainErrors instead of exceptions.
#include <thread>

#include "../../src/domain/store/buying_store.h"
#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

using namespace std::chrono_literals;
using domain::DomainError;
using Sandbox = domain::SandboxPaymentProvider;

std::string why(const DomainError& e) { return e.code + ": " + e.message + " / " + e.cause; }

class StoreBuyingTest : public DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    add_fleet({"M", "M", "M", "L"});
    d_ = context_with(worker_payments_);
  }
  void TearDown() override {
    d_.reset();
    DomainTest::TearDown();
  }

  std::unique_ptr<domain::DomainContext> context_with(
      std::shared_ptr<domain::PaymentProvider> payments) {
    return std::make_unique<domain::DomainContext>(domain::DomainContext{
        controller_->services(), config_.domain, std::move(payments), nullptr, nullptr});
  }

  // fn(tx) in a committed transaction: its result.
  template <typename F>
  auto in_tx(F&& fn) {
    std::optional<decltype(fn(std::declval<pqxx::work&>()))> out;
    auto st = controller_->db().with_transaction([&](pqxx::work& tx) -> Status {
      out.emplace(fn(tx));
      return ok_status();
    });
    EXPECT_TRUE(st.ok()) << st.error().to_string();
    return std::move(*out);
  }

  std::int64_t now() const { return clock_.wall_ms(); }

  std::int64_t shopper() {
    return register_customer("shopper" + std::to_string(++customers_) + "@example.org");
  }

  void put_in_cart(std::int64_t customer, const std::vector<std::int64_t>& products) {
    for (auto p : products) {
      auto cart =
          in_tx([&](pqxx::work& tx) { return domain::add_to_cart(tx, customer, p, now()); });
      ASSERT_TRUE(cart.ok()) << why(cart.error());
    }
  }

  domain::NewOrder order_for(std::int64_t customer, const char* card = Sandbox::kCardOk) {
    return domain::NewOrder{customer, location_, domain::Card{card, 12, 2030, "123"}};
  }

  // The cart with these products, bought with the card: the order id.
  std::int64_t bought(std::int64_t customer, const std::vector<std::int64_t>& products,
                      const char* card = Sandbox::kCardOk) {
    put_in_cart(customer, products);
    auto id = domain::create_order(*d_, order_for(customer, card));
    EXPECT_TRUE(id.ok()) << why(id.error());
    return id.ok() ? *id : 0;
  }

  nlohmann::json view(std::int64_t order) {
    auto v = in_tx([&](pqxx::work& tx) { return domain::order_view(tx, order); });
    EXPECT_TRUE(v.ok()) << why(v.error());
    return v.ok() ? *v : nlohmann::json();
  }
  std::string state_of(std::int64_t order) { return view(order)["state"].get<std::string>(); }

  std::int64_t payment_of(std::int64_t order, const std::string& kind) {
    const auto r = query("SELECT id FROM payments WHERE order_id = " + std::to_string(order) +
                         " AND kind = '" + kind + "'");
    return r.empty() ? 0 : r[0][0].as<std::int64_t>();
  }

  // A box event of a token visit, as the event batch hands it to the hooks.
  using Hook = Status (*)(domain::DomainContext&, pqxx::work&, const BoxEventContext&,
                          const msg::Event&);
  Status box_event(Hook hook, TokenAction action, std::int64_t order_ref, int compartment) {
    msg::Event e;
    e.seq = ++seq_;
    e.kind = msg::EventKind::kAccessCompleted;
    e.compartment = compartment;
    e.action = action;
    e.order_ref = static_cast<std::uint64_t>(order_ref);
    return in_tx([&](pqxx::work& tx) { return hook(*d_, tx, BoxEventContext{box_, now()}, e); });
  }

  // Paid -> packed -> shipping (its courier assigned) -> loaded at the box: the pickup
  // compartment.
  int ready_for_pickup(std::int64_t order) {
    auto box = in_tx([&](pqxx::work& tx) { return domain::pack_order(*d_, tx, order, now()); });
    EXPECT_TRUE(box.ok()) << why(box.error());
    const auto shipping = task_of("shipping", order);
    in_tx([&](pqxx::work& tx) {
      EXPECT_TRUE(domain::advance_task(tx, shipping, domain::TaskEvent::kAssign, now()).ok());
      domain::dispatch_order(*d_, tx, order, now());
      return 0;
    });
    const int compartment = view(order)["pickup"]["compartment"].get<int>();
    EXPECT_TRUE(
        box_event(domain::on_courier_load, TokenAction::kCourierLoad, shipping, compartment).ok());
    return compartment;
  }

  void picked_up(std::int64_t order) {
    const int compartment = ready_for_pickup(order);
    ASSERT_TRUE(box_event(domain::on_pickup, TokenAction::kPickup, order, compartment).ok());
    ASSERT_EQ(state_of(order), "completed");
  }

  domain::StoreResult<domain::ReturnReserved> return_at(std::int64_t order, std::int64_t customer,
                                                        std::int64_t location) {
    return in_tx([&](pqxx::work& tx) {
      return domain::request_return(*d_, tx, {order, customer, location}, now());
    });
  }

  std::int64_t empty_location() {
    auto loc =
        internal("POST", "/internal/v1/locations",
                 nlohmann::json{{"name", "Empty " + db_name_}, {"address", "Side St 2"}}, manager_);
    EXPECT_EQ(loc.status, 201) << describe(loc);
    return loc.body.value("id", std::int64_t{0});
  }

  std::unique_ptr<domain::DomainContext> d_;
};

void expect_refusal(const DomainError& e, ErrorCode kind, const std::string& code,
                    const std::string& message) {
  EXPECT_EQ(e.kind, kind) << why(e);
  EXPECT_EQ(e.code, code) << why(e);
  EXPECT_EQ(e.message, message) << why(e);
}

// ---- catalogue and cart -------------------------------------------------------------------------

TEST_F(StoreBuyingTest, ListProductsFiltersSortsAndPagesListedProducts) {
  list_catalogue_sample();
  const auto page = [&](const domain::ProductQuery& q) {
    auto r = in_tx([&](pqxx::work& tx) { return domain::list_products(tx, q); });
    EXPECT_TRUE(r.ok()) << why(r.error());
    return r.ok() ? *r : domain::ProductPage{};
  };
  domain::ProductQuery wool;
  wool.text = "WOOL";
  wool.sort = domain::ProductSort::kPriceAsc;
  auto p = page(wool);
  EXPECT_EQ(p.total, 2) << "the unpriced hat is not listed";
  ASSERT_EQ(p.items.size(), 2u);
  EXPECT_EQ(p.items[0]["title"], "Blue wool sweater");
  domain::ProductQuery cheap;
  cheap.category = "knitwear";
  cheap.max_price = 2500;
  p = page(cheap);
  ASSERT_EQ(p.items.size(), 1u);
  EXPECT_EQ(p.items[0]["price_cents"], 2000);
  domain::ProductQuery last;
  last.sort = domain::ProductSort::kPriceDesc;
  last.limit = 2;
  last.offset = 2;
  p = page(last);
  EXPECT_EQ(p.total, 3);
  ASSERT_EQ(p.items.size(), 1u);
  EXPECT_EQ(p.items[0]["price_cents"], 1000);
}

TEST_F(StoreBuyingTest, ListedProductIsFoundOnlyWhileForSale) {
  const auto shirt = listed_product("Shirt", 1500);
  auto found = in_tx([&](pqxx::work& tx) { return domain::listed_product(tx, shirt); });
  ASSERT_TRUE(found.ok()) << why(found.error());
  EXPECT_EQ((*found)["title"], "Shirt");
  EXPECT_EQ((*found)["price_cents"], 1500);
  bought(shopper(), {shirt});
  auto sold = in_tx([&](pqxx::work& tx) { return domain::listed_product(tx, shirt); });
  ASSERT_FALSE(sold.ok());
  expect_refusal(sold.error(), ErrorCode::kNotFound, "not_found", "product not found");
}

TEST_F(StoreBuyingTest, TheCartAddsReadsAndRemoves) {
  const auto customer = shopper();
  const auto shirt = listed_product("Cart shirt", 1200);
  const auto coat = listed_product("Cart coat", 3000, "outerwear");
  auto cart =
      in_tx([&](pqxx::work& tx) { return domain::add_to_cart(tx, customer, shirt, now()); });
  ASSERT_TRUE(cart.ok()) << why(cart.error());
  EXPECT_EQ((*cart)["items"].size(), 1u);
  cart = in_tx([&](pqxx::work& tx) { return domain::add_to_cart(tx, customer, coat, now()); });
  ASSERT_TRUE(cart.ok());
  EXPECT_EQ((*cart)["total_cents"], 4200);
  auto read = in_tx([&](pqxx::work& tx) { return domain::read_cart(tx, customer); });
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, *cart) << "the write answers the cart as it is read afterwards";
  auto removed =
      in_tx([&](pqxx::work& tx) { return domain::remove_from_cart(tx, customer, shirt); });
  ASSERT_TRUE(removed.ok());
  ASSERT_EQ((*removed)["items"].size(), 1u);
  EXPECT_EQ((*removed)["items"][0]["id"], coat);

  auto unknown =
      in_tx([&](pqxx::work& tx) { return domain::add_to_cart(tx, customer, 999999, now()); });
  ASSERT_FALSE(unknown.ok());
  expect_refusal(unknown.error(), ErrorCode::kNotFound, "not_found", "product not found");
  auto absent =
      in_tx([&](pqxx::work& tx) { return domain::remove_from_cart(tx, customer, shirt); });
  ASSERT_FALSE(absent.ok());
  expect_refusal(absent.error(), ErrorCode::kNotFound, "not_found", "cart item not found");
}

// ---- creating orders ----------------------------------------------------------------------------

TEST_F(StoreBuyingTest, CreateOrderReservesTheCartAndChargesOnce) {
  const auto customer = shopper();
  const auto shirt = listed_product("Linen shirt", 1999);
  const auto jeans = listed_product("Jeans", 2500, "bottoms");
  const auto order = bought(customer, {shirt, jeans});
  ASSERT_NE(order, 0);
  const auto v = view(order);
  EXPECT_EQ(v["state"], "paid");
  EXPECT_EQ(v["total_cents"], 4499);
  EXPECT_EQ(v["payment"]["state"], "succeeded");
  EXPECT_EQ(sandbox_->charges_for_key("order-" + std::to_string(order) + "-charge"), 1);
  EXPECT_NE(task_of("packing", order), 0);
  auto cart = in_tx([&](pqxx::work& tx) { return domain::read_cart(tx, customer); });
  EXPECT_EQ((*cart)["items"].size(), 0u);
  EXPECT_EQ(count("SELECT count(*) FROM products WHERE status = 'reserved'"), 2);
}

TEST_F(StoreBuyingTest, ADeclinedCardFailsTheOrderNotTheCall) {
  const auto product = listed_product("Hat", 1200, "accessories");
  const auto order = bought(shopper(), {product}, Sandbox::kCardDeclined);
  ASSERT_NE(order, 0);
  const auto v = view(order);
  EXPECT_EQ(v["state"], "payment_failed");
  EXPECT_EQ(v["payment"]["state"], "failed");
  EXPECT_EQ(v["failure_reason"], "payment declined: card_declined");
  EXPECT_EQ(sandbox_->total_charges(), 0);
  EXPECT_TRUE(in_tx([&](pqxx::work& tx) { return domain::listed_product(tx, product); }).ok())
      << "the product is for sale again";
}

TEST_F(StoreBuyingTest, CreateOrderRefusalsLeaveTheCartAsItWas) {
  const auto customer = shopper();
  const auto product = listed_product("Only one", 1000);
  put_in_cart(customer, {product});
  const auto refused = [&](domain::DomainContext& d, domain::NewOrder o) {
    auto r = domain::create_order(d, o);
    EXPECT_FALSE(r.ok());
    return r.ok() ? DomainError{} : r.error();
  };

  auto no_provider = context_with(nullptr);
  auto e = refused(*no_provider, order_for(customer));
  expect_refusal(e, ErrorCode::kUnavailable, "payments_unavailable",
                 "no payment provider is configured");

  auto elsewhere = order_for(customer);
  elsewhere.pickup_location_id = 999999;
  expect_refusal(refused(*d_, elsewhere), ErrorCode::kNotFound, "not_found",
                 "location 999999 not found");

  auto boxless = order_for(customer);
  boxless.pickup_location_id = empty_location();
  expect_refusal(refused(*d_, boxless), ErrorCode::kFailedPrecondition, "location_unavailable",
                 "this location has no box in service for pickups");

  expect_refusal(refused(*d_, order_for(shopper())), ErrorCode::kFailedPrecondition, "cart_empty",
                 "the cart is empty");

  // Another buyer got the product first: refused with the products, nothing written.
  bought(shopper(), {product});
  e = refused(*d_, order_for(customer));
  expect_refusal(e, ErrorCode::kFailedPrecondition, "products_unavailable",
                 "some products in the cart are no longer for sale");
  EXPECT_EQ(e.details, (nlohmann::json{{"product_ids", nlohmann::json::array({product})}}));
  EXPECT_EQ(count("SELECT count(*) FROM buying_orders"), 1);
  auto cart = in_tx([&](pqxx::work& tx) { return domain::read_cart(tx, customer); });
  EXPECT_EQ((*cart)["items"].size(), 1u) << "the refused order's cart is rolled back, not emptied";
  EXPECT_EQ(sandbox_->total_charges(), 1);
}

// ---- reading orders -----------------------------------------------------------------------------

TEST_F(StoreBuyingTest, CustomersReadAndListOnlyTheirOwnOrders) {
  const auto alice = shopper();
  const auto mallory = shopper();
  const auto first = bought(alice, {listed_product("Boots", 5000, "shoes")});
  const auto second = bought(alice, {listed_product("Belt", 500, "accessories")});

  auto own = in_tx([&](pqxx::work& tx) { return domain::read_order(tx, first, alice); });
  ASSERT_TRUE(own.ok()) << why(own.error());
  EXPECT_EQ((*own)["id"], first);
  EXPECT_EQ(*own, view(first));
  auto list = in_tx([&](pqxx::work& tx) { return domain::list_orders(tx, alice); });
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0]["id"], second) << "newest first";
  EXPECT_EQ((*list)[1]["id"], first);
  EXPECT_EQ(in_tx([&](pqxx::work& tx) { return domain::list_orders(tx, mallory); })->size(), 0u);

  auto other = in_tx([&](pqxx::work& tx) { return domain::read_order(tx, first, mallory); });
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(other.error().is_not_owner());
  EXPECT_EQ(other.error().kind, ErrorCode::kNotFound);
  EXPECT_EQ(other.error().not_owner_id(), first);
  EXPECT_EQ(other.error().message, "order") << "the target the route audits";
  auto missing = in_tx([&](pqxx::work& tx) { return domain::read_order(tx, 999999, alice); });
  ASSERT_FALSE(missing.ok());
  expect_refusal(missing.error(), ErrorCode::kNotFound, "not_found", "order not found");
}

TEST_F(StoreBuyingTest, TheOrderTokenIsThePickupTokenOnceLoaded) {
  const auto customer = shopper();
  const auto order = bought(customer, {listed_product("Scarf", 900, "accessories")});
  const auto token = [&](std::int64_t who) {
    return in_tx([&](pqxx::work& tx) { return domain::order_token_text(tx, order, who); });
  };
  auto none = token(customer);
  ASSERT_FALSE(none.ok());
  expect_refusal(none.error(), ErrorCode::kFailedPrecondition, "no_token",
                 "the order has no usable token now");
  ready_for_pickup(order);
  auto text = token(customer);
  ASSERT_TRUE(text.ok()) << why(text.error());
  EXPECT_EQ(*text, view(order)["pickup"]["token"]["token"].get<std::string>());
  auto other = token(shopper());
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(other.error().is_not_owner());
}

// ---- cancelling ---------------------------------------------------------------------------------

TEST_F(StoreBuyingTest, CancelOfAPackedOrderFreesItsCompartmentAndRefundsOnce) {
  const auto customer = shopper();
  const auto product = listed_product("Coat", 8000, "outerwear");
  const auto order = bought(customer, {product});
  ASSERT_TRUE(
      in_tx([&](pqxx::work& tx) { return domain::pack_order(*d_, tx, order, now()); }).ok());
  const auto shipping = task_of("shipping", order);

  auto done = domain::cancel_order(*d_, order, customer);
  ASSERT_TRUE(done.ok()) << why(done.error());
  EXPECT_EQ(done->freed_box, box_);
  EXPECT_EQ(done->refund_payment_id, payment_of(order, "refund"));
  const auto v = view(order);
  EXPECT_EQ(v["state"], "cancelled");
  EXPECT_EQ(v["refund"]["state"], "succeeded");
  EXPECT_EQ(sandbox_->refunds_for_key("order-" + std::to_string(order) + "-refund"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM internal_orders WHERE id = " + std::to_string(shipping) +
                  " AND state = 'cancelled'"),
            1);
  EXPECT_TRUE(in_tx([&](pqxx::work& tx) { return domain::listed_product(tx, product); }).ok());

  auto again = domain::cancel_order(*d_, order, customer);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "illegal_transition");
  EXPECT_EQ(again.error().details["from"], "cancelled");
  EXPECT_EQ(sandbox_->total_refunds(), 1);
}

TEST_F(StoreBuyingTest, CancelRefusesOtherCustomersAndUnknownOrders) {
  const auto customer = shopper();
  const auto order = bought(customer, {listed_product("Gloves", 700, "accessories")});
  auto other = domain::cancel_order(*d_, order, shopper());
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(other.error().is_not_owner());
  auto missing = domain::cancel_order(*d_, 999999, customer);
  ASSERT_FALSE(missing.ok());
  expect_refusal(missing.error(), ErrorCode::kNotFound, "not_found", "order not found");
  EXPECT_EQ(state_of(order), "paid");
  // Not packed yet: nothing to free at a box.
  auto done = domain::cancel_order(*d_, order, customer);
  ASSERT_TRUE(done.ok()) << why(done.error());
  EXPECT_FALSE(done->freed_box);
}

// ---- internal orders ----------------------------------------------------------------------------

TEST_F(StoreBuyingTest, PackOrderReservesAPickupCompartmentUntilNoneIsLeft) {
  const auto pack = [&](std::int64_t order) {
    return in_tx([&](pqxx::work& tx) { return domain::pack_order(*d_, tx, order, now()); });
  };
  std::vector<std::int64_t> orders;
  for (int i = 0; i < 5; ++i) {
    orders.push_back(bought(shopper(), {listed_product("Tee " + std::to_string(i), 1000)}));
  }
  for (int i = 0; i < 4; ++i) {
    auto box = pack(orders[static_cast<std::size_t>(i)]);
    ASSERT_TRUE(box.ok()) << why(box.error());
    EXPECT_EQ(*box, box_);
  }
  EXPECT_EQ(state_of(orders[0]), "packed");
  EXPECT_NE(task_of("shipping", orders[0]), 0);
  EXPECT_EQ(count("SELECT count(*) FROM compartment_reservations WHERE action = 'pickup'"), 4);

  auto full = pack(orders[4]);
  ASSERT_FALSE(full.ok());
  expect_refusal(full.error(), ErrorCode::kFailedPrecondition, "no_compartment_available",
                 "no free compartment at the pickup location; try again later");
  EXPECT_EQ(state_of(orders[4]), "paid");
  auto twice = pack(orders[0]);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, "illegal_transition");
  EXPECT_EQ(twice.error().details["from"], "packed");
  auto missing = pack(999999);
  ASSERT_FALSE(missing.ok());
  expect_refusal(missing.error(), ErrorCode::kNotFound, "not_found", "order not found");
}

TEST_F(StoreBuyingTest, DispatchMovesAPackedOrderOnceAndIgnoresTheRest) {
  const auto order = bought(shopper(), {listed_product("Cap", 800, "accessories")});
  const auto dispatch = [&](std::int64_t id) {
    in_tx([&](pqxx::work& tx) {
      domain::dispatch_order(*d_, tx, id, now());
      return 0;
    });
  };
  dispatch(order);
  EXPECT_EQ(state_of(order), "paid") << "not packed yet: nothing to dispatch";
  ASSERT_TRUE(
      in_tx([&](pqxx::work& tx) { return domain::pack_order(*d_, tx, order, now()); }).ok());
  dispatch(order);
  EXPECT_EQ(state_of(order), "shipping");
  dispatch(order);
  dispatch(999999);
  EXPECT_EQ(state_of(order), "shipping");
}

// ---- box events ---------------------------------------------------------------------------------

TEST_F(StoreBuyingTest, LoadAndPickupEventsDeliverTheOrderAndAwardCoinsOnce) {
  const auto customer = shopper();
  const auto order = bought(customer, {listed_product("Dress", 3000, "dresses")});
  const int compartment = ready_for_pickup(order);
  auto v = view(order);
  EXPECT_EQ(v["state"], "ready_for_pickup");
  EXPECT_TRUE(v["pickup"]["token"].is_object());
  EXPECT_EQ(count("SELECT count(*) FROM internal_orders WHERE kind = 'shipping' AND state = "
                  "'done'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'pickup_ready' AND "
                  "recipient_id = " +
                  std::to_string(customer)),
            1);

  // A pickup at another compartment is not this order's.
  const int elsewhere = compartment == 1 ? 2 : 1;
  ASSERT_TRUE(box_event(domain::on_pickup, TokenAction::kPickup, order, elsewhere).ok());
  EXPECT_EQ(state_of(order), "ready_for_pickup");

  ASSERT_TRUE(box_event(domain::on_pickup, TokenAction::kPickup, order, compartment).ok());
  EXPECT_EQ(state_of(order), "completed");
  EXPECT_EQ(count("SELECT count(*) FROM products WHERE status = 'sold'"), 1);
  const auto coins = [&] {
    return in_tx([&](pqxx::work& tx) { return domain::coin_balance(tx, customer); });
  };
  EXPECT_EQ(coins(), 30);
  ASSERT_TRUE(box_event(domain::on_pickup, TokenAction::kPickup, order, compartment).ok());
  EXPECT_EQ(coins(), 30) << "a second pickup event changes nothing";
}

// ---- returns ------------------------------------------------------------------------------------

TEST_F(StoreBuyingTest, ARequestedReturnIsDepositedCollectedAndRefunded) {
  const auto customer = shopper();
  const auto product = listed_product("Skirt", 2500, "bottoms");
  const auto order = bought(customer, {product});
  picked_up(order);
  auto early = in_tx([&](pqxx::work& tx) { return domain::refund_return(*d_, tx, order, now()); });
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().from, "completed");

  auto reserved = return_at(order, customer, location_);
  ASSERT_TRUE(reserved.ok()) << why(reserved.error());
  EXPECT_EQ(reserved->box_id, box_);
  EXPECT_EQ(reserved->order["state"], "return_requested");
  const int compartment = reserved->order["return"]["compartment"].get<int>();
  auto text = in_tx([&](pqxx::work& tx) { return domain::order_token_text(tx, order, customer); });
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, reserved->order["return"]["token"]["token"].get<std::string>());

  // Deposited: the compartment is filled and waits for a courier.
  const int elsewhere = compartment == 1 ? 2 : 1;
  ASSERT_TRUE(box_event(domain::on_return, TokenAction::kReturn, order, elsewhere).ok());
  EXPECT_EQ(state_of(order), "return_requested") << "another compartment's deposit is ignored";
  ASSERT_TRUE(box_event(domain::on_return, TokenAction::kReturn, order, compartment).ok());
  EXPECT_EQ(state_of(order), "returned");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds WHERE phase = 'filled'"), 1);

  const auto collecting = in_tx([&](pqxx::work& tx) {
    return domain::maybe_create_collecting(tx, d_->config, box_, "manual", true, now());
  });
  ASSERT_TRUE(collecting);
  ASSERT_TRUE(
      box_event(domain::on_courier_collect, TokenAction::kCourierCollect, *collecting, compartment)
          .ok());
  EXPECT_EQ(state_of(order), "return_collected");

  auto refund = in_tx([&](pqxx::work& tx) { return domain::refund_return(*d_, tx, order, now()); });
  ASSERT_TRUE(refund.ok()) << refund.error().message();
  EXPECT_EQ(*refund, payment_of(order, "refund"));
  EXPECT_EQ(state_of(order), "refunded");
  EXPECT_EQ(view(order)["refund"]["state"], "pending") << "the caller attempts it after commit";
  auto settled = domain::attempt_payment(*d_, *refund, true);
  ASSERT_TRUE(settled.ok());
  EXPECT_TRUE(*settled);
  EXPECT_EQ(sandbox_->refunds_for_key("order-" + std::to_string(order) + "-refund"), 1);
}

TEST_F(StoreBuyingTest, ReturnRefusals) {
  const auto customer = shopper();
  const auto order = bought(customer, {listed_product("Shorts", 1500, "bottoms")});
  auto early = return_at(order, customer, location_);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, "illegal_transition");
  EXPECT_EQ(early.error().details["from"], "paid");
  picked_up(order);

  auto other = return_at(order, shopper(), location_);
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(other.error().is_not_owner());
  auto missing = return_at(999999, customer, location_);
  ASSERT_FALSE(missing.ok());
  expect_refusal(missing.error(), ErrorCode::kNotFound, "not_found", "order not found");
  auto nowhere = return_at(order, customer, 999999);
  ASSERT_FALSE(nowhere.ok());
  expect_refusal(nowhere.error(), ErrorCode::kNotFound, "not_found", "location 999999 not found");
  auto boxless = return_at(order, customer, empty_location());
  ASSERT_FALSE(boxless.ok());
  expect_refusal(boxless.error(), ErrorCode::kFailedPrecondition, "no_compartment_available",
                 "no free compartment for this return at this location right now");
  EXPECT_EQ(state_of(order), "completed");

  clock_.advance(15 * 24h);
  auto late = return_at(order, customer, location_);
  ASSERT_FALSE(late.ok());
  expect_refusal(late.error(), ErrorCode::kFailedPrecondition, "return_window_closed",
                 "returns are accepted for 14 days after pickup");
}

TEST_F(StoreBuyingTest, AnUnusedReturnReservationExpiresOnce) {
  const auto customer = shopper();
  const auto order = bought(customer, {listed_product("Jacket", 4000, "outerwear")});
  picked_up(order);
  ASSERT_TRUE(return_at(order, customer, location_).ok());
  const auto expire = [&] {
    int expired = 0;
    auto boxes =
        in_tx([&](pqxx::work& tx) { return domain::expire_returns(*d_, tx, now(), &expired); });
    return std::make_pair(expired, boxes);
  };
  EXPECT_EQ(expire().first, 0) << "still within its reservation";
  clock_.advance(25h);
  // The sweep skips a box row another transaction holds (the bridge applying the fake box's
  // state), so it may take a few passes.
  auto pass = expire();
  for (int i = 0; i < 50 && pass.first == 0; ++i) {
    std::this_thread::sleep_for(100ms);
    pass = expire();
  }
  EXPECT_EQ(pass.first, 1);
  EXPECT_EQ(pass.second, std::vector<std::string>{box_});
  EXPECT_EQ(state_of(order), "completed");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds"), 0);
  EXPECT_EQ(expire().first, 0);
}

// ---- payments -----------------------------------------------------------------------------------

TEST_F(StoreBuyingTest, AttemptPaymentTriesOnlyDuePaymentsAndSettlesOnce) {
  const auto order = bought(shopper(), {listed_product("Outage", 1500)}, Sandbox::kCardOutage);
  ASSERT_EQ(state_of(order), "payment_pending");
  const auto charge = payment_of(order, "charge");
  const auto key = "order-" + std::to_string(order) + "-charge";
  const auto requests = sandbox_->requests_for_key(key);
  auto early = domain::attempt_payment(*d_, charge, false);
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(*early);
  EXPECT_EQ(sandbox_->requests_for_key(key), requests) << "not due before the retry interval";

  // Each due attempt asks the provider again, with the same key, until it answers (the outage
  // lasts a few requests, and the client's breaker lets one trial through per cool-down).
  bool paid = false;
  for (int round = 0; round < 5 && !paid; ++round) {
    clock_.advance(1h);
    auto due = domain::attempt_payment(*d_, charge, false);
    ASSERT_TRUE(due.ok()) << due.error().to_string();
    paid = *due;
  }
  EXPECT_TRUE(paid);
  EXPECT_GT(sandbox_->requests_for_key(key), requests);
  EXPECT_EQ(state_of(order), "paid");
  auto settled = domain::attempt_payment(*d_, charge, true);
  ASSERT_TRUE(settled.ok());
  EXPECT_TRUE(*settled) << "already final";
  EXPECT_EQ(sandbox_->charges_for_key(key), 1);
  auto unknown = domain::attempt_payment(*d_, 999999, true);
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(*unknown);
}

// ---- database failures --------------------------------------------------------------------------

TEST_F(StoreBuyingTest, AStatementThatFailsComesBackAsAnInternalDomainError) {
  const auto customer = shopper();
  std::optional<DomainError> failed;
  auto st = controller_->db().with_transaction([&](pqxx::work& tx) -> Status {
    // The cart's table is gone for this transaction (rolled back below).
    tx.exec("ALTER TABLE cart_items RENAME TO cart_items_closed");
    auto cart = domain::read_cart(tx, customer);
    if (!cart.ok()) failed = cart.error();
    return make_error(ErrorCode::kInternal, "roll back");
  });
  EXPECT_FALSE(st.ok());
  ASSERT_TRUE(failed) << "the failure is a value, not an exception";
  EXPECT_EQ(failed->kind, ErrorCode::kInternal);
  EXPECT_NE(failed->cause.find("cart_items"), std::string::npos) << failed->cause;
  EXPECT_TRUE(in_tx([&](pqxx::work& tx) { return domain::read_cart(tx, customer); }).ok());
}

TEST_F(StoreBuyingTest, ALostRaceComesBackAsARetryableDomainError) {
  const auto order = bought(shopper(), {listed_product("Raced", 1000)});
  std::optional<DomainError> failed;
  auto st = controller_->db().with_transaction([&](pqxx::work& tx) -> Status {
    tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    tx.exec("SELECT 1");  // the snapshot
    // Another transaction changes the order and commits after the snapshot was taken.
    exec("UPDATE buying_orders SET updated_at = updated_at WHERE id = " + std::to_string(order));
    auto packed = domain::pack_order(*d_, tx, order, now());
    if (!packed.ok()) failed = packed.error();
    return make_error(ErrorCode::kInternal, "roll back");
  });
  EXPECT_FALSE(st.ok());
  ASSERT_TRUE(failed) << "the failure is a value, not an exception";
  EXPECT_EQ(failed->kind, ErrorCode::kUnavailable) << why(*failed);
  EXPECT_NE(failed->cause.find("retry"), std::string::npos) << failed->cause;
  EXPECT_EQ(state_of(order), "paid");
  // Tried again, it goes through.
  EXPECT_TRUE(
      in_tx([&](pqxx::work& tx) { return domain::pack_order(*d_, tx, order, now()); }).ok());
}

}  // namespace
}  // namespace reclothes::controller::testing
