// Management on the internal listener (products and prices, customers with masking, GDPR
// export and erase, coupons, coin adjustments) and the customer's own coins, coupons and export.
// The handlers read the request, call the store (store/management_store.h) and answer.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "../store/management_store.h"
#include "route_common.h"

namespace reclothes::controller::domain {

// The module's names stay in a namespace of their own: a unity build compiles this file in one
// translation unit with other route modules, whose file-local names would otherwise meet these.
namespace management_routes {
namespace {

using L = Listener;
using M = HttpMethod;
using P = Permission;

// ---- helpers ------------------------------------------------------------------------------------

// The store's answer as the response body, or its refusal as the API's error.
HandlerResult respond(DomainContext& d, const RequestContext& ctx, StoreResult<nlohmann::json> r) {
  if (!r.ok()) return to_api(d.s, ctx, r.error());
  return Response::ok(std::move(r).value());
}

// A list from the store as {"items": [...]}.
HandlerResult respond_items(DomainContext& d, const RequestContext& ctx,
                            StoreResult<nlohmann::json> r) {
  if (!r.ok()) return to_api(d.s, ctx, r.error());
  return Response::ok({{"items", std::move(r).value()}});
}

std::string id_of(const nlohmann::json& j) {
  return std::to_string(j.at("id").get<std::int64_t>());
}

struct PageQuery {
  std::int64_t limit = 50;
  std::int64_t offset = 0;
};

// ?limit (1..200, default 50) and ?offset (0..1000000, default 0).
Result<PageQuery, ApiError> page_query(const RequestContext& ctx) {
  auto limit = query_int(ctx, "limit", 1, 200);
  if (!limit.ok()) return std::move(limit).error();
  auto offset = query_int(ctx, "offset", 0, 1000000);
  if (!offset.ok()) return std::move(offset).error();
  return PageQuery{limit->value_or(50), offset->value_or(0)};
}

// A product's price is not one of its fields: it has a route (and a permission) of its own.
void refuse_price_field(const RequestContext& ctx, FieldReader& r) {
  if (ctx.body().contains("price_cents")) {
    r.fail("price_cents",
           "prices are set with PUT /internal/v1/products/{id}/price (prices.write)");
  }
}

// ---- products -----------------------------------------------------------------------------------

HandlerResult get_products(DomainContext& d, RequestContext& ctx) {
  StaffProductQuery query;
  if (auto s = ctx.query("status")) {
    if (*s != "available" && *s != "reserved" && *s != "sold" && *s != "withdrawn") {
      return invalid_query("status", "must be available, reserved, sold or withdrawn");
    }
    query.status = *s;
  }
  query.unpriced = ctx.query("unpriced") == std::optional<std::string>("true");
  query.title = ctx.query("q");
  auto page = page_query(ctx);
  if (!page.ok()) return std::move(page).error();
  query.limit = page->limit;
  query.offset = page->offset;
  auto products = list_staff_products(ctx.tx(), query);
  if (!products.ok()) return to_api(d.s, ctx, products.error());
  return Response::ok({{"items", products->items}, {"total", products->total}});
}

HandlerResult post_product(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  ProductDraft draft;
  draft.title = r.string("title", 1, 200);
  draft.description = r.optional_string("description", 0, 2000).value_or("");
  draft.category = r.string("category", 1, 32);
  draft.size = r.optional_string("size", 0, 32).value_or("");
  draft.condition = r.optional_string("condition", 0, 64).value_or("");
  refuse_price_field(ctx, r);
  RC_FINISH_BODY(r);
  draft.created_by = ctx.principal().account_id;
  auto product = create_product(ctx.tx(), draft, d.now_ms());
  if (!product.ok()) return to_api(d.s, ctx, product.error());
  ctx.set_audit({"product", id_of(*product), nullptr, *product, ""});
  return Response::created(*product);
}

HandlerResult get_product(DomainContext& d, RequestContext& ctx) {
  return respond(d, ctx, product_with_history(ctx.tx(), id_param(ctx, "id")));
}

HandlerResult patch_product(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  ProductEdit edit;
  read_item_description(r, edit);
  edit.category = r.optional_string("category", 1, 32);
  edit.status = r.optional_string("status", 1, 16);
  if (r.ok() && edit.status && *edit.status != "available" && *edit.status != "withdrawn") {
    r.fail("status", "must be available or withdrawn");
  }
  refuse_price_field(ctx, r);
  RC_FINISH_BODY(r);
  const auto id = id_param(ctx, "id");
  ctx.set_audit({"product", std::to_string(id), nullptr, nullptr, ""});
  auto change = update_product(ctx.tx(), id, edit, d.now_ms());
  if (!change.ok()) return to_api(d.s, ctx, change.error());
  ctx.set_audit({"product", std::to_string(id), change->before, change->after, ""});
  return Response::ok(change->after);
}

HandlerResult put_price(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto price = r.integer("price_cents", 1, 100'000'000);
  RC_FINISH_BODY(r);
  const auto id = id_param(ctx, "id");
  ctx.set_audit({"product", std::to_string(id), nullptr, nullptr, ""});
  auto change = set_product_price(ctx.tx(), id, price, ctx.principal().account_id, d.now_ms());
  if (!change.ok()) return to_api(d.s, ctx, change.error());
  const auto& old_price = change->old_price_cents;
  ctx.set_audit({"product",
                 std::to_string(id),
                 {{"price_cents", old_price ? nlohmann::json(*old_price) : nlohmann::json()}},
                 {{"price_cents", price}},
                 ""});
  return Response::ok(change->product);
}

// ---- customers ----------------------------------------------------------------------------------

HandlerResult get_customers(DomainContext& d, RequestContext& ctx) {
  CustomerQuery query;
  query.full = ctx.principal().can(Permission::kCustomersReadFull);
  auto page = page_query(ctx);
  if (!page.ok()) return std::move(page).error();
  query.limit = page->limit;
  query.offset = page->offset;
  query.email = ctx.query("email");
  return respond_items(d, ctx, list_customers(ctx.tx(), query));
}

HandlerResult get_customer(DomainContext& d, RequestContext& ctx) {
  return respond(d, ctx,
                 customer_admin_view(ctx.tx(), id_param(ctx, "customer_id"),
                                     ctx.principal().can(Permission::kCustomersReadFull)));
}

HandlerResult get_customer_export(DomainContext& d, RequestContext& ctx) {
  const auto id = id_param(ctx, "customer_id");
  auto data = export_customer(ctx.tx(), id, d.now_ms());
  if (!data.ok()) return to_api(d.s, ctx, data.error());
  ctx.set_audit({"customer", std::to_string(id), nullptr, {{"exported", true}}, "gdpr export"});
  return Response::ok(*data);
}

HandlerResult post_erase(DomainContext& d, RequestContext& ctx) {
  const auto id = id_param(ctx, "customer_id");
  ctx.set_audit({"customer", std::to_string(id), nullptr, nullptr, ""});
  auto erased_at = erase_customer(ctx.tx(), id, d.now_ms());
  if (!erased_at.ok()) return to_api(d.s, ctx, erased_at.error());
  ctx.set_audit(
      {"customer", std::to_string(id), nullptr, {{"erased_at", *erased_at}}, "gdpr erase"});
  ctx.after_commit([&d, id] { d.s.sessions.forget_cached(AccountKind::kCustomer, id); });
  return Response::ok({{"id", id}, {"erased_at", *erased_at}});
}

HandlerResult post_coins(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  CoinAdjustment adjustment;
  adjustment.delta = r.integer("delta", -1'000'000, 1'000'000);
  adjustment.reason = r.string("reason", 1, 200);
  if (r.ok() && adjustment.delta == 0) r.fail("delta", "must not be 0");
  RC_FINISH_BODY(r);
  adjustment.customer_id = id_param(ctx, "customer_id");
  adjustment.created_by = ctx.principal().account_id;
  const auto target = std::to_string(adjustment.customer_id);
  ctx.set_audit({"customer", target, nullptr, nullptr, adjustment.reason});
  auto adjusted = adjust_coins(ctx.tx(), adjustment, d.now_ms());
  if (!adjusted.ok()) return to_api(d.s, ctx, adjusted.error());
  const auto before = adjusted->balance_before;
  ctx.set_audit({"customer",
                 target,
                 {{"balance", before}},
                 {{"balance", adjusted->coins["balance"]}, {"delta", adjustment.delta}},
                 adjustment.reason});
  return Response::created(adjusted->coins);
}

// ---- coupons ------------------------------------------------------------------------------------

HandlerResult post_coupon(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  CouponDraft draft;
  draft.customer_id = r.optional_integer("customer_id", 1, INT64_MAX);
  draft.percent_off = r.optional_integer("percent_off", 1, 100);
  draft.amount_cents = r.optional_integer("amount_cents", 1, 100'000'000);
  draft.description = r.optional_string("description", 0, 500).value_or("");
  draft.valid_days = r.optional_integer("valid_days", 1, 3650).value_or(365);
  if (r.ok() && draft.percent_off.has_value() == draft.amount_cents.has_value()) {
    r.fail("percent_off", "give exactly one of percent_off and amount_cents");
  }
  RC_FINISH_BODY(r);
  draft.issued_by = ctx.principal().account_id;
  auto coupon = issue_coupon(ctx.tx(), draft, d.now_ms());
  if (!coupon.ok()) return to_api(d.s, ctx, coupon.error());
  ctx.set_audit({"coupon", id_of(*coupon), nullptr, *coupon, ""});
  return Response::created(*coupon);
}

HandlerResult get_coupons(DomainContext& d, RequestContext& ctx) {
  auto customer = query_int(ctx, "customer_id", 1, INT64_MAX);
  if (!customer.ok()) return std::move(customer).error();
  return respond_items(d, ctx, list_coupons(ctx.tx(), *customer));
}

HandlerResult post_redeem(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  CouponRedemption redemption;
  redemption.code = r.string("code", 6, 32);
  redemption.place = r.optional_string("place", 0, 200).value_or("");
  RC_FINISH_BODY(r);
  redemption.redeemed_by = ctx.principal().account_id;
  redemption.request_id = ctx.request_id();
  ctx.set_audit({"coupon", redemption.code, nullptr, nullptr, ""});
  auto coupon = redeem_coupon(ctx.tx(), redemption, d.now_ms());
  if (!coupon.ok()) return to_api(d.s, ctx, coupon.error());
  ctx.set_audit({"coupon", id_of(*coupon), nullptr, *coupon, ""});
  return Response::ok(*coupon);
}

// ---- the customer's own -------------------------------------------------------------------------

HandlerResult get_own_coins(DomainContext& d, RequestContext& ctx) {
  return respond(d, ctx, customer_coins(ctx.tx(), ctx.principal().account_id));
}

HandlerResult get_own_coupons(DomainContext& d, RequestContext& ctx) {
  return respond_items(d, ctx, list_coupons(ctx.tx(), ctx.principal().account_id));
}

HandlerResult get_own_export(DomainContext& d, RequestContext& ctx) {
  auto data = export_customer(ctx.tx(), ctx.principal().account_id, d.now_ms());
  // A customer row is never deleted, so this is not expected; the answer stays what this route
  // always gave for a missing customer (200 with null).
  if (!data.ok() && data.error().kind == ErrorCode::kNotFound) return Response::ok(nullptr);
  return respond(d, ctx, std::move(data));
}

// ---- route table --------------------------------------------------------------------------------

void add_product_routes(Router& router, const std::shared_ptr<DomainContext>& d) {
  router.add(route(L::kInternal, M::kGet, "/internal/v1/products", Access::needs(P::kProductsWrite),
                   "product.list", false, BodyKind::kNone,
                   "All products, listed or not; filter by status, unpriced, title",
                   with_domain(d, get_products)));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/products",
                   Access::needs(P::kProductsWrite), "product.create", true, BodyKind::kRequired,
                   "Create a product (unpriced, so not listed until a manager sets a price)",
                   with_domain(d, post_product)));
  router.add(route(L::kInternal, M::kGet, "/internal/v1/products/{id}",
                   Access::needs(P::kProductsWrite), "product.read", false, BodyKind::kNone,
                   "One product with its price history", with_domain(d, get_product)));
  router.add(route(L::kInternal, M::kPatch, "/internal/v1/products/{id}",
                   Access::needs(P::kProductsWrite), "product.update", true, BodyKind::kRequired,
                   "Edit a product's description or withdraw/relist it (not its price)",
                   with_domain(d, patch_product)));
  router.add(route(L::kInternal, M::kPut, "/internal/v1/products/{id}/price",
                   Access::needs(P::kPricesWrite), "product.price", true, BodyKind::kRequired,
                   "Set a product's price (recorded in its price history)",
                   with_domain(d, put_price)));
}

void add_customer_routes(Router& router, const std::shared_ptr<DomainContext>& d) {
  router.add(route(L::kInternal, M::kGet, "/internal/v1/customers",
                   Access::needs(P::kCustomersReadMasked), "customer.list", false, BodyKind::kNone,
                   "Customers; personal data masked unless the caller has customers.read_full",
                   with_domain(d, get_customers)));
  router.add(
      route(L::kInternal, M::kGet, "/internal/v1/customers/{customer_id}",
            Access::needs(P::kCustomersReadMasked), "customer.admin_read", false, BodyKind::kNone,
            "One customer with coin balance and order counts; masked unless customers.read_full",
            with_domain(d, get_customer)));
  router.add(route(L::kInternal, M::kGet, "/internal/v1/customers/{customer_id}/export",
                   Access::needs(P::kCustomersReadFull), "customer.export", true, BodyKind::kNone,
                   "GDPR: everything held about one customer, as JSON (audited)",
                   with_domain(d, get_customer_export)));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/customers/{customer_id}/erase",
                   Access::needs(P::kCustomersReadFull), "customer.erase", true, BodyKind::kNone,
                   "GDPR: anonymise a customer; orders, payments and coins stay consistent",
                   with_domain(d, post_erase)));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/customers/{customer_id}/coins",
                   Access::needs(P::kPricesWrite), "customer.coins", true, BodyKind::kRequired,
                   "Add a coin ledger record (goodwill credit or correction); never below 0",
                   with_domain(d, post_coins)));
}

void add_coupon_routes(Router& router, const std::shared_ptr<DomainContext>& d) {
  router.add(route(L::kInternal, M::kPost, "/internal/v1/coupons", Access::needs(P::kPricesWrite),
                   "coupon.issue", true, BodyKind::kRequired,
                   "Issue an offline coupon (percent or amount off), optionally to a customer",
                   with_domain(d, post_coupon)));
  router.add(route(L::kInternal, M::kGet, "/internal/v1/coupons",
                   Access::needs(P::kCustomersReadMasked), "coupon.list", false, BodyKind::kNone,
                   "Coupons with their usage records; filter by customer_id",
                   with_domain(d, get_coupons)));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/coupons/redeem",
                   Access::needs(P::kOrdersReadAssigned), "coupon.redeem", true,
                   BodyKind::kRequired,
                   "Redeem an offline coupon by its code: once only, with a usage record",
                   with_domain(d, post_redeem)));
}

void add_own_routes(Router& router, const std::shared_ptr<DomainContext>& d) {
  router.add(route(L::kPublic, M::kGet, "/v1/coins", Access::customer(), "coins.read", false,
                   BodyKind::kNone, "Coin balance (the sum of the ledger records) and the records",
                   with_domain(d, get_own_coins)));
  router.add(route(L::kPublic, M::kGet, "/v1/coupons", Access::customer(), "coupons.read", false,
                   BodyKind::kNone, "The customer's coupons", with_domain(d, get_own_coupons)));
  auto self_export = route(L::kPublic, M::kGet, "/v1/customers/{customer_id}/export",
                           Access::customer(), "customer.self_export", false, BodyKind::kNone,
                           "GDPR: all of one's own data as JSON", with_domain(d, get_own_export));
  self_export.owner_param = "customer_id";
  router.add(std::move(self_export));
}

}  // namespace
}  // namespace management_routes

void register_management_routes(Router& router, const std::shared_ptr<DomainContext>& d) {
  management_routes::add_product_routes(router, d);
  management_routes::add_customer_routes(router, d);
  management_routes::add_coupon_routes(router, d);
  management_routes::add_own_routes(router, d);
}

}  // namespace reclothes::controller::domain
