// The internal-order store (store/task_store.h) called directly, with a transaction and plain
// values, against real PostgreSQL: what each function returns, each refusal it can give (as a
// DomainError with the API's code and details), and that a database failure comes back as a
// DomainError instead of an exception. Set-up goes through the API where that is the short way.
#include "../../src/domain/store/shared.h"
#include "../../src/domain/store/task_store.h"
#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

using domain::DomainError;
using domain::TaskViewer;

class TaskStoreTest : public DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    add_fleet({"M", "M", "L"});
    d_ = std::make_unique<domain::DomainContext>(
        domain::DomainContext{controller_->services(), config_.domain, nullptr, nullptr, nullptr});
  }
  void TearDown() override {
    d_.reset();
    DomainTest::TearDown();
  }

  // Runs a store call in a transaction that commits only when the call succeeds, as a route's
  // does. A store call that throws fails the test (value() of an empty optional).
  template <typename F>
  auto in_tx(F&& f) {
    std::optional<decltype(f(std::declval<pqxx::work&>()))> out;
    auto st = controller_->db().with_transaction([&](pqxx::work& tx) -> Status {
      out.emplace(f(tx));
      if (out->ok()) return ok_status();
      return make_error(ErrorCode::kFailedPrecondition, "refused: roll back");
    });
    EXPECT_TRUE(out.has_value()) << "the store threw: " << st.error().to_string();
    return std::move(out).value();
  }

  // Runs `setup`, then a store call, in one transaction that is rolled back. Returns the call's
  // result; nullopt (and a failure) if the call threw, which a store must not.
  template <typename F>
  auto rolled_back(const std::function<void(pqxx::work&)>& setup, F&& call) {
    std::optional<decltype(call(std::declval<pqxx::work&>()))> out;
    (void)controller_->db().with_transaction([&](pqxx::work& tx) -> Status {
      setup(tx);
      try {
        out.emplace(call(tx));
      } catch (...) {
        ADD_FAILURE() << "the store let an exception through";
      }
      return make_error(ErrorCode::kFailedPrecondition, "roll back");
    });
    return out;
  }

  std::int64_t now() const { return clock_.wall_ms(); }
  TaskViewer manager() const { return {manager_id_, true}; }
  TaskViewer packer() const { return {packer_id_, false}; }
  TaskViewer checker() const { return {checker_id_, false}; }

  // A paid buying order of one product: its id, and its packing order's id.
  std::pair<std::int64_t, std::int64_t> bought(const std::string& title) {
    auto order = buy(customer("buyer"), {listed_product(title, 1500)});
    EXPECT_EQ(order.status, 201) << describe(order);
    const auto id = order.body.value("id", std::int64_t{0});
    return {id, task_of("packing", id)};
  }

  // A packed order's shipping order (the packing done through the API).
  std::int64_t shipping_order() { return pack(bought("Parcel").first); }

  // A collected donation of two items (tops x2, shoes x1) and its checking order, assigned to the
  // checker. Returns {donation, checking order}.
  std::pair<std::int64_t, std::int64_t> donation_checking(std::int64_t* donor = nullptr) {
    std::int64_t customer_id = 0;
    auto created = create_donation(
        customer("donor", &customer_id),
        {{{"category", "tops"}, {"count", 2}}, {{"category", "shoes"}, {"count", 1}}});
    EXPECT_EQ(created.status, 201) << describe(created);
    const auto donation = created.body.value("id", std::int64_t{0});
    if (donor) *donor = customer_id;
    exec("UPDATE donations SET state = 'collected' WHERE id = " + std::to_string(donation));
    const auto checking = checking_for(
        [&](pqxx::work& tx) { return domain::create_checking_for_donation(tx, donation, now()); });
    return {donation, checking};
  }

  // A buying order whose return was collected (state `state`), and its checking order assigned
  // to the checker. Returns {order, product, checking order}.
  std::tuple<std::int64_t, std::int64_t, std::int64_t> return_checking(
      const std::string& state = "return_collected") {
    const auto product = listed_product("Returned", 2500);
    auto order = buy(customer("returner"), {product});
    EXPECT_EQ(order.status, 201) << describe(order);
    const auto id = order.body.value("id", std::int64_t{0});
    exec("UPDATE buying_orders SET state = '" + state + "' WHERE id = " + std::to_string(id));
    const auto checking = checking_for(
        [&](pqxx::work& tx) { return domain::create_checking_for_return(tx, id, now()); });
    return {id, product, checking};
  }

  std::int64_t checking_for(const std::function<std::int64_t(pqxx::work&)>& create) {
    std::int64_t id = 0;
    auto st = controller_->db().with_transaction([&](pqxx::work& tx) -> Status {
      id = create(tx);
      return ok_status();
    });
    EXPECT_TRUE(st.ok()) << st.error().to_string();
    EXPECT_EQ(assign(id, checker_id_).status, 200);
    return id;
  }

  domain::StoreResult<domain::GradeOutcome> grade(std::int64_t order, int position,
                                                  const std::string& grade,
                                                  std::optional<std::string> title = std::nullopt,
                                                  TaskViewer who = {}) {
    if (who.account_id == 0) who = checker();
    domain::GradeInput in;
    in.grade = grade;
    in.title = std::move(title);
    in.size = "M";
    return in_tx([&](pqxx::work& tx) {
      return domain::grade_item(*d_, tx, order, position, in, who, now());
    });
  }

  std::string order_state(std::int64_t id) {
    return query("SELECT state FROM internal_orders WHERE id = " + std::to_string(id))[0][0]
        .as<std::string>();
  }

  std::unique_ptr<domain::DomainContext> d_;
};

void expect_refusal(const DomainError& e, ErrorCode kind, const std::string& code,
                    const std::string& message) {
  EXPECT_EQ(e.kind, kind) << e.code << ": " << e.message;
  EXPECT_EQ(e.code, code);
  EXPECT_EQ(e.message, message);
}

// ---- list, read, view ---------------------------------------------------------------------------

TEST_F(TaskStoreTest, ListingShowsStaffTheirOwnWorkAndManagersEverythingPageByPage) {
  const auto [o1, p1] = bought("A");
  const auto [o2, p2] = bought("B");
  ASSERT_EQ(assign(p1, packer_id_).status, 200);

  domain::TaskFilter all_packing;
  all_packing.kind = domain::TaskKind::kPacking;
  auto mine = in_tx([&](pqxx::work& tx) { return domain::list_tasks(tx, all_packing, packer()); });
  ASSERT_TRUE(mine.ok()) << mine.error().message;
  ASSERT_EQ(mine->items.size(), 1u);
  EXPECT_EQ(mine->items[0]["id"], p1);
  EXPECT_EQ(mine->items[0]["source"], (nlohmann::json{{"kind", "buying"}, {"id", o1}}));

  // Asking for another assignee does not widen a staff member's view.
  domain::TaskFilter others = all_packing;
  others.assignee_id = manager_id_;
  auto still_mine = in_tx([&](pqxx::work& tx) { return domain::list_tasks(tx, others, packer()); });
  ASSERT_TRUE(still_mine.ok());
  ASSERT_EQ(still_mine->items.size(), 1u);
  EXPECT_EQ(still_mine->items[0]["id"], p1);

  domain::TaskFilter page_of_one = all_packing;
  page_of_one.limit = 1;
  auto first =
      in_tx([&](pqxx::work& tx) { return domain::list_tasks(tx, page_of_one, manager()); });
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->items.size(), 1u);
  EXPECT_EQ(first->items[0]["id"], p2) << "newest first";
  ASSERT_EQ(first->next_before_id, std::optional<std::int64_t>(p2));
  page_of_one.before_id = first->next_before_id;
  auto second =
      in_tx([&](pqxx::work& tx) { return domain::list_tasks(tx, page_of_one, manager()); });
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->items.size(), 1u);
  EXPECT_EQ(second->items[0]["id"], p1);

  domain::TaskFilter unassigned = all_packing;
  unassigned.unassigned = true;
  unassigned.state = domain::TaskState::kOpen;
  auto open = in_tx([&](pqxx::work& tx) { return domain::list_tasks(tx, unassigned, manager()); });
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->items.size(), 1u);
  EXPECT_EQ(open->items[0]["id"], p2);
  EXPECT_FALSE(open->next_before_id) << "a page that is not full has no next page";
}

TEST_F(TaskStoreTest, ReadingAnOrderNeedsItToBeTheViewersOrReadAll) {
  const auto [order, packing] = bought("A");
  auto as_manager =
      in_tx([&](pqxx::work& tx) { return domain::read_task(tx, packing, manager()); });
  ASSERT_TRUE(as_manager.ok()) << as_manager.error().message;
  EXPECT_EQ((*as_manager)["kind"], "packing");
  EXPECT_EQ((*as_manager)["state"], "open");

  auto unassigned = in_tx([&](pqxx::work& tx) { return domain::read_task(tx, packing, packer()); });
  ASSERT_FALSE(unassigned.ok());
  expect_refusal(unassigned.error(), ErrorCode::kNotFound, "not_found", "order not found");

  auto missing =
      in_tx([&](pqxx::work& tx) { return domain::read_task(tx, packing + 1000, manager()); });
  ASSERT_FALSE(missing.ok());
  expect_refusal(missing.error(), ErrorCode::kNotFound, "not_found", "order not found");
}

TEST_F(TaskStoreTest, ViewGivesTheAuditImageAndTheJsonOrNotFound) {
  const auto [order, packing] = bought("A");
  ASSERT_EQ(assign(packing, packer_id_).status, 200);
  auto view = in_tx([&](pqxx::work& tx) { return domain::view_task(tx, packing, packer_id_); });
  ASSERT_TRUE(view.ok()) << view.error().message;
  EXPECT_EQ(
      view->summary,
      (nlohmann::json{{"state", "assigned"}, {"assignee_id", packer_id_}, {"token_id", nullptr}}));
  EXPECT_EQ(view->task["id"], packing);
  EXPECT_EQ(view->task["assignee_id"], packer_id_);

  auto missing = in_tx([&](pqxx::work& tx) { return domain::view_task(tx, 999999, packer_id_); });
  ASSERT_FALSE(missing.ok());
  expect_refusal(missing.error(), ErrorCode::kNotFound, "not_found", "order not found");
}

// ---- assignment ---------------------------------------------------------------------------------

TEST_F(TaskStoreTest, AssigningGoesToAnEligibleStaffMemberAndNotifiesThem) {
  const auto [order, packing] = bought("A");
  auto a = in_tx([&](pqxx::work& tx) {
    return domain::assign_task(*d_, tx, packing, packer_id_, manager_id_, now());
  });
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->before["state"], "open");
  EXPECT_EQ(a->before["assignee_id"], nullptr);
  EXPECT_EQ(a->after.summary["state"], "assigned");
  EXPECT_EQ(a->after.summary["assignee_id"], packer_id_);
  EXPECT_EQ(a->after.task["assigned_at"], ts(now()));
  EXPECT_FALSE(a->revoke) << "a packing order has no courier token";
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE recipient_kind = 'staff' AND "
                  "recipient_id = " +
                  std::to_string(packer_id_) + " AND kind = 'task_assigned'"),
            1);

  // Not eligible: a courier for a packing order. Nothing is written.
  auto courier = in_tx([&](pqxx::work& tx) {
    return domain::assign_task(*d_, tx, packing, delivery_id_, manager_id_, now());
  });
  ASSERT_FALSE(courier.ok());
  expect_refusal(courier.error(), ErrorCode::kFailedPrecondition, "assignee_not_eligible",
                 "a packing order goes to an active staff member with the role packer");
  EXPECT_EQ(courier.error().details,
            (nlohmann::json{{"staff_id", delivery_id_}, {"role", "packer"}}));
  EXPECT_EQ(
      query("SELECT assignee_id FROM internal_orders WHERE id = " + std::to_string(packing))[0][0]
          .as<std::int64_t>(),
      packer_id_);

  auto missing = in_tx([&](pqxx::work& tx) {
    return domain::assign_task(*d_, tx, packing + 1000, packer_id_, manager_id_, now());
  });
  ASSERT_FALSE(missing.ok());
  expect_refusal(missing.error(), ErrorCode::kNotFound, "not_found", "order not found");
}

TEST_F(TaskStoreTest, DoneWorkCannotBeAssignedAgain) {
  const auto [order, packing] = bought("A");
  exec("UPDATE internal_orders SET state = 'done' WHERE id = " + std::to_string(packing));
  auto again = in_tx([&](pqxx::work& tx) {
    return domain::assign_task(*d_, tx, packing, packer_id_, manager_id_, now());
  });
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(again.error().code, "illegal_transition");
  EXPECT_EQ(again.error().details,
            (nlohmann::json{{"order_kind", "packing"}, {"from", "done"}, {"event", "assign"}}));
}

TEST_F(TaskStoreTest, ACourierGetsATokenAndReassigningRevokesThePreviousOne) {
  const auto shipping = shipping_order();
  ASSERT_NE(shipping, 0);
  const auto source =
      query("SELECT source_id FROM internal_orders WHERE id = " + std::to_string(shipping))[0][0]
          .as<std::int64_t>();
  auto first = in_tx([&](pqxx::work& tx) {
    return domain::assign_task(*d_, tx, shipping, delivery_id_, manager_id_, now());
  });
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_FALSE(first->revoke);
  ASSERT_TRUE(first->after.summary["token_id"].is_string());
  const auto first_token = first->after.summary["token_id"].get<std::string>();
  EXPECT_EQ(first->after.task["token"], nullptr) << "only the courier sees the token's text";
  EXPECT_EQ(query("SELECT state FROM buying_orders WHERE id = " + std::to_string(source))[0][0]
                .as<std::string>(),
            "shipping")
      << "the first courier assignment dispatches the parcel";

  std::int64_t other_courier = 0;
  staff_token({Role::kDelivery}, &other_courier);
  auto second = in_tx([&](pqxx::work& tx) {
    return domain::assign_task(*d_, tx, shipping, other_courier, manager_id_, now());
  });
  ASSERT_TRUE(second.ok()) << second.error().message;
  ASSERT_TRUE(second->revoke);
  EXPECT_EQ(second->revoke->box_id, box_);
  EXPECT_EQ(second->revoke->command.op, msg::CommandOp::kRevoke);
  EXPECT_EQ(second->revoke->command.token_ids, std::vector<std::string>{first_token});
  EXPECT_NE(second->after.summary["token_id"], first_token);
  EXPECT_EQ(count("SELECT count(*) FROM box_commands WHERE op = 'revoke' AND id = '" +
                  second->revoke->command.id + "'"),
            1);
  // The assignee sees their token.
  auto as_courier = in_tx([&](pqxx::work& tx) {
    return domain::read_task(tx, shipping, {other_courier, false});
  });
  ASSERT_TRUE(as_courier.ok());
  EXPECT_EQ((*as_courier)["token"]["token_id"], second->after.summary["token_id"]);
}

// ---- packing ------------------------------------------------------------------------------------

TEST_F(TaskStoreTest, TheAssigneeFinishesAPackingOrderOnce) {
  const auto [order, packing] = bought("A");
  ASSERT_EQ(assign(packing, packer_id_).status, 200);

  auto by_manager = in_tx(
      [&](pqxx::work& tx) { return domain::finish_packing_task(tx, packing, manager(), now()); });
  ASSERT_FALSE(by_manager.ok());
  expect_refusal(by_manager.error(), ErrorCode::kPermissionDenied, "not_assignee",
                 "only the assigned staff member may do this");

  std::int64_t other_id = 0;
  staff_token({Role::kPacker}, &other_id);
  auto by_other = in_tx([&](pqxx::work& tx) {
    return domain::finish_packing_task(tx, packing, {other_id, false}, now());
  });
  ASSERT_FALSE(by_other.ok());
  expect_refusal(by_other.error(), ErrorCode::kNotFound, "not_found", "order not found");

  auto done = in_tx(
      [&](pqxx::work& tx) { return domain::finish_packing_task(tx, packing, packer(), now()); });
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(done->buying_order_id, order);
  EXPECT_EQ(done->before["state"], "assigned");
  EXPECT_EQ(order_state(packing), "done");

  auto twice = in_tx(
      [&](pqxx::work& tx) { return domain::finish_packing_task(tx, packing, packer(), now()); });
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, "illegal_transition");
  EXPECT_EQ(twice.error().details["from"], "done");
}

TEST_F(TaskStoreTest, OnlyPackingOrdersAreFinishedByHand) {
  const auto [donation, checking] = donation_checking();
  auto refused = in_tx(
      [&](pqxx::work& tx) { return domain::finish_packing_task(tx, checking, checker(), now()); });
  ASSERT_FALSE(refused.ok());
  expect_refusal(refused.error(), ErrorCode::kFailedPrecondition, "not_completed_by_hand",
                 "collecting and shipping orders are completed by the box's events, checking "
                 "orders by grading their items");
  EXPECT_EQ(order_state(checking), "assigned");
}

// ---- grading ------------------------------------------------------------------------------------

TEST_F(TaskStoreTest, GradingEveryDonatedItemPublishesAndRewardsTheDonor) {
  std::int64_t donor = 0;
  const auto [donation, checking] = donation_checking(&donor);
  auto published = grade(checking, 1, "publish", "Blue shirts");
  ASSERT_TRUE(published.ok()) << published.error().message;
  ASSERT_TRUE(published->product_id);
  EXPECT_FALSE(published->refund_payment_id);
  EXPECT_EQ(published->task["state"], "in_progress");
  EXPECT_EQ(published->task["items"][0]["product_id"], *published->product_id);
  const auto product = query(
      "SELECT title, status, category, size, created_by FROM products "
      "WHERE id = " +
      std::to_string(*published->product_id));
  ASSERT_EQ(product.size(), 1u);
  EXPECT_EQ(product[0][0].as<std::string>(), "Blue shirts");
  EXPECT_EQ(product[0][1].as<std::string>(), "available");
  EXPECT_EQ(product[0][2].as<std::string>(), "tops");
  EXPECT_EQ(product[0][3].as<std::string>(), "M");
  EXPECT_EQ(product[0][4].as<std::int64_t>(), checker_id_);
  EXPECT_EQ(query("SELECT state FROM donations WHERE id = " + std::to_string(donation))[0][0]
                .as<std::string>(),
            "collected")
      << "one item is still ungraded";

  auto recycled = grade(checking, 2, "recycle");
  ASSERT_TRUE(recycled.ok()) << recycled.error().message;
  EXPECT_FALSE(recycled->product_id);
  EXPECT_EQ(recycled->task["state"], "done");
  const auto row =
      query("SELECT state, reward::text FROM donations WHERE id = " + std::to_string(donation));
  EXPECT_EQ(row[0][0].as<std::string>(), "completed");
  const auto reward = nlohmann::json::parse(row[0][1].as<std::string>());
  EXPECT_EQ(reward["kind"], "coins");
  EXPECT_GT(reward["coins"].get<std::int64_t>(), 0);
  EXPECT_EQ(count("SELECT COALESCE(sum(delta), 0) FROM coin_ledger WHERE customer_id = " +
                  std::to_string(donor)),
            reward["coins"].get<std::int64_t>());
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'donation_rewarded' AND "
                  "recipient_id = " +
                  std::to_string(donor)),
            1);
}

TEST_F(TaskStoreTest, OnlyRecycledDonationsEarnACoupon) {
  std::int64_t donor = 0;
  const auto [donation, checking] = donation_checking(&donor);
  ASSERT_TRUE(grade(checking, 1, "recycle").ok());
  ASSERT_TRUE(grade(checking, 2, "recycle").ok());
  const auto reward = nlohmann::json::parse(
      query("SELECT reward::text FROM donations WHERE id = " + std::to_string(donation))[0][0]
          .as<std::string>());
  EXPECT_EQ(reward["kind"], "coupon");
  EXPECT_EQ(count("SELECT count(*) FROM coupons WHERE source = 'donation_reward' AND code = '" +
                  reward["coupon_code"].get<std::string>() +
                  "' AND customer_id = " + std::to_string(donor)),
            1);
}

TEST_F(TaskStoreTest, GradingRefusalsLeaveTheItemUngraded) {
  const auto [donation, checking] = donation_checking();
  auto no_title = grade(checking, 1, "publish");
  ASSERT_FALSE(no_title.ok());
  expect_refusal(no_title.error(), ErrorCode::kInvalidArgument, "invalid_field",
                 "/title: is required to publish an item");
  EXPECT_EQ(no_title.error().details,
            (nlohmann::json{{"field", "/title"}, {"problem", "is required to publish an item"}}));
  EXPECT_EQ(order_state(checking), "assigned") << "the refusal rolled the progress back";

  auto no_item = grade(checking, 9, "recycle");
  ASSERT_FALSE(no_item.ok());
  expect_refusal(no_item.error(), ErrorCode::kNotFound, "not_found", "item 9 not found");

  auto by_manager = grade(checking, 1, "recycle", std::nullopt, manager());
  ASSERT_FALSE(by_manager.ok());
  expect_refusal(by_manager.error(), ErrorCode::kPermissionDenied, "not_assignee",
                 "only the assigned staff member may do this");

  auto invisible = grade(checking, 1, "recycle", std::nullopt, packer());
  ASSERT_FALSE(invisible.ok());
  expect_refusal(invisible.error(), ErrorCode::kNotFound, "not_found", "order not found");

  ASSERT_TRUE(grade(checking, 1, "recycle").ok());
  auto twice = grade(checking, 1, "publish", "Again");
  ASSERT_FALSE(twice.ok());
  expect_refusal(twice.error(), ErrorCode::kFailedPrecondition, "already_graded",
                 "this item is graded already");

  const auto [order, packing] = bought("A");
  ASSERT_EQ(assign(packing, packer_id_).status, 200);
  auto packing_item = grade(packing, 1, "recycle", std::nullopt, packer());
  ASSERT_FALSE(packing_item.ok());
  expect_refusal(packing_item.error(), ErrorCode::kFailedPrecondition, "not_a_checking_order",
                 "only checking orders have items to grade");
}

TEST_F(TaskStoreTest, GradingAReturnWithdrawsTheProductAndIssuesTheRefund) {
  const auto [order, product, checking] = return_checking();
  auto graded = grade(checking, 1, "recycle");
  ASSERT_TRUE(graded.ok()) << graded.error().message;
  EXPECT_EQ(graded->product_id, std::optional<std::int64_t>(product));
  ASSERT_TRUE(graded->refund_payment_id);
  EXPECT_EQ(graded->task["state"], "done");
  EXPECT_EQ(query("SELECT status FROM products WHERE id = " + std::to_string(product))[0][0]
                .as<std::string>(),
            "withdrawn");
  EXPECT_EQ(count("SELECT count(*) FROM buying_order_items WHERE active AND product_id = " +
                  std::to_string(product)),
            0);
  const auto payment =
      query("SELECT kind, state, amount_cents, order_id FROM payments WHERE id = " +
            std::to_string(*graded->refund_payment_id));
  ASSERT_EQ(payment.size(), 1u);
  EXPECT_EQ(payment[0][0].as<std::string>(), "refund");
  EXPECT_EQ(payment[0][1].as<std::string>(), "pending");
  EXPECT_EQ(payment[0][2].as<std::int64_t>(), 2500);
  EXPECT_EQ(payment[0][3].as<std::int64_t>(), order);
  EXPECT_EQ(query("SELECT state FROM buying_orders WHERE id = " + std::to_string(order))[0][0]
                .as<std::string>(),
            "refunded");
}

TEST_F(TaskStoreTest, AReturnThatCannotBeRefundedRefusesTheLastGrade) {
  // The buying order is not in return_collected, so the refund is an illegal transition.
  const auto [order, product, checking] = return_checking("completed");
  auto graded = grade(checking, 1, "publish");
  ASSERT_FALSE(graded.ok());
  EXPECT_EQ(graded.error().code, "illegal_transition");
  EXPECT_EQ(graded.error().details,
            (nlohmann::json{{"order_kind", "buying"}, {"from", "completed"}, {"event", "refund"}}));
  EXPECT_EQ(count("SELECT count(*) FROM checking_items WHERE grade IS NULL AND order_id = " +
                  std::to_string(checking)),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM payments WHERE kind = 'refund' AND order_id = " +
                  std::to_string(order)),
            0);
}

// ---- labels, collecting -------------------------------------------------------------------------

TEST_F(TaskStoreTest, OnlyCollectingAndShippingOrdersHaveATrackingCode) {
  const auto shipping = shipping_order();
  auto code =
      in_tx([&](pqxx::work& tx) { return domain::task_tracking_code(tx, shipping, manager()); });
  ASSERT_TRUE(code.ok()) << code.error().message;
  EXPECT_EQ(*code, query("SELECT tracking_code FROM internal_orders WHERE id = " +
                         std::to_string(shipping))[0][0]
                       .as<std::string>());
  EXPECT_EQ(code->rfind("RC-", 0), 0u);

  const auto [order, packing] = bought("A");
  auto none =
      in_tx([&](pqxx::work& tx) { return domain::task_tracking_code(tx, packing, manager()); });
  ASSERT_FALSE(none.ok());
  expect_refusal(none.error(), ErrorCode::kFailedPrecondition, "no_tracking_code",
                 "only collecting and shipping orders have labels");

  auto invisible =
      in_tx([&](pqxx::work& tx) { return domain::task_tracking_code(tx, shipping, packer()); });
  ASSERT_FALSE(invisible.ok());
  expect_refusal(invisible.error(), ErrorCode::kNotFound, "not_found", "order not found");
}

TEST_F(TaskStoreTest, CollectingNowCoversEveryFilledCompartmentOnce) {
  auto created = create_donation(customer("donor"), {{{"category", "tops"}, {"count", 1}}});
  ASSERT_EQ(created.status, 201) << describe(created);
  const auto donation = created.body["id"].get<std::int64_t>();
  const auto compartment = created.body["compartment"].get<int>();
  exec("UPDATE compartment_holds SET phase = 'filled' WHERE order_id = " +
       std::to_string(donation));

  auto made = in_tx([&](pqxx::work& tx) {
    return domain::collect_now(tx, d_->config, box_, manager_id_, now());
  });
  ASSERT_TRUE(made.ok()) << made.error().message;
  EXPECT_EQ(made->task["id"], made->order_id);
  EXPECT_EQ(made->task["kind"], "collecting");
  EXPECT_EQ(made->task["trigger"], "manual");
  ASSERT_EQ(made->task["items"].size(), 1u);
  EXPECT_EQ(made->task["items"][0]["compartment"], compartment);
  EXPECT_EQ(made->task["items"][0]["source_kind"], "donation");
  EXPECT_EQ(made->task["items"][0]["source_id"], donation);

  auto again = in_tx([&](pqxx::work& tx) {
    return domain::collect_now(tx, d_->config, box_, manager_id_, now());
  });
  ASSERT_FALSE(again.ok());
  expect_refusal(again.error(), ErrorCode::kFailedPrecondition, "nothing_to_collect",
                 "no filled compartment waits for collection");

  auto unknown = in_tx([&](pqxx::work& tx) {
    return domain::collect_now(tx, d_->config, "no-such-box", manager_id_, now());
  });
  ASSERT_FALSE(unknown.ok());
  expect_refusal(unknown.error(), ErrorCode::kNotFound, "not_found", "box no-such-box not found");
}

// ---- database failures --------------------------------------------------------------------------

// (A connection terminated under the store would show kUnavailable too, but libpq/libpqxx 6.4 then
// leak the statement's result, which LeakSanitizer reports; these failures leave the connection
// usable.)

TEST_F(TaskStoreTest, AConcurrentUpdateComesBackAsARetryableDomainErrorNotAnException) {
  const auto [order, packing] = bought("A");
  auto got = rolled_back(
      [&](pqxx::work& tx) {
        tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
        tx.exec("SELECT count(*) FROM internal_orders");  // the snapshot
        exec("UPDATE internal_orders SET updated_at = now() WHERE id = " + std::to_string(packing));
      },
      [&](pqxx::work& tx) {
        return domain::assign_task(*d_, tx, packing, packer_id_, manager_id_, now());
      });
  ASSERT_TRUE(got);
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->error().kind, ErrorCode::kUnavailable) << got->error().cause;
  EXPECT_NE(got->error().cause.find("could not serialize"), std::string::npos)
      << got->error().cause;
  EXPECT_EQ(order_state(packing), "open");
}

TEST_F(TaskStoreTest, ALockedTableComesBackAsADomainErrorWithItsCause) {
  const auto [order, packing] = bought("A");
  // Another session holds the table, as a long migration would.
  pqxx::connection other(conninfo_);
  pqxx::work holder(other);
  holder.exec("LOCK TABLE internal_orders IN ACCESS EXCLUSIVE MODE");
  auto got = rolled_back([](pqxx::work& tx) { tx.exec("SET LOCAL lock_timeout = '100ms'"); },
                         [&](pqxx::work& tx) { return domain::read_task(tx, packing, manager()); });
  holder.abort();
  ASSERT_TRUE(got);
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->error().kind, ErrorCode::kInternal);
  EXPECT_NE(got->error().cause.find("lock timeout"), std::string::npos) << got->error().cause;
  // The same call succeeds once the table is free.
  auto after = in_tx([&](pqxx::work& tx) { return domain::read_task(tx, packing, manager()); });
  EXPECT_TRUE(after.ok());
}

}  // namespace
}  // namespace reclothes::controller::testing
