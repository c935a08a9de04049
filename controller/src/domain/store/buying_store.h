// The buying store: the product catalogue, the cart, buying orders (create with payment, cancel
// with refund, return through a box) and what the customer reads of them. HTTP-free: refusals are
// DomainErrors (outcome.h) with the API's code, message and details.
//
// Also this module's, declared in shared.h because other modules call them: attempt_payment
// (payment_store.cpp), the box-event hooks on_courier_load, on_pickup and on_return, the worker
// pass expire_returns, and the effects of internal orders on a buying order: pack_order,
// dispatch_order and refund_return (buying_events.cpp).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "context.h"
#include "outcome.h"
#include "reclothes/controller/domain/payments.h"
#include "shared.h"

namespace reclothes::controller::domain {

// ---- catalogue and cart -------------------------------------------------------------------------

enum class ProductSort { kNewest, kPriceAsc, kPriceDesc };

// A validated browse request (GET /v1/products).
struct ProductQuery {
  std::optional<std::string> category;
  std::optional<std::string> size;
  std::optional<std::string> text;  // in title or description, case-insensitive
  std::optional<std::int64_t> min_price;
  std::optional<std::int64_t> max_price;
  ProductSort sort = ProductSort::kNewest;
  std::int64_t limit = 20;
  std::int64_t offset = 0;
};

// Listed products (available and priced) matching the query, one page.
StoreResult<ProductPage> list_products(pqxx::transaction_base& tx, const ProductQuery& q);
// One listed product. not_found "product".
StoreResult<nlohmann::json> listed_product(pqxx::transaction_base& tx, std::int64_t product_id);

// The cart's JSON: {items: [product_json...], total_cents (of the listed ones)}.
StoreResult<nlohmann::json> read_cart(pqxx::transaction_base& tx, std::int64_t customer_id);
// Each is one statement (the cart after the write), so an autocommit transaction is enough.
// not_found "product" (not listed).
StoreResult<nlohmann::json> add_to_cart(pqxx::transaction_base& tx, std::int64_t customer_id,
                                        std::int64_t product_id, std::int64_t now_ms);
// not_found "cart item".
StoreResult<nlohmann::json> remove_from_cart(pqxx::transaction_base& tx, std::int64_t customer_id,
                                             std::int64_t product_id);

// ---- orders -------------------------------------------------------------------------------------

// buying_order_json of one order, with its tokens (read after a write the caller committed).
StoreResult<nlohmann::json> order_view(pqxx::work& tx, std::int64_t order_id);
// The customer's orders, newest first (at most 200): a JSON array of buying_order_json.
StoreResult<nlohmann::json> list_orders(pqxx::work& tx, std::int64_t customer_id);
// One of the customer's orders. not_found "order"; not_owner "order".
StoreResult<nlohmann::json> read_order(pqxx::work& tx, std::int64_t order_id,
                                       std::int64_t customer_id);
// The text of the order's usable token (pickup or return), for its QR code. not_found,
// not_owner, conflict no_token.
StoreResult<std::string> order_token_text(pqxx::work& tx, std::int64_t order_id,
                                          std::int64_t customer_id);

struct NewOrder {
  std::int64_t customer_id = 0;
  std::int64_t pickup_location_id = 0;
  Card card;  // exchanged for the provider's payment method; the number is not kept
};

// Buys the customer's cart: reserves its products and creates the order and its charge in one
// transaction, exchanges the card for a payment method with the provider (outside any
// transaction), then attempts the charge. A declined card or an unreachable provider does not
// refuse: the order exists, in payment_failed or payment_pending. Returns the order id.
// Refusals: payments_unavailable (kUnavailable: no provider configured), not_found "location
// <id>", conflict location_unavailable, cart_empty, products_unavailable {product_ids}.
StoreResult<std::int64_t> create_order(DomainContext& d, const NewOrder& order);

struct OrderCancelled {
  std::int64_t refund_payment_id = 0;    // 0: nothing was left to refund (staff refunded it all)
  std::int64_t refund_cents = 0;         // what the refund gives back
  std::optional<std::string> freed_box;  // its pickup reservation was dropped (config published)
};

// Cancels an order before shipping, in a transaction of its own: cancels its open internal
// orders, frees its pickup compartment (the box's config is published after the commit), puts
// its products back on sale and creates the refund of what is left to refund (all of it unless
// customer service refunded part already), which is then attempted once. Refusals:
// not_found "order", not_owner "order", illegal_transition.
StoreResult<OrderCancelled> cancel_order(DomainContext& d, std::int64_t order_id,
                                         std::int64_t customer_id);

struct ReturnRequest {
  std::int64_t order_id = 0;
  std::int64_t customer_id = 0;
  std::int64_t location_id = 0;
};

struct ReturnReserved {
  std::string box_id;  // publish its config after the commit (the return reservation)
  nlohmann::json order;
};

// A picked-up order goes back through a box: reserves a compartment at the location and issues
// the return token, in the caller's transaction. Refusals: not_found "order", not_owner "order",
// illegal_transition, conflict return_window_closed, not_found "location <id>", conflict
// no_compartment_available, and the token service's errors.
StoreResult<ReturnReserved> request_return(DomainContext& d, pqxx::work& tx,
                                           const ReturnRequest& request, std::int64_t now_ms);

}  // namespace reclothes::controller::domain
