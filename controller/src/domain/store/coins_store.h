// Coins that go back: the one place that takes coins back from a customer (a refunded return's
// purchase coins, a donor return's reward coins) and keeps the rule of the ledger: the balance is
// the sum of the ledger records and never goes below zero. What the balance cannot cover is a
// recorded debt (coin_debts), and every later credit pays open debts off first, with a
// 'debt_repayment' ledger record. docs/orders.md, "Coins follow refunds".
//
// Like shared.h these take the caller's transaction and throw on database errors; their callers'
// edge is guarded() (outcome.h).
#pragma once

#include <cstdint>
#include <pqxx/pqxx>
#include <string>

namespace reclothes::controller::domain {

struct CoinTakeBack {
  int from_balance = 0;  // the ledger debit (what the balance covered)
  int owed = 0;          // the debt recorded for the rest
  bool already = false;  // this cause was taken back before: nothing done
};

// Takes `amount` (> 0) coins back from the customer, once per cause (reason, ref_kind, ref_id):
// a ledger record of -min(amount, balance) and a debt of the rest. Locks the customer's row, so
// two take-backs or a take-back and a staff adjustment cannot both spend one balance.
CoinTakeBack take_back_coins(pqxx::work& tx, std::int64_t customer_id, int amount,
                             const std::string& reason, const std::string& ref_kind,
                             std::int64_t ref_id, std::int64_t now_ms);

// A credit of `credit` coins was just recorded (ledger record credit_ledger_id): open debts are
// paid off from it first, oldest first, with one 'debt_repayment' ledger record. Returns the
// coins repaid. award_coins and the staff's positive adjustments call it.
int settle_coin_debts(pqxx::work& tx, std::int64_t customer_id, std::int64_t credit_ledger_id,
                      int credit, std::int64_t now_ms);

// What the customer still owes.
std::int64_t coin_debt(pqxx::work& tx, std::int64_t customer_id);

}  // namespace reclothes::controller::domain
