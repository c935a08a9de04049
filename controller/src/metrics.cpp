#include "reclothes/controller/metrics.h"

#include <prometheus/text_serializer.h>

namespace reclothes::controller {

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("http_requests_total")
                   .Help("HTTP requests by listener, route template, method and status")
                   .Register(*registry_);
  durations_ = &prometheus::BuildHistogram()
                    .Name("http_request_duration_seconds")
                    .Help("HTTP request latency by listener, route template and method")
                    .Register(*registry_);
  rejected_ =
      &prometheus::BuildCounter()
           .Name("box_events_rejected_total")
           .Help("Box messages not applied (events, status, state, command results), by reason")
           .Register(*registry_);
  mqtt_messages_ = &prometheus::BuildCounter()
                        .Name("mqtt_messages_received_total")
                        .Help("MQTT messages received by topic leaf")
                        .Register(*registry_);
  rate_limited_ = &prometheus::BuildCounter()
                       .Name("http_rate_limited_total")
                       .Help("Requests refused with 429 by a rate limit, by route class and scope")
                       .Register(*registry_);
  idempotency_ = &prometheus::BuildCounter()
                      .Name("http_idempotency_keys_total")
                      .Help("Requests with an Idempotency-Key, by outcome")
                      .Register(*registry_);
  events_applied_ = &prometheus::BuildCounter()
                         .Name("box_events_applied_total")
                         .Help("Box events applied (first delivery)")
                         .Register(*registry_)
                         .Add({});
  events_duplicate_ = &prometheus::BuildCounter()
                           .Name("box_events_duplicate_total")
                           .Help("Box events received again after they were applied")
                           .Register(*registry_)
                           .Add({});
  queue_overflows_ = &prometheus::BuildCounter()
                          .Name("mqtt_queue_overflow_total")
                          .Help(
                              "Box messages queued beyond mqtt.queue_capacity because the apply "
                              "worker was behind for longer than the callback may wait")
                          .Register(*registry_)
                          .Add({});
  mqtt_connected_ = &prometheus::BuildGauge()
                         .Name("mqtt_connected")
                         .Help("1 while the controller is connected to the broker")
                         .Register(*registry_)
                         .Add({});
  boxes_online_ = &prometheus::BuildGauge()
                       .Name("boxes_online")
                       .Help("Boxes whose last status says online")
                       .Register(*registry_)
                       .Add({});
  const auto counter = [this](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_).Add({});
  };
  const auto gauge = [this](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_).Add({});
  };
  events_waiting_db_ = gauge("box_events_waiting_for_database",
                             "Events batches held for a retry because the database did not "
                             "answer (acked once applied)");
  events_retry_dropped_ = counter("box_events_retry_dropped_total",
                                  "Events batches the database could not take that did not fit "
                                  "the retry bounds (mqtt.retry_capacity, mqtt.retry_bytes); the "
                                  "boxes resend them after their ack timeout");
  cache_hits_ =
      counter("session_cache_hits_total", "Customer requests authenticated from the session cache");
  cache_misses_ =
      counter("session_cache_misses_total", "Customer session lookups that went to the database");
  cache_invalidations_ = counter("session_cache_invalidations_total",
                                 "Session changes applied to the cache (notifications and this "
                                 "replica's own logouts and erasures)");
  cache_restarts_ = counter("session_cache_listener_restarts_total",
                            "Times the cache's listening connection was lost and opened again");
  cache_entries_ = gauge("session_cache_entries", "Customer sessions in the cache");
  cache_listening_ = gauge("session_cache_listening",
                           "1 while the cache listens for session changes (0: nothing is cached)");
}

void Metrics::set_session_cache(const SessionCache::Stats& s) {
  std::lock_guard lock(cache_mu_);
  const auto advance = [](prometheus::Counter* c, std::uint64_t now, std::uint64_t& before) {
    if (now > before) c->Increment(static_cast<double>(now - before));
    before = now;
  };
  advance(cache_hits_, s.hits, cache_reported_.hits);
  advance(cache_misses_, s.misses, cache_reported_.misses);
  advance(cache_invalidations_, s.invalidations, cache_reported_.invalidations);
  advance(cache_restarts_, s.listener_restarts, cache_reported_.listener_restarts);
  cache_entries_->Set(static_cast<double>(s.entries));
  cache_listening_->Set(s.listening ? 1 : 0);
}

void Metrics::observe_request(std::string_view listener, std::string_view route,
                              std::string_view method, int status,
                              std::chrono::duration<double> duration) {
  // The label maps and the families' lookups cost more than the counting: the series of a
  // (listener, route, method, status) are looked up once and kept.
  std::string key;
  key.reserve(listener.size() + route.size() + method.size() + 8);
  key.append(listener).append(1, '\n').append(route).append(1, '\n').append(method);
  key.append(1, '\n').append(std::to_string(status));
  RequestSeries series;
  {
    std::shared_lock lock(series_mu_);
    if (const auto it = series_.find(key); it != series_.end()) series = it->second;
  }
  if (series.count == nullptr) {
    static const prometheus::Histogram::BucketBoundaries kBuckets = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
    series.count = &requests_->Add({{"listener", std::string(listener)},
                                    {"route", std::string(route)},
                                    {"method", std::string(method)},
                                    {"status", std::to_string(status)}});
    series.duration = &durations_->Add({{"listener", std::string(listener)},
                                        {"route", std::string(route)},
                                        {"method", std::string(method)}},
                                       kBuckets);
    std::unique_lock lock(series_mu_);
    series_.emplace(std::move(key), series);
  }
  series.count->Increment();
  series.duration->Observe(duration.count());
}

void Metrics::count_rate_limited(std::string_view route_class, std::string_view scope) {
  rate_limited_->Add({{"class", std::string(route_class)}, {"scope", std::string(scope)}})
      .Increment();
}

void Metrics::count_idempotency(std::string_view outcome) {
  idempotency_->Add({{"outcome", std::string(outcome)}}).Increment();
}

void Metrics::event_rejected(std::string_view reason) {
  rejected_->Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::mqtt_message(std::string_view leaf) {
  mqtt_messages_->Add({{"leaf", std::string(leaf)}}).Increment();
}

std::string Metrics::scrape() {
  if (scrape_hook_) scrape_hook_();
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace reclothes::controller
