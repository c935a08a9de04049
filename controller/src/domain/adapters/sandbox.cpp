#include "reclothes/controller/domain/sandbox.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "reclothes/controller/domain/rules.h"

namespace reclothes::controller::domain {
namespace {

nlohmann::json error_json(const std::string& code, const std::string& message) {
  return {{"error", {{"code", code}, {"message", message}}}};
}

}  // namespace

Result<std::unique_ptr<SandboxPaymentProvider>> SandboxPaymentProvider::start(Options options) {
  std::unique_ptr<SandboxPaymentProvider> p(new SandboxPaymentProvider(std::move(options)));
  auto& server = *p->server_;
  server.new_task_queue = [] { return new httplib::ThreadPool(8); };
  server.set_tcp_nodelay(true);
  auto* self = p.get();
  server.Post(".*", [self](const httplib::Request& req, httplib::Response& res) {
    self->handle(req, res);
  });
  server.Get("/sandbox/stats", [self](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(self->mu_);
    nlohmann::json j = {{"charges", self->charges_by_key_},
                        {"refunds", self->refunds_by_key_},
                        {"total_charges", self->total_charges_},
                        {"total_refunds", self->total_refunds_}};
    res.set_content(j.dump(), "application/json");
  });
  if (p->options_.port == 0) {
    p->port_ = server.bind_to_any_port(p->options_.host);
  } else if (server.bind_to_port(p->options_.host, p->options_.port)) {
    p->port_ = p->options_.port;
  }
  if (p->port_ <= 0) {
    return make_error(ErrorCode::kUnavailable, "sandbox payment provider: cannot bind " +
                                                   p->options_.host + ":" +
                                                   std::to_string(p->options_.port));
  }
  p->thread_ = std::thread([self] { self->server_->listen_after_bind(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return p;
}

SandboxPaymentProvider::SandboxPaymentProvider(Options options)
    : options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {}

SandboxPaymentProvider::~SandboxPaymentProvider() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string SandboxPaymentProvider::url() const {
  return "http://" + options_.host + ":" + std::to_string(port_);
}

void SandboxPaymentProvider::sleep_interruptibly(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_; });
}

int SandboxPaymentProvider::charges_for_key(const std::string& key) const {
  std::lock_guard lock(mu_);
  const auto it = charges_by_key_.find(key);
  return it == charges_by_key_.end() ? 0 : it->second;
}

int SandboxPaymentProvider::refunds_for_key(const std::string& key) const {
  std::lock_guard lock(mu_);
  const auto it = refunds_by_key_.find(key);
  return it == refunds_by_key_.end() ? 0 : it->second;
}

int SandboxPaymentProvider::total_charges() const {
  std::lock_guard lock(mu_);
  return total_charges_;
}

int SandboxPaymentProvider::total_refunds() const {
  std::lock_guard lock(mu_);
  return total_refunds_;
}

int SandboxPaymentProvider::requests_for_key(const std::string& key) const {
  std::lock_guard lock(mu_);
  const auto it = requests_.find(key);
  return it == requests_.end() ? 0 : it->second;
}

std::int64_t SandboxPaymentProvider::net_amount(const std::string& charge_id) const {
  std::lock_guard lock(mu_);
  const auto it = charges_.find(charge_id);
  return it == charges_.end() ? 0 : it->second.amount - it->second.refunded;
}

void SandboxPaymentProvider::handle(const httplib::Request& req, httplib::Response& res) {
  const auto reply = [&res](int status, const nlohmann::json& j) {
    res.status = status;
    res.set_content(j.dump(), "application/json");
  };
  const auto key = req.get_header_value("Idempotency-Key");
  if (key.empty() || key.size() > 255) {
    return reply(400, error_json("missing_idempotency_key", "Idempotency-Key is required"));
  }
  if (req.get_header_value("Authorization").rfind("Bearer ", 0) != 0) {
    return reply(401, error_json("unauthenticated", "an API key is required"));
  }
  const auto body = nlohmann::json::parse(req.body, nullptr, false);
  if (!body.is_object()) return reply(400, error_json("malformed_json", "body must be an object"));
  const auto fingerprint = req.path + "\n" + body.dump();

  enum class Behaviour { kOk, kDeclined, kSlow, kFlaky, kOutage, kDrop, kDown };
  Behaviour behaviour = Behaviour::kOk;
  bool replay = false;
  Stored answer;
  {
    std::lock_guard lock(mu_);
    const int seen = ++requests_[key];
    if (const auto it = stored_.find(key); it != stored_.end()) {
      if (it->second.fingerprint != fingerprint) {
        return reply(
            422, error_json("idempotency_key_reuse", "this key was used with a different request"));
      }
      replay = true;
      answer = it->second;
    } else if (req.path == "/v1/payment_methods") {
      const auto number = body.value("card_number", std::string());
      const auto month = body.value("exp_month", 0);
      const auto year = body.value("exp_year", 0);
      const auto cvc = body.value("cvc", std::string());
      if (!is_plausible_card_number(number) || month < 1 || month > 12 || year < 2000 ||
          cvc.size() < 3 || cvc.size() > 4) {
        answer = {fingerprint, 400,
                  error_json("invalid_card", "the card details are invalid").dump()};
      } else {
        const auto id = "pm_" + std::to_string(next_id_++);
        methods_[id] = number;
        answer = {fingerprint, 201, nlohmann::json{{"id", id}, {"type", "card"}}.dump()};
      }
      stored_[key] = answer;
    } else if (req.path == "/v1/charges") {
      const auto method = body.value("payment_method", std::string());
      const auto amount = body.value("amount", std::int64_t{0});
      const auto card = methods_.find(method);
      if (card == methods_.end() || amount <= 0) {
        answer = {fingerprint, 400,
                  error_json("invalid_request", "unknown payment method or bad amount").dump()};
        stored_[key] = answer;
      } else {
        const auto& n = card->second;
        behaviour = n == kCardDeclined ? Behaviour::kDeclined
                    : n == kCardSlow   ? Behaviour::kSlow
                    : n == kCardFlaky  ? Behaviour::kFlaky
                    : n == kCardOutage ? Behaviour::kOutage
                    : n == kCardDrop   ? Behaviour::kDrop
                    : n == kCardDown   ? Behaviour::kDown
                                       : Behaviour::kOk;
        if (behaviour == Behaviour::kDown ||
            (behaviour == Behaviour::kFlaky && seen <= options_.flaky_failures) ||
            (behaviour == Behaviour::kOutage && seen <= options_.outage_failures)) {
          // Failed before any money moved; nothing is stored, so a retry is processed afresh.
          answer = {fingerprint, behaviour == Behaviour::kDown ? 500 : 503,
                    error_json("provider_error", "temporary failure").dump()};
        } else if (behaviour == Behaviour::kDeclined) {
          answer = {fingerprint, 402, error_json("card_declined", "the card was declined").dump()};
          stored_[key] = answer;
        } else {
          const auto id = "ch_" + std::to_string(next_id_++);
          charges_[id] = {amount, 0, key};
          ++charges_by_key_[key];
          ++total_charges_;
          answer = {fingerprint, 201,
                    nlohmann::json{{"id", id}, {"status", "succeeded"}, {"amount", amount}}.dump()};
          stored_[key] = answer;
        }
      }
    } else if (req.path == "/v1/refunds") {
      const auto charge = body.value("charge", std::string());
      const auto amount = body.value("amount", std::int64_t{0});
      const auto ch = charges_.find(charge);
      if (ch == charges_.end()) {
        answer = {fingerprint, 404, error_json("unknown_charge", "no such charge").dump()};
      } else if (amount <= 0 || ch->second.refunded + amount > ch->second.amount) {
        answer = {fingerprint, 400,
                  error_json("amount_exceeds_charge", "refunds would exceed the charge").dump()};
      } else {
        ch->second.refunded += amount;
        const auto id = "re_" + std::to_string(next_id_++);
        ++refunds_by_key_[key];
        ++total_refunds_;
        answer = {fingerprint, 201,
                  nlohmann::json{{"id", id}, {"status", "succeeded"}, {"amount", amount}}.dump()};
      }
      stored_[key] = answer;
    } else {
      return reply(404, error_json("not_found", "no such endpoint"));
    }
  }
  if (!replay && behaviour == Behaviour::kSlow) sleep_interruptibly(options_.slow_delay);
  if (!replay && behaviour == Behaviour::kDrop) {
    // Headers promise a body that never comes: httplib closes the connection when the provider
    // reports failure, so the client sees a broken response after the charge was made.
    res.status = answer.status;
    res.set_content_provider(answer.body.size(), "application/json",
                             [](std::size_t, std::size_t, httplib::DataSink&) { return false; });
    return;
  }
  res.status = answer.status;
  res.set_content(answer.body, "application/json");
}

}  // namespace reclothes::controller::domain
