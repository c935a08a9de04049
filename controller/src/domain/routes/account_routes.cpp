// The customer's own account on the public listener: change the password, reset it with a
// one-time code, change the email with a code sent to the new address, and erase the account.
// The handlers read the request, call the store (store/account_store.h, and erase_customer of
// store/management_store.h) and answer.
#include <prometheus/counter.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "../store/account_store.h"
#include "../store/management_store.h"
#include "reclothes/controller/accounts.h"
#include "route_common.h"

namespace reclothes::controller::domain {

// The module's names stay in a namespace of their own (unity builds).
namespace account_routes {
namespace {

// account_* series: codes issued and refused (by reason), passwords set (by how) and erasures on
// request.
struct AccountMetrics {
  explicit AccountMetrics(Metrics& m)
      : codes_issued(prometheus::BuildCounter()
                         .Name("reclothes_account_codes_issued_total")
                         .Help("One-time account codes issued, by purpose")
                         .Register(m.registry())),
        code_refusals(prometheus::BuildCounter()
                          .Name("reclothes_account_code_refusals_total")
                          .Help("Account codes refused, by purpose and reason (wrong, expired, "
                                "closed, exhausted, no_code, unreadable)")
                          .Register(m.registry())),
        passwords_set(prometheus::BuildCounter()
                          .Name("reclothes_account_passwords_set_total")
                          .Help("Customer passwords set, by how (change, reset)")
                          .Register(m.registry())),
        erasures(prometheus::BuildCounter()
                     .Name("reclothes_account_self_erasures_total")
                     .Help("Customer accounts erased at the customer's own request")
                     .Register(m.registry())
                     .Add({})) {
    // Every known series exists from the start at 0 (a family without a series is not exported,
    // and rate() needs the 0 before the first event).
    for (const char* purpose : {"password_reset", "email_change"}) {
      codes_issued.Add({{"purpose", purpose}});
      for (const char* reason :
           {"wrong", "expired", "closed", "exhausted", "no_code", "unreadable"}) {
        code_refusals.Add({{"purpose", purpose}, {"reason", reason}});
      }
    }
    for (const char* how : {"change", "reset"}) passwords_set.Add({{"how", how}});
  }
  prometheus::Family<prometheus::Counter>& codes_issued;
  prometheus::Family<prometheus::Counter>& code_refusals;
  prometheus::Family<prometheus::Counter>& passwords_set;
  prometheus::Counter& erasures;
};

struct AccountModule {
  std::shared_ptr<DomainContext> d;
  AccountMetrics metrics;
};
using AccountHandler = HandlerResult (*)(AccountModule&, RequestContext&);

Handler with_module(const std::shared_ptr<AccountModule>& m, AccountHandler handler) {
  return [m, handler](RequestContext& ctx) { return handler(*m, ctx); };
}

// A store refusal as the API's error; the limits' refusals are 429 with Retry-After.
ApiError account_error(AccountModule& m, const RequestContext& ctx, const DomainError& e) {
  if (e.kind == ErrorCode::kResourceExhausted) {
    const auto wait = e.details.value("retry_after_s", std::int64_t{1});
    return ApiError{429, e.code, e.message, e.details, static_cast<int>(wait)};
  }
  return to_api(m.d->s, ctx, e);
}

// The policy's problem with a new password as a 400 naming the field, or nullopt.
std::optional<ApiError> password_problem(AccountModule& m, const std::string& field,
                                         const std::string& password) {
  if (auto problem = m.d->s.passwords.policy_problem(password)) {
    return ApiError::invalid_field({"/" + field, *problem});
  }
  return std::nullopt;
}

void count_refusal(AccountModule& m, CodePurpose purpose, const std::string& reason) {
  m.metrics.code_refusals
      .Add({{"purpose", std::string(to_string(purpose))},
            {"reason", reason.empty() ? "other" : reason}})
      .Increment();
}

// ---- handlers -----------------------------------------------------------------------------------

HandlerResult post_password(AccountModule& m, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto current = r.string("current_password", 1, 1024);
  const auto next = r.string("new_password", 1, 1024);
  RC_FINISH_BODY(r);
  if (auto problem = password_problem(m, "new_password", next)) return *problem;
  const auto& me = ctx.principal();
  const auto target = std::to_string(me.account_id);
  ctx.set_audit({"customer", target, nullptr, nullptr, "password change"});
  if (auto ok = check_own_password(*m.d, me.account_id, me.email, current, ctx.address());
      !ok.ok()) {
    return account_error(m, ctx, ok.error());
  }
  auto ended = change_password(*m.d, ctx.tx(), me.account_id, me.session_id, next);
  if (!ended.ok()) return account_error(m, ctx, ended.error());
  ctx.set_audit({"customer", target, nullptr, {{"sessions_ended", *ended}}, "password change"});
  ctx.after_commit([&m, id = me.account_id] {
    m.d->s.sessions.forget_cached(AccountKind::kCustomer, id);
    m.metrics.passwords_set.Add({{"how", "change"}}).Increment();
  });
  return Response::ok({{"sessions_ended", *ended}});
}

// The one answer to every well-formed reset request, whether or not the email has an account.
Response reset_accepted() {
  return Response::with(
      202, {{"status", "accepted"},
            {"message",
             "if this email belongs to an account, a reset code is on its way; it is valid for a "
             "short time and once"}});
}

HandlerResult post_password_reset(AccountModule& m, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto typed = r.string("email", 1, 254);
  RC_FINISH_BODY(r);
  const auto email = normalize_email(typed);
  if (!email) return ApiError::invalid_field({"/email", "is not a valid email address"});
  const auto purpose = CodePurpose::kPasswordReset;
  if (auto counted = count_code_request(*m.d, purpose, *email, ctx.address()); !counted.ok()) {
    return account_error(m, ctx, counted.error());
  }
  auto issued = request_password_reset(*m.d, ctx.tx(), *email);
  if (!issued.ok()) return account_error(m, ctx, issued.error());
  if (*issued) {
    ctx.after_commit([&m] {
      m.metrics.codes_issued.Add({{"purpose", "password_reset"}}).Increment();
    });
  }
  return reset_accepted();
}

HandlerResult post_password_reset_confirm(AccountModule& m, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto typed = r.string("email", 1, 254);
  const auto code = r.string("code", 1, 64);
  const auto next = r.string("new_password", 1, 1024);
  RC_FINISH_BODY(r);
  if (auto problem = password_problem(m, "new_password", next)) return *problem;
  const auto purpose = CodePurpose::kPasswordReset;
  std::string reason;
  // An unreadable email is answered like a wrong code: the confirmation tells nothing either.
  const auto email = normalize_email(typed).value_or("");
  auto match = match_code(*m.d, purpose, CodeOwner{email, std::nullopt},
                          normalize_account_code(code), &reason);
  if (!match.ok()) {
    count_refusal(m, purpose, reason);
    return account_error(m, ctx, match.error());
  }
  ctx.set_audit(
      {"customer", std::to_string(match->customer_id), nullptr, nullptr, "password reset"});
  if (auto done = complete_password_reset(*m.d, ctx.tx(), *match, next); !done.ok()) {
    count_refusal(m, purpose, "closed");
    return account_error(m, ctx, done.error());
  }
  ctx.after_commit([&m, id = match->customer_id] {
    m.d->s.sessions.forget_cached(AccountKind::kCustomer, id);
    m.metrics.passwords_set.Add({{"how", "reset"}}).Increment();
  });
  return Response::ok({{"status", "password_changed"}});
}

HandlerResult post_email(AccountModule& m, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto password = r.string("password", 1, 1024);
  const auto typed = r.string("new_email", 1, 254);
  RC_FINISH_BODY(r);
  const auto email = normalize_email(typed);
  if (!email) return ApiError::invalid_field({"/new_email", "is not a valid email address"});
  const auto& me = ctx.principal();
  if (auto ok = check_own_password(*m.d, me.account_id, me.email, password, ctx.address());
      !ok.ok()) {
    return account_error(m, ctx, ok.error());
  }
  const auto purpose = CodePurpose::kEmailChange;
  if (auto counted = count_code_request(*m.d, purpose, *email, ctx.address()); !counted.ok()) {
    return account_error(m, ctx, counted.error());
  }
  auto expires = request_email_change(*m.d, ctx.tx(), me.account_id, *email);
  if (!expires.ok()) return account_error(m, ctx, expires.error());
  ctx.after_commit([&m] { m.metrics.codes_issued.Add({{"purpose", "email_change"}}).Increment(); });
  return Response::with(202,
                        {{"status", "code_sent"}, {"to_email", *email}, {"expires_at", *expires}});
}

HandlerResult post_email_confirm(AccountModule& m, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto code = r.string("code", 1, 64);
  RC_FINISH_BODY(r);
  const auto& me = ctx.principal();
  const auto purpose = CodePurpose::kEmailChange;
  std::string reason;
  auto match = match_code(*m.d, purpose, CodeOwner{std::nullopt, me.account_id},
                          normalize_account_code(code), &reason);
  if (!match.ok()) {
    count_refusal(m, purpose, reason);
    return account_error(m, ctx, match.error());
  }
  const auto target = std::to_string(me.account_id);
  ctx.set_audit({"customer", target, nullptr, nullptr, "email change"});
  auto customer = complete_email_change(*m.d, ctx.tx(), *match);
  if (!customer.ok()) return account_error(m, ctx, customer.error());
  // Staff see the change in the audit, without the addresses (personal data stays out of it).
  ctx.set_audit({"customer", target, nullptr, {{"email_changed", true}}, "email change"});
  ctx.after_commit(
      [&m, id = me.account_id] { m.d->s.sessions.forget_cached(AccountKind::kCustomer, id); });
  return Response::ok(*customer);
}

HandlerResult post_erase(AccountModule& m, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto password = r.string("password", 1, 1024);
  RC_FINISH_BODY(r);
  const auto& me = ctx.principal();
  const auto id = me.account_id;
  ctx.set_audit({"customer", std::to_string(id), nullptr, nullptr, "erase on request"});
  if (auto ok = check_own_password(*m.d, id, me.email, password, ctx.address()); !ok.ok()) {
    return account_error(m, ctx, ok.error());
  }
  // The staff erase's own function: the same personal data goes, the same records stay, and an
  // open donation or order blocks it (409 customer_has_open_orders listing them).
  auto erased_at = erase_customer(ctx.tx(), id, m.d->now_ms());
  if (!erased_at.ok()) return account_error(m, ctx, erased_at.error());
  ctx.set_audit(
      {"customer", std::to_string(id), nullptr, {{"erased_at", *erased_at}}, "erase on request"});
  ctx.after_commit([&m, id] {
    m.d->s.sessions.forget_cached(AccountKind::kCustomer, id);
    m.metrics.erasures.Increment();
  });
  return Response::ok({{"id", id}, {"erased_at", *erased_at}});
}

}  // namespace
}  // namespace account_routes

void register_account_routes(Router& router, const std::shared_ptr<DomainContext>& d) {
  using account_routes::with_module;
  using L = Listener;
  using M = HttpMethod;
  auto m = std::make_shared<account_routes::AccountModule>(
      account_routes::AccountModule{d, account_routes::AccountMetrics(d->s.metrics)});
  const auto add = [&](M method, const char* path, Access access, const char* action, bool audited,
                       const char* summary, account_routes::AccountHandler handler) {
    router.add(route(L::kPublic, method, path, access, action, audited, BodyKind::kRequired,
                     summary, with_module(m, handler)));
  };
  add(M::kPost, "/v1/customers/me/password", Access::customer(), "customer.password_change", true,
      "Change one's password (the current one required); every other session ends",
      account_routes::post_password);
  add(M::kPost, "/v1/password-reset", Access::anyone(), "customer.password_reset", false,
      "Ask for a one-time password reset code (the same answer for every email)",
      account_routes::post_password_reset);
  add(M::kPost, "/v1/password-reset/confirm", Access::anyone(), "customer.password_reset_confirm",
      true, "Set a new password with a reset code; every session ends",
      account_routes::post_password_reset_confirm);
  add(M::kPost, "/v1/customers/me/email", Access::customer(), "customer.email_change", false,
      "Ask to change one's email: a code goes to the new address", account_routes::post_email);
  add(M::kPost, "/v1/customers/me/email/confirm", Access::customer(),
      "customer.email_change_confirm", true, "Switch to the new email with the code sent to it",
      account_routes::post_email_confirm);
  add(M::kPost, "/v1/customers/me/erase", Access::customer(), "customer.erase", true,
      "Erase one's own account (GDPR), the password required", account_routes::post_erase);
}

}  // namespace reclothes::controller::domain
