// Donating orders over HTTP (public listener, customers): create, list, read, cancel, and the
// deposit QR code. The SQL and the box-event effects are in store/donation_store.cpp.
#include "../store/donation_store.h"
#include "reclothes/controller/domain/png.h"
#include "reclothes/controller/domain/rules.h"
#include "route_common.h"

namespace reclothes::controller::domain {
namespace {

constexpr std::size_t kMaxDonationItems = 20;

std::string donation_category_names() {
  std::string names;
  for (const auto& c : all_categories()) names += (names.empty() ? "" : ", ") + std::string(c.name);
  return names;
}

// The body of POST /v1/donations: a location and 1..20 items of known categories.
Result<NewDonation, ApiError> read_new_donation(RequestContext& ctx) {
  FieldReader r(ctx.body());
  NewDonation req;
  req.customer_id = ctx.principal().account_id;
  req.location_id = r.integer("location_id", 1, INT64_MAX);
  if (const auto* arr = r.array("items", true, 1, kMaxDonationItems)) {
    for (std::size_t i = 0; i < arr->size() && r.ok(); ++i) {
      FieldReader item((*arr)[i], r.pointer("items") + "/" + std::to_string(i));
      DonationItem it;
      it.category = item.string("category", 1, 32);
      it.count = static_cast<int>(item.integer("count", 1, 50));
      it.condition_notes = item.optional_string("condition_notes", 0, 500).value_or("");
      if (item.ok() && !find_category(it.category)) {
        item.fail("category", "must be one of " + donation_category_names());
      }
      item.finish();
      r.merge(item);
      req.items.push_back(std::move(it));
    }
  }
  RC_FINISH_BODY(r);
  return req;
}

// After commit, the box learns the change: the revoke command first, then its new config.
void publish_donation_change(const DomainContext& d, RequestContext& ctx, const DonationChange& c) {
  const auto* s = &d.s;
  ctx.after_commit([s, box = c.box_id, cmd = c.revoke] {
    if (cmd) s->messaging.publish_command(box, *cmd);
    s->messaging.publish_config(box);
  });
}

HandlerResult create_donation_handler(DomainContext& d, RequestContext& ctx) {
  auto req = read_new_donation(ctx);
  if (!req.ok()) return std::move(req).error();
  auto created = create_donation(d, ctx.tx(), *req, d.now_ms());
  if (!created.ok()) return to_api(d.s, ctx, created.error());
  publish_donation_change(d, ctx, *created);
  return Response::created(std::move(created->donation));
}

HandlerResult cancel_donation_handler(DomainContext& d, RequestContext& ctx) {
  auto cancelled =
      cancel_donation(d, ctx.tx(), ctx.principal().account_id, id_param(ctx, "id"), d.now_ms());
  if (!cancelled.ok()) return to_api(d.s, ctx, cancelled.error());
  publish_donation_change(d, ctx, *cancelled);
  return Response::ok(std::move(cancelled->donation));
}

HandlerResult donation_qr_handler(DomainContext& d, RequestContext& ctx) {
  auto text = deposit_token_text(ctx.tx(), ctx.principal().account_id, id_param(ctx, "id"));
  if (!text.ok()) return to_api(d.s, ctx, text.error());
  auto png = render_qr_png(*text);
  if (!png.ok()) return api_error(png.error());
  return Response::text(200, std::move(png).value(), "image/png");
}

}  // namespace

void register_donation_routes(Router& router, const std::shared_ptr<DomainContext>& dp) {
  using L = Listener;
  using M = HttpMethod;
  auto d = dp;

  router.add(
      idempotent(route(L::kPublic, M::kPost, "/v1/donations", Access::customer(), "donation.create",
                       false, BodyKind::kRequired,
                       "Create a donating order: reserves a compartment and issues a deposit token",
                       [d](RequestContext& ctx) { return create_donation_handler(*d, ctx); })));

  router.add(route(L::kPublic, M::kGet, "/v1/donations", Access::customer(), "donation.list", false,
                   BodyKind::kNone, "The customer's donating orders, newest first",
                   [d](RequestContext& ctx) -> HandlerResult {
                     auto items = list_donations(ctx.tx(), ctx.principal().account_id);
                     if (!items.ok()) return to_api(d->s, ctx, items.error());
                     return Response::ok({{"items", std::move(items).value()}});
                   }));

  router.add(route(L::kPublic, M::kGet, "/v1/donations/{id}", Access::customer(), "donation.read",
                   false, BodyKind::kNone, "One donating order (the customer's own)",
                   [d](RequestContext& ctx) -> HandlerResult {
                     auto donation =
                         get_donation(ctx.tx(), ctx.principal().account_id, id_param(ctx, "id"));
                     if (!donation.ok()) return to_api(d->s, ctx, donation.error());
                     return Response::ok(std::move(donation).value());
                   }));

  router.add(route(L::kPublic, M::kPost, "/v1/donations/{id}/cancel", Access::customer(),
                   "donation.cancel", false, BodyKind::kNone,
                   "Cancel before depositing: the reservation is released and the token revoked",
                   [d](RequestContext& ctx) { return cancel_donation_handler(*d, ctx); }));

  router.add(route(L::kPublic, M::kGet, "/v1/donations/{id}/qr.png", Access::customer(),
                   "donation.qr", false, BodyKind::kNone,
                   "The deposit token as a QR code PNG (while the donation is reserved)",
                   [d](RequestContext& ctx) { return donation_qr_handler(*d, ctx); }));
}

}  // namespace reclothes::controller::domain
