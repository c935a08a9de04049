// Buying routes: the product catalogue, the cart and the customer's buying orders (create with
// payment, read, cancel, return, QR code). The handlers read the request, call the buying store
// (store/buying_store.h) and answer; every statement is in the store.
#include <algorithm>

#include "../store/buying_store.h"
#include "reclothes/controller/domain/png.h"
#include "route_common.h"

namespace reclothes::controller::domain {
namespace {

// A JSON answer from a store result.
HandlerResult buying_reply(const DomainContext& d, const RequestContext& ctx,
                           StoreResult<nlohmann::json> r, int status = 200) {
  if (!r.ok()) return to_api(d.s, ctx, r.error());
  return Response::with(status, std::move(r).value());
}

// ---- catalogue and cart -------------------------------------------------------------------------

Result<ProductQuery, ApiError> browse_query(const RequestContext& ctx) {
  ProductQuery q;
  q.category = ctx.query("category");
  q.size = ctx.query("size");
  q.text = ctx.query("q");
  if (q.text && q.text->size() > 100) return invalid_query("q", "at most 100 characters");
  if (auto e = read_int_query(ctx, "min_price", 0, INT64_MAX / 2, q.min_price)) return *e;
  if (auto e = read_int_query(ctx, "max_price", 0, INT64_MAX / 2, q.max_price)) return *e;
  std::optional<std::int64_t> limit, offset;
  if (auto e = read_int_query(ctx, "limit", 1, 100, limit)) return *e;
  if (auto e = read_int_query(ctx, "offset", 0, 1000000, offset)) return *e;
  q.limit = limit.value_or(20);
  q.offset = offset.value_or(0);
  if (auto sort = ctx.query("sort")) {
    if (*sort == "price_asc") {
      q.sort = ProductSort::kPriceAsc;
    } else if (*sort == "price_desc") {
      q.sort = ProductSort::kPriceDesc;
    } else if (*sort != "newest") {
      return invalid_query("sort", "must be newest, price_asc or price_desc");
    }
  }
  return q;
}

HandlerResult browse_products(const DomainContext& d, RequestContext& ctx) {
  auto q = browse_query(ctx);
  if (!q.ok()) return std::move(q).error();
  auto page = list_products(ctx.tx(), *q);
  if (!page.ok()) return to_api(d.s, ctx, page.error());
  return Response::ok(
      {{"items", page->items}, {"total", page->total}, {"limit", q->limit}, {"offset", q->offset}});
}

HandlerResult put_in_cart(const DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto product = r.integer("product_id", 1, INT64_MAX);
  RC_FINISH_BODY(r);
  return buying_reply(
      d, ctx, add_to_cart(ctx.autocommit(), ctx.principal().account_id, product, d.now_ms()), 201);
}

// ---- orders -------------------------------------------------------------------------------------

// The card of POST /v1/orders (digits only; never stored).
Card read_card(FieldReader& r) {
  Card card;
  if (const auto* pay = r.object("payment", true)) {
    FieldReader p = r.child("payment", *pay);
    card.number = p.string("card_number", 12, 19);
    card.exp_month = static_cast<int>(p.integer("exp_month", 1, 12));
    card.exp_year = static_cast<int>(p.integer("exp_year", 2000, 2100));
    card.cvc = p.string("cvc", 3, 4);
    if (p.ok() && !std::all_of(card.number.begin(), card.number.end(),
                               [](char c) { return c >= '0' && c <= '9'; })) {
      p.fail("card_number", "must be digits only");
    }
    p.finish();
    r.merge(p);
  }
  return card;
}

HandlerResult buy_cart(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  NewOrder order;
  order.customer_id = ctx.principal().account_id;
  order.pickup_location_id = r.integer("pickup_location_id", 1, INT64_MAX);
  order.card = read_card(r);
  RC_FINISH_BODY(r);
  auto id = create_order(d, order);
  if (!id.ok()) {
    const auto& e = id.error();
    // Not a dependency that is down for a moment: no Retry-After, the code says what is missing.
    if (e.code == "payments_unavailable") {
      return ApiError{503, e.code, e.message, e.details, std::nullopt};
    }
    return to_api(d.s, ctx, e);
  }
  return buying_reply(d, ctx, order_view(ctx.tx(), *id), 201);
}

HandlerResult cancel_buying(DomainContext& d, RequestContext& ctx) {
  const auto id = id_param(ctx, "id");
  // The request's own transaction is not used until the end, so the request never holds two
  // pooled connections at once.
  auto done = cancel_order(d, id, ctx.principal().account_id);
  if (!done.ok()) return to_api(d.s, ctx, done.error());
  return buying_reply(d, ctx, order_view(ctx.tx(), id));
}

HandlerResult return_through_box(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  ReturnRequest request;
  request.location_id = r.integer("location_id", 1, INT64_MAX);
  RC_FINISH_BODY(r);
  request.order_id = id_param(ctx, "id");
  request.customer_id = ctx.principal().account_id;
  auto reserved = request_return(d, ctx.tx(), request, d.now_ms());
  if (!reserved.ok()) return to_api(d.s, ctx, reserved.error());
  const auto* s = &d.s;
  ctx.after_commit([s, box = reserved->box_id] { s->messaging.publish_config(box); });
  return Response::ok(std::move(reserved->order));
}

HandlerResult buying_order_qr(const DomainContext& d, RequestContext& ctx) {
  auto text = order_token_text(ctx.tx(), id_param(ctx, "id"), ctx.principal().account_id);
  if (!text.ok()) return to_api(d.s, ctx, text.error());
  auto png = render_qr_png(*text);
  if (!png.ok()) return api_error(png.error());
  return Response::text(200, std::move(png).value(), "image/png");
}

}  // namespace

Result<std::string, ApiError> complete_packing(DomainContext& d, pqxx::work& tx,
                                               std::int64_t order_id, std::int64_t now) {
  auto box = pack_order(d, tx, order_id, now);
  if (box.ok()) return std::move(box).value();
  if (!box.error().cause.empty()) {
    d.s.log.error("store error", {{"order", order_id}, {"error", box.error().cause}});
  }
  return to_api(box.error());
}

void register_buying_routes(Router& router, const std::shared_ptr<DomainContext>& dp) {
  using L = Listener;
  using M = HttpMethod;
  auto d = dp;

  router.add(route(L::kPublic, M::kGet, "/v1/products", Access::anyone(), "product.browse", false,
                   BodyKind::kNone,
                   "Browse listed products: filter by category, size, price range; search; page",
                   [d](RequestContext& ctx) { return browse_products(*d, ctx); }));

  router.add(route(L::kPublic, M::kGet, "/v1/products/{id}", Access::anyone(), "product.view",
                   false, BodyKind::kNone, "One listed product", [d](RequestContext& ctx) {
                     return buying_reply(*d, ctx, listed_product(ctx.read(), id_param(ctx, "id")));
                   }));

  router.add(route(L::kPublic, M::kGet, "/v1/cart", Access::customer(), "cart.read", false,
                   BodyKind::kNone, "The customer's cart", [d](RequestContext& ctx) {
                     return buying_reply(*d, ctx,
                                         read_cart(ctx.read(), ctx.principal().account_id));
                   }));

  router.add(
      idempotent(route(L::kPublic, M::kPost, "/v1/cart/items", Access::customer(), "cart.add",
                       false, BodyKind::kRequired, "Put a listed product into the cart",
                       [d](RequestContext& ctx) { return put_in_cart(*d, ctx); })));

  router.add(route(
      L::kPublic, M::kDelete, "/v1/cart/items/{id}", Access::customer(), "cart.remove", false,
      BodyKind::kNone, "Take a product out of the cart", [d](RequestContext& ctx) {
        return buying_reply(
            *d, ctx,
            remove_from_cart(ctx.autocommit(), ctx.principal().account_id, id_param(ctx, "id")));
      }));

  router.add(idempotent(route(L::kPublic, M::kPost, "/v1/orders", Access::customer(),
                              "order.create", false, BodyKind::kRequired,
                              "Buy the cart: reserves the products and pays through the provider",
                              [d](RequestContext& ctx) { return buy_cart(*d, ctx); })));

  router.add(route(L::kPublic, M::kGet, "/v1/orders", Access::customer(), "order.list", false,
                   BodyKind::kNone, "The customer's buying orders, newest first",
                   [d](RequestContext& ctx) -> HandlerResult {
                     auto items = list_orders(ctx.tx(), ctx.principal().account_id);
                     if (!items.ok()) return to_api(d->s, ctx, items.error());
                     return Response::ok({{"items", std::move(items).value()}});
                   }));

  router.add(route(
      L::kPublic, M::kGet, "/v1/orders/{id}", Access::customer(), "order.read", false,
      BodyKind::kNone, "One buying order (own); includes the pickup token once ready for pickup",
      [d](RequestContext& ctx) {
        return buying_reply(*d, ctx,
                            read_order(ctx.tx(), id_param(ctx, "id"), ctx.principal().account_id));
      }));

  router.add(route(L::kPublic, M::kPost, "/v1/orders/{id}/cancel", Access::customer(),
                   "order.cancel", false, BodyKind::kNone,
                   "Cancel before shipping; a paid order is refunded",
                   [d](RequestContext& ctx) { return cancel_buying(*d, ctx); }));

  router.add(
      idempotent(route(L::kPublic, M::kPost, "/v1/orders/{id}/return", Access::customer(),
                       "order.return", false, BodyKind::kRequired,
                       "Return a picked-up order through a box: reserves a compartment, issues a "
                       "return token",
                       [d](RequestContext& ctx) { return return_through_box(*d, ctx); })));

  router.add(route(L::kPublic, M::kGet, "/v1/orders/{id}/qr.png", Access::customer(), "order.qr",
                   false, BodyKind::kNone,
                   "The order's current token (pickup or return) as a QR code PNG",
                   [d](RequestContext& ctx) { return buying_order_qr(*d, ctx); }));
}

}  // namespace reclothes::controller::domain
