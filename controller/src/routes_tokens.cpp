// Signing keys and courier tokens (internal listener).
#include "reclothes/controller/fleet.h"
#include "route_util.h"

namespace reclothes::controller {

void register_token_routes(Router& router, const Services& s) {
  using L = Listener;
  using M = HttpMethod;
  using P = Permission;

  router.add(route(L::kInternal, M::kGet, "/internal/v1/keys", Access::needs(P::kKeysRotate),
                   "keys.list", false, BodyKind::kNone, "Token signing keys and their status",
                   [&s](RequestContext& ctx) -> HandlerResult {
                     return Response::ok(s.tokens.list_keys(ctx.tx()));
                   }));

  router.add(route(L::kInternal, M::kPost, "/internal/v1/keys/rotate",
                   Access::needs(P::kKeysRotate), "keys.rotate", true, BodyKind::kNone,
                   "Make a new active signing key; the old one keeps verifying (retiring)",
                   [&s](RequestContext& ctx) -> HandlerResult {
                     const auto before = s.tokens.list_keys(ctx.tx());
                     auto id = s.tokens.rotate(ctx.tx());
                     if (!id.ok()) return api_error(id.error());
                     const auto after = s.tokens.list_keys(ctx.tx());
                     ctx.set_audit({"signing_key", std::to_string(*id), before, after, ""});
                     // Boxes learn the new public key through their retained config.
                     ctx.after_commit([&s] { s.messaging.publish_all_configs(); });
                     return Response::created({{"key_id", *id}, {"keys", after["items"]}});
                   }));

  router.add(
      route(L::kInternal, M::kPost, "/internal/v1/keys/{key_id}/retire",
            Access::needs(P::kKeysRotate), "keys.retire", true, BodyKind::kNone,
            "Retire a non-active key: boxes refuse tokens it signed",
            [&s](RequestContext& ctx) -> HandlerResult {
              const auto key_id = id_param(ctx, "key_id");
              if (key_id < 1 || key_id > 65535) return ApiError::not_found("signing key");
              ctx.set_audit({"signing_key", std::to_string(key_id), nullptr, nullptr, ""});
              auto done = s.tokens.retire(ctx.tx(), static_cast<std::uint16_t>(key_id));
              if (!done.ok()) {
                if (done.error().code == ErrorCode::kFailedPrecondition) {
                  return ApiError::conflict("key_active", done.error().message);
                }
                return api_error(done.error());
              }
              ctx.set_audit(
                  {"signing_key", std::to_string(key_id), nullptr, {{"status", "retired"}}, ""});
              ctx.after_commit([&s] { s.messaging.publish_all_configs(); });
              return Response::ok(s.tokens.list_keys(ctx.tx()));
            }));

  router.add(route(
      L::kInternal, M::kPost, "/internal/v1/tokens/courier", Access::needs(P::kTokensIssueCourier),
      "tokens.courier", true, BodyKind::kRequired,
      "Issue a courier token (collect or load) for compartments of one box",
      [&s](RequestContext& ctx) -> HandlerResult {
        FieldReader r(ctx.body());
        const auto box_id = r.string("box_id", 1, kMaxBoxIdLength);
        const auto numbers = r.integer_array("compartments", kMaxTokenCompartments, 1, 255);
        const auto action_name = r.string("action", 1, 32);
        const auto validity =
            r.optional_integer("validity_s", 60, s.config.tokens.max_validity.count());
        RC_FINISH_BODY(r);
        const auto action = token_action_from_string(action_name);
        if (!action ||
            (*action != TokenAction::kCourierCollect && *action != TokenAction::kCourierLoad)) {
          return ApiError::invalid_field(
              {"/action", "must be \"courier_collect\" or \"courier_load\""});
        }
        if (numbers.empty()) return ApiError::invalid_field({"/compartments", "must not be empty"});
        ctx.set_audit({"box", box_id, nullptr, nullptr, ""});
        const auto status = lock_box(ctx.tx(), box_id);
        if (!status) return ApiError::not_found("box " + box_id);
        if (*status == "decommissioned") {
          return ApiError::conflict("box_decommissioned", "box " + box_id + " is decommissioned");
        }
        std::vector<std::uint8_t> compartments;
        for (auto n : numbers) {
          if (!compartment_exists(ctx.tx(), box_id, static_cast<int>(n))) {
            return ApiError::not_found("compartment " + std::to_string(n) + " of box " + box_id);
          }
          compartments.push_back(static_cast<std::uint8_t>(n));
        }
        TokenRequest req;
        req.action = *action;
        req.box_id = box_id;
        req.compartments = compartments;
        req.validity =
            validity ? std::chrono::seconds(*validity) : s.config.tokens.courier_validity;
        req.issued_by = ctx.principal().account_id;
        auto issued = s.tokens.issue(ctx.tx(), req);
        if (!issued.ok()) return api_error(issued.error());
        // The audit row names the token, never its text (which is a bearer credential).
        ctx.set_audit({"box",
                       box_id,
                       nullptr,
                       {{"token_id", issued->token_id},
                        {"action", action_name},
                        {"compartments", numbers},
                        {"expires", ts(issued->expires * 1000)}},
                       ""});
        return Response::created(issued->to_json());
      }));

  router.add(route(
      L::kInternal, M::kPost, "/internal/v1/tokens/{token_id}/revoke",
      Access::needs(P::kFleetWrite), "tokens.revoke", true, BodyKind::kNone,
      "Revoke an issued token: its box learns it through the revocation list in its "
      "config",
      [&s](RequestContext& ctx) -> HandlerResult {
        const auto& token_id = ctx.param("token_id");
        ctx.set_audit({"token", token_id, nullptr, nullptr, ""});
        auto box_id = s.tokens.revoke(ctx.tx(), token_id);
        if (!box_id.ok()) return api_error(box_id.error());
        ctx.set_audit({"token", token_id, nullptr, {{"revoked", true}, {"box_id", *box_id}}, ""});
        const auto box = *box_id;
        ctx.after_commit([&s, box] { s.messaging.publish_config(box); });
        return Response::ok({{"token_id", token_id}, {"box_id", box}, {"revoked", true}});
      }));
}

}  // namespace reclothes::controller
