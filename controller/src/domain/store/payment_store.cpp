// Payments of buying orders: the payment rows, the card exchanged for a payment method, and one
// attempt of a pending charge or refund with the provider (claimed, asked outside any
// transaction, recorded with its effects on the order).
#include <algorithm>

#include "buying_internal.h"
#include "shared.h"

namespace reclothes::controller::domain {
namespace {

using buying_internal::lock_order;
using buying_internal::release_products;
using buying_internal::set_order_state;

// A pending payment claimed for one attempt (or why not).
struct PaymentClaim {
  bool claimed = false;
  bool settled = false;  // not claimed because it is no longer pending
  std::string kind, key, currency;
  std::int64_t amount = 0;
  std::int64_t order_id = 0;
  std::optional<std::string> method_ref;
  std::optional<std::string> charge_ref;  // refunds: the succeeded charge's provider reference
};

// The payment failed for good: the order (if it still waits for it) fails and its products are
// for sale again.
void decline_buying_order(pqxx::work& tx, std::int64_t order_id, const std::string& reason,
                          std::int64_t now) {
  const auto o = lock_order(tx, order_id);
  auto to = next(o->state, BuyingEvent::kPaymentDeclined);
  if (!to.ok()) return;
  set_order_state(tx, order_id, *to, now);
  tx.exec_params("UPDATE buying_orders SET failure_reason = $2 WHERE id = $1", order_id, reason);
  release_products(tx, order_id, now);
  notify(tx, "customer", o->customer_id, "payment_failed",
         {{"order_id", order_id}, {"reason", reason}}, now,
         "payment_failed:" + std::to_string(order_id));
}

// A payment that can never be made (no payment method): failed, with the order, in a transaction
// of its own.
void fail_payment(DomainContext& d, std::int64_t payment_id, std::int64_t order_id,
                  const std::string& reason) {
  auto r = d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    const auto now = d.now_ms();
    tx.exec_params(
        "UPDATE payments SET state = 'failed', last_error = $2, next_attempt_at = NULL, "
        "updated_at = $3::timestamptz WHERE id = $1 AND state = 'pending'",
        payment_id, reason, ts(now));
    decline_buying_order(tx, order_id, reason, now);
    return ok_status();
  });
  if (!r.ok()) d.s.log.error("recording a failed payment", {{"error", r.error().message}});
}

// Claims the payment: moves next_attempt_at one retry interval forward, so no one else attempts
// it meanwhile (force: whatever next_attempt_at says).
PaymentClaim claim_payment(const DomainContext& d, pqxx::work& tx, std::int64_t payment_id,
                           bool force, std::int64_t now) {
  PaymentClaim c;
  const auto rows = tx.exec_params(
      "UPDATE payments SET next_attempt_at = $2::timestamptz + $3::bigint * interval '1 "
      "second', updated_at = $2::timestamptz WHERE id = $1 AND state = 'pending' AND ($4 OR "
      "next_attempt_at IS NULL OR next_attempt_at <= $2::timestamptz) RETURNING kind, "
      "idempotency_key, currency, amount_cents, order_id, method_ref",
      payment_id, ts(now), static_cast<std::int64_t>(d.config.payments.retry_interval.count()),
      force);
  if (rows.empty()) {
    c.settled =
        tx.exec_params("SELECT 1 FROM payments WHERE id = $1 AND state <> 'pending'", payment_id)
            .size() == 1;
    return c;
  }
  c.claimed = true;
  c.kind = rows[0][0].as<std::string>();
  c.key = rows[0][1].as<std::string>();
  c.currency = rows[0][2].as<std::string>();
  c.amount = rows[0][3].as<std::int64_t>();
  c.order_id = rows[0][4].as<std::int64_t>();
  c.method_ref = opt<std::string>(rows[0][5]);
  if (c.kind == "refund") {
    const auto ch = tx.exec_params(
        "SELECT provider_ref FROM payments WHERE order_id = $1 AND kind = 'charge' AND state = "
        "'succeeded'",
        c.order_id);
    if (!ch.empty()) c.charge_ref = opt<std::string>(ch[0][0]);
  }
  return c;
}

// reclothes_payment_requests_total{operation, outcome} and the provider's answer time: one per
// question put to the payment provider (tokenize, charge, refund). "unknown" is no answer (a
// timeout, a 5xx): the payment is retried with the same idempotency key.
void count_payment(DomainContext& d, const char* operation, const PaymentOutcome& outcome,
                   std::chrono::duration<double> took) {
  auto& registry = d.s.metrics.registry();
  prometheus::BuildCounter()
      .Name("reclothes_payment_requests_total")
      .Help(
          "Requests to the payment provider by operation (tokenize, charge, refund) and outcome "
          "(succeeded, declined, unknown: no answer, retried)")
      .Register(registry)
      .Add({{"operation", operation}, {"outcome", std::string(to_string(outcome.kind))}})
      .Increment();
  prometheus::BuildHistogram()
      .Name("reclothes_payment_request_duration_seconds")
      .Help("How long the payment provider took to answer, by operation")
      .Register(registry)
      .Add({{"operation", operation}},
           prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30})
      .Observe(took.count());
}

PaymentOutcome ask_provider(PaymentProvider& provider, const PaymentClaim& c) {
  PaymentOutcome outcome;
  if (c.kind == "charge") {
    if (!c.method_ref) {
      // The card was never exchanged for a payment method (a crash in between): nothing can
      // have been charged, and nothing can be charged now.
      outcome.kind = PaymentOutcome::Kind::kDeclined;
      outcome.code = "no_payment_method";
      return outcome;
    }
    return provider.charge(*c.method_ref, c.amount, c.currency, c.key);
  }
  if (!c.charge_ref) {
    // Nothing was charged (the charge never succeeded): nothing to refund.
    outcome.kind = PaymentOutcome::Kind::kSucceeded;
    outcome.code = "nothing_to_refund";
    return outcome;
  }
  return provider.refund(*c.charge_ref, c.amount, c.key);
}

void record_payment_success(DomainContext& d, pqxx::work& tx, std::int64_t payment_id,
                            const PaymentClaim& c, const PaymentOutcome& outcome, int attempts,
                            std::int64_t now) {
  tx.exec_params(
      "UPDATE payments SET state = 'succeeded', provider_ref = $2, attempts = $3, "
      "next_attempt_at = NULL, last_error = NULL, updated_at = $4::timestamptz WHERE id = $1",
      payment_id, outcome.provider_ref, attempts, ts(now));
  if (c.kind == "refund" && outcome.code != "nothing_to_refund") {
    if (const auto o = lock_order(tx, c.order_id)) {
      notify(tx, "customer", o->customer_id, "refund_issued",
             {{"order_id", c.order_id}, {"amount_cents", c.amount}, {"currency", c.currency}}, now,
             "refund_issued:" + std::to_string(payment_id));
    }
  }
  if (c.kind != "charge") return;
  const auto o = lock_order(tx, c.order_id);
  auto to = next(o->state, BuyingEvent::kPaymentSucceeded);
  if (!to.ok()) {
    d.s.log.error("charge succeeded for an order that cannot take it",
                  {{"order", c.order_id}, {"why", to.error().message()}});
    return;
  }
  set_order_state(tx, c.order_id, *to, now, "paid_at");
  create_internal_order(tx, TaskKind::kPacking, std::string("buying"), c.order_id, std::nullopt, {},
                        false, std::nullopt, now);
}

void record_payment_decline(DomainContext& d, pqxx::work& tx, std::int64_t payment_id,
                            const PaymentClaim& c, const PaymentOutcome& outcome, int attempts,
                            std::int64_t now) {
  tx.exec_params(
      "UPDATE payments SET state = 'failed', attempts = $2, next_attempt_at = NULL, "
      "last_error = $3, updated_at = $4::timestamptz WHERE id = $1",
      payment_id, attempts, outcome.code, ts(now));
  if (c.kind == "charge") {
    decline_buying_order(tx, c.order_id, "payment declined: " + outcome.code, now);
  } else {
    d.s.log.error("refund refused by the provider: needs a person",
                  {{"order", c.order_id}, {"code", outcome.code}});
  }
}

// No answer: retry later with the same key, after one retry interval, then doubling with each
// round of attempts (capped at one hour).
void record_payment_unknown(const DomainContext& d, pqxx::work& tx, std::int64_t payment_id,
                            const PaymentOutcome& outcome, int attempts, std::int64_t now) {
  const auto base = d.config.payments.retry_interval.count();
  const int rounds = (attempts - 1) / std::max(d.config.payments.max_attempts, 1);
  const auto wait =
      std::min<std::int64_t>(std::max<std::int64_t>(3600, base), base << std::min(rounds, 6));
  tx.exec_params(
      "UPDATE payments SET attempts = $2, last_error = $3, next_attempt_at = "
      "$4::timestamptz + $5::bigint * interval '1 second', updated_at = $4::timestamptz "
      "WHERE id = $1",
      payment_id, attempts, outcome.code + ": " + outcome.message, ts(now), wait);
}

// Records the provider's answer unless someone settled the payment meanwhile. Returns whether
// the payment is final now.
bool record_payment_outcome(DomainContext& d, pqxx::work& tx, std::int64_t payment_id,
                            const PaymentClaim& c, const PaymentOutcome& outcome,
                            std::int64_t now) {
  const auto rows =
      tx.exec_params("SELECT state, attempts FROM payments WHERE id = $1 FOR UPDATE", payment_id);
  if (rows.empty() || rows[0][0].as<std::string>() != "pending") return true;
  const auto attempts = rows[0][1].as<int>() + std::max(outcome.attempts, 1);
  switch (outcome.kind) {
    case PaymentOutcome::Kind::kSucceeded:
      record_payment_success(d, tx, payment_id, c, outcome, attempts, now);
      return true;
    case PaymentOutcome::Kind::kDeclined:
      record_payment_decline(d, tx, payment_id, c, outcome, attempts, now);
      return true;
    case PaymentOutcome::Kind::kUnknown:
      record_payment_unknown(d, tx, payment_id, outcome, attempts, now);
      return false;
  }
  return false;
}

}  // namespace

Result<bool> attempt_payment(DomainContext& d, std::int64_t payment_id, bool force) {
  RC_ASSIGN_OR_RETURN(auto claim,
                      d.s.db.with_transaction([&](pqxx::work& tx) -> Result<PaymentClaim> {
                        return claim_payment(d, tx, payment_id, force, d.now_ms());
                      }));
  if (!claim.claimed) return claim.settled;
  if (!d.payments) return false;
  const auto asked = std::chrono::steady_clock::now();
  const auto outcome = ask_provider(*d.payments, claim);
  if (outcome.code != "no_payment_method" && outcome.code != "nothing_to_refund") {
    count_payment(d, claim.kind == "charge" ? "charge" : "refund", outcome,
                  std::chrono::steady_clock::now() - asked);
  }
  return d.s.db.with_transaction([&](pqxx::work& tx) -> Result<bool> {
    return record_payment_outcome(d, tx, payment_id, claim, outcome, d.now_ms());
  });
}

namespace buying_internal {

std::int64_t insert_payment(const DomainContext& d, pqxx::work& tx, std::int64_t order_id,
                            const std::string& kind, std::int64_t amount, std::int64_t now) {
  return tx
      .exec_params1(
          "INSERT INTO payments (order_id, kind, idempotency_key, amount_cents, currency, state, "
          "next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', "
          "$6::timestamptz + $7::bigint * interval '1 second', $6::timestamptz, $6::timestamptz) "
          "RETURNING id",
          order_id, kind, "order-" + std::to_string(order_id) + "-" + kind, amount,
          d.config.buying.currency, ts(now),
          static_cast<std::int64_t>(d.config.payments.retry_interval.count()))[0]
      .as<std::int64_t>();
}

StoreStatus pay_with_card(DomainContext& d, std::int64_t order_id, std::int64_t payment_id,
                          const Card& card) {
  // The card becomes the provider's payment method; the number is not kept anywhere.
  const auto asked = std::chrono::steady_clock::now();
  const auto method = d.payments->tokenize(card, "order-" + std::to_string(order_id) + "-method");
  count_payment(d, "tokenize", method, std::chrono::steady_clock::now() - asked);
  if (method.kind != PaymentOutcome::Kind::kSucceeded) {
    // Without a payment method nothing can be charged, now or later: the order fails cleanly.
    fail_payment(d, payment_id, order_id,
                 method.kind == PaymentOutcome::Kind::kDeclined
                     ? "card refused: " + method.code
                     : "payment provider unavailable, nothing was charged (" + method.code + ")");
    return store_ok();
  }
  auto stored = d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    tx.exec_params("UPDATE payments SET method_ref = $2 WHERE id = $1", payment_id,
                   method.provider_ref);
    return ok_status();
  });
  if (!stored.ok()) return DomainError::from(stored.error());
  attempt_now(d, payment_id, order_id, "payment");
  return store_ok();
}

void attempt_now(DomainContext& d, std::int64_t payment_id, std::int64_t order_id,
                 const char* what) {
  auto attempted = attempt_payment(d, payment_id, true);
  if (!attempted.ok()) {
    d.s.log.error(std::string(what) + " attempt failed",
                  {{"order", order_id}, {"error", attempted.error().message}});
  }
}

}  // namespace buying_internal
}  // namespace reclothes::controller::domain
