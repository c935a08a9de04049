// Coins that go back (coins_store.h): take-backs, debts and their repayment.
#include "coins_store.h"

#include <algorithm>

#include "shared.h"

namespace reclothes::controller::domain {

CoinTakeBack take_back_coins(pqxx::work& tx, std::int64_t customer_id, int amount,
                             const std::string& reason, const std::string& ref_kind,
                             std::int64_t ref_id, std::int64_t now_ms) {
  CoinTakeBack out;
  if (amount <= 0) return out;
  // The customer row lock serialises everything that reads a balance to write against it.
  tx.exec_params("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", customer_id);
  const auto done = tx.exec_params(
      "SELECT 1 FROM coin_ledger WHERE reason = $1 AND ref_kind = $2 AND ref_id = $3 UNION ALL "
      "SELECT 1 FROM coin_debts WHERE reason = $1 AND ref_kind = $2 AND ref_id = $3",
      reason, ref_kind, ref_id);
  if (!done.empty()) {
    out.already = true;
    return out;
  }
  const auto balance = coin_balance(tx, customer_id);
  out.from_balance = static_cast<int>(std::clamp<std::int64_t>(balance, 0, amount));
  out.owed = amount - out.from_balance;
  if (out.from_balance > 0) {
    tx.exec_params(
        "INSERT INTO coin_ledger (customer_id, delta, reason, ref_kind, ref_id, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6::timestamptz)",
        customer_id, -out.from_balance, reason, ref_kind, ref_id, ts(now_ms));
  }
  if (out.owed > 0) {
    tx.exec_params(
        "INSERT INTO coin_debts (customer_id, amount, outstanding, reason, ref_kind, ref_id, "
        "created_at) VALUES ($1, $2, $2, $3, $4, $5, $6::timestamptz)",
        customer_id, out.owed, reason, ref_kind, ref_id, ts(now_ms));
  }
  return out;
}

int settle_coin_debts(pqxx::work& tx, std::int64_t customer_id, std::int64_t credit_ledger_id,
                      int credit, std::int64_t now_ms) {
  if (credit <= 0) return 0;
  // As take_back_coins: a take-back running meanwhile either sees this credit or its debt is seen
  // here.
  tx.exec_params("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", customer_id);
  int left = credit;
  for (const auto& debt : tx.exec_params(
           "SELECT id, outstanding FROM coin_debts WHERE customer_id = $1 AND outstanding > 0 "
           "ORDER BY id FOR UPDATE",
           customer_id)) {
    if (left == 0) break;
    const int pay = std::min(left, debt[1].as<int>());
    tx.exec_params(
        "UPDATE coin_debts SET outstanding = outstanding - $2, settled_at = CASE WHEN "
        "outstanding - $2 = 0 THEN $3::timestamptz END WHERE id = $1",
        debt[0].as<std::int64_t>(), pay, ts(now_ms));
    left -= pay;
  }
  const int repaid = credit - left;
  if (repaid > 0) {
    tx.exec_params(
        "INSERT INTO coin_ledger (customer_id, delta, reason, ref_kind, ref_id, created_at) "
        "VALUES ($1, $2, 'debt_repayment', 'coin_ledger', $3, $4::timestamptz)",
        customer_id, -repaid, credit_ledger_id, ts(now_ms));
  }
  return repaid;
}

std::int64_t coin_debt(pqxx::work& tx, std::int64_t customer_id) {
  return tx
      .exec_params1("SELECT COALESCE(sum(outstanding), 0) FROM coin_debts WHERE customer_id = $1",
                    customer_id)[0]
      .as<std::int64_t>();
}

}  // namespace reclothes::controller::domain
