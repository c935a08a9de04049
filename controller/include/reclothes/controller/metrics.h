// Prometheus metrics (prometheus-cpp core registry, text exposition via its TextSerializer).
// Thread-safe: prometheus-cpp metrics are atomic, families are locked internally.
//
// Every metric the controller exports is named reclothes_* (docs/observability.md lists them),
// except the standard process_* series (CPU, memory, file descriptors, start time: read from
// /proc/self at each scrape) that every Prometheus client exports under those names.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "reclothes/controller/db.h"
#include "reclothes/controller/session_cache.h"

namespace reclothes::controller {

class Metrics {
 public:
  Metrics();

  void observe_request(std::string_view listener, std::string_view route, std::string_view method,
                       int status, std::chrono::duration<double> duration);
  void event_applied() { events_applied_->Increment(); }
  void event_duplicate() { events_duplicate_->Increment(); }
  void count_queue_overflow() { queue_overflows_->Increment(); }
  // Events batches kept for a retry because the database did not answer, and those dropped
  // beyond the retry bounds (the box resends them).
  void set_events_waiting_for_database(double batches) { events_waiting_db_->Set(batches); }
  void count_events_retry_dropped() { events_retry_dropped_->Increment(); }
  void event_rejected(std::string_view reason);
  void mqtt_message(std::string_view leaf);
  // A request refused by a rate limit: class "reads", "writes" or "login"; scope "address" or
  // "account".
  void count_rate_limited(std::string_view route_class, std::string_view scope);
  // What an Idempotency-Key did: "executed", "replayed", "mismatch", "in_progress".
  void count_idempotency(std::string_view outcome);
  void set_mqtt_connected(bool on) { mqtt_connected_->Set(on ? 1 : 0); }
  void set_boxes_online(double n) { boxes_online_->Set(n); }
  // Brings the session_cache_* series up to the cache's own counts (at each scrape).
  void set_session_cache(const SessionCache::Stats& s);

  // Scrape-time samples of the database pool and the HTTP listeners (the controller's scrape
  // hook calls these): gauges set, counters brought up to the given totals.
  void set_db_pool(const Database::PoolStats& s);
  void set_http_connections(std::string_view listener, std::size_t open, std::uint64_t accepted);
  // The MQTT apply queue: messages waiting now, and how long one waited before the worker took
  // it (the controller's share of the ingest lag).
  void set_mqtt_queue_depth(std::size_t depth) {
    mqtt_queue_depth_->Set(static_cast<double>(depth));
  }
  void observe_mqtt_queue_wait(std::chrono::duration<double> waited) {
    mqtt_queue_wait_->Observe(waited.count());
  }

  // Called right before each scrape (to refresh gauges computed from the database).
  void set_scrape_hook(std::function<void()> hook) { scrape_hook_ = std::move(hook); }
  // The exposition text.
  std::string scrape();

  prometheus::Registry& registry() { return *registry_; }

 private:
  struct RequestSeries {
    prometheus::Counter* count = nullptr;
    prometheus::Histogram* duration = nullptr;
  };

  std::shared_ptr<prometheus::Registry> registry_;
  // observe_request's series by "listener\nroute\nmethod\nstatus" (families never drop series).
  std::shared_mutex series_mu_;
  std::unordered_map<std::string, RequestSeries> series_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* durations_;
  prometheus::Family<prometheus::Counter>* rejected_;
  prometheus::Family<prometheus::Counter>* mqtt_messages_;
  prometheus::Family<prometheus::Counter>* rate_limited_;
  prometheus::Family<prometheus::Counter>* idempotency_;
  prometheus::Counter* events_applied_;
  prometheus::Counter* events_duplicate_;
  prometheus::Counter* queue_overflows_;
  prometheus::Gauge* events_waiting_db_;
  prometheus::Counter* events_retry_dropped_;
  prometheus::Gauge* mqtt_connected_;
  prometheus::Gauge* boxes_online_;
  prometheus::Counter* cache_hits_;
  prometheus::Counter* cache_misses_;
  prometheus::Counter* cache_invalidations_;
  prometheus::Counter* cache_restarts_;
  prometheus::Gauge* cache_entries_;
  prometheus::Gauge* cache_listening_;
  prometheus::Gauge* mqtt_queue_depth_;
  prometheus::Histogram* mqtt_queue_wait_;
  prometheus::Gauge* pool_size_;
  prometheus::Family<prometheus::Gauge>* pool_connections_;
  prometheus::Counter* pool_waits_;
  prometheus::Counter* pool_wait_seconds_;
  prometheus::Counter* pool_timeouts_;
  prometheus::Family<prometheus::Gauge>* http_open_;
  prometheus::Family<prometheus::Counter>* http_accepted_;
  std::mutex cache_mu_;
  SessionCache::Stats cache_reported_;  // what the counters already hold
  std::function<void()> scrape_hook_;
  std::mutex scrape_mu_;
};

}  // namespace reclothes::controller
