#include "reclothes/controller/metrics.h"

#include <dirent.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "reclothes_build_info.h"

namespace reclothes::controller {
namespace {

prometheus::MetricFamily process_family(const char* name, const char* help,
                                        prometheus::MetricType type, double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f;
}

// The standard process_* series of Prometheus clients, read from /proc/self at each scrape:
// CPU seconds, resident and virtual memory, open and allowed file descriptors, threads and the
// start time. Nothing is returned where /proc cannot be read.
std::vector<prometheus::MetricFamily> process_families() {
  std::vector<prometheus::MetricFamily> out;
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // The command name (field 2) is in parentheses and may hold spaces: fields start after the
  // last ')'; the first of them is field 3 (state).
  const auto close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream in(stat.substr(close + 2));
    std::vector<std::string> f((std::istream_iterator<std::string>(in)),
                               std::istream_iterator<std::string>());
    const auto field = [&f](std::size_t n) { return n - 3 < f.size() ? std::stod(f[n - 3]) : 0.0; };
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    if (f.size() >= 22 && ticks > 0) {
      out.push_back(process_family(
          "process_cpu_seconds_total", "Total user and system CPU time spent in seconds",
          prometheus::MetricType::Counter, (field(14) + field(15)) / ticks));
      out.push_back(process_family("process_resident_memory_bytes", "Resident memory size in bytes",
                                   prometheus::MetricType::Gauge, field(24) * page));
      out.push_back(process_family("process_virtual_memory_bytes", "Virtual memory size in bytes",
                                   prometheus::MetricType::Gauge, field(23)));
      out.push_back(process_family("process_threads", "Number of OS threads in the process",
                                   prometheus::MetricType::Gauge, field(20)));
      // Field 22: start time in ticks after boot; btime in /proc/stat: boot time in Unix seconds.
      std::ifstream proc_stat("/proc/stat");
      std::string line;
      while (std::getline(proc_stat, line)) {
        if (line.rfind("btime ", 0) != 0) continue;
        out.push_back(process_family(
            "process_start_time_seconds", "Start time of the process since unix epoch in seconds",
            prometheus::MetricType::Gauge, std::stod(line.substr(6)) + field(22) / ticks));
        break;
      }
    }
  }
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    double fds = 0;
    while (const dirent* e = ::readdir(dir)) {
      if (e->d_name[0] != '.') ++fds;
    }
    ::closedir(dir);
    out.push_back(process_family("process_open_fds", "Number of open file descriptors",
                                 prometheus::MetricType::Gauge, fds - 1));  // less opendir's own
  }
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    out.push_back(process_family("process_max_fds", "Maximum number of open file descriptors",
                                 prometheus::MetricType::Gauge,
                                 static_cast<double>(files.rlim_cur)));
  }
  return out;
}

// A counter brought up to a total kept elsewhere (the pool's, the listeners'); never down.
void advance_to(prometheus::Counter& c, double total) {
  if (total > c.Value()) c.Increment(total - c.Value());
}

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("reclothes_http_requests_total")
                   .Help("HTTP requests by listener, route template, method and status")
                   .Register(*registry_);
  durations_ = &prometheus::BuildHistogram()
                    .Name("reclothes_http_request_duration_seconds")
                    .Help("HTTP request latency by listener, route template and method")
                    .Register(*registry_);
  rejected_ =
      &prometheus::BuildCounter()
           .Name("reclothes_box_events_rejected_total")
           .Help("Box messages not applied (events, status, state, command results), by reason")
           .Register(*registry_);
  mqtt_messages_ = &prometheus::BuildCounter()
                        .Name("reclothes_mqtt_messages_received_total")
                        .Help("MQTT messages received by topic leaf")
                        .Register(*registry_);
  rate_limited_ = &prometheus::BuildCounter()
                       .Name("reclothes_http_rate_limited_total")
                       .Help("Requests refused with 429 by a rate limit, by route class and scope")
                       .Register(*registry_);
  idempotency_ = &prometheus::BuildCounter()
                      .Name("reclothes_http_idempotency_keys_total")
                      .Help("Requests with an Idempotency-Key, by outcome")
                      .Register(*registry_);
  // The known series of the labelled counters exist from the start at 0: a family without a
  // series is not exported, and rate() needs the 0 before the first event.
  for (const char* route_class : {"reads", "writes", "login"}) {
    for (const char* scope : {"address", "account"}) {
      rate_limited_->Add({{"class", route_class}, {"scope", scope}});
    }
  }
  for (const char* outcome : {"executed", "replayed", "mismatch", "in_progress"}) {
    idempotency_->Add({{"outcome", outcome}});
  }
  events_applied_ = &prometheus::BuildCounter()
                         .Name("reclothes_box_events_applied_total")
                         .Help("Box events applied (first delivery)")
                         .Register(*registry_)
                         .Add({});
  events_duplicate_ = &prometheus::BuildCounter()
                           .Name("reclothes_box_events_duplicate_total")
                           .Help("Box events received again after they were applied")
                           .Register(*registry_)
                           .Add({});
  queue_overflows_ = &prometheus::BuildCounter()
                          .Name("reclothes_mqtt_queue_overflow_total")
                          .Help(
                              "Box messages queued beyond mqtt.queue_capacity because the apply "
                              "worker was behind for longer than the callback may wait")
                          .Register(*registry_)
                          .Add({});
  mqtt_connected_ = &prometheus::BuildGauge()
                         .Name("reclothes_mqtt_connected")
                         .Help("1 while the controller is connected to the broker")
                         .Register(*registry_)
                         .Add({});
  boxes_online_ = &prometheus::BuildGauge()
                       .Name("reclothes_boxes_online")
                       .Help("Boxes whose last status says online")
                       .Register(*registry_)
                       .Add({});
  const auto counter = [this](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_).Add({});
  };
  const auto gauge = [this](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_).Add({});
  };
  events_waiting_db_ = gauge("reclothes_box_events_waiting_for_database",
                             "Events batches held for a retry because the database did not "
                             "answer (acked once applied)");
  events_retry_dropped_ = counter("reclothes_box_events_retry_dropped_total",
                                  "Events batches the database could not take that did not fit "
                                  "the retry bounds (mqtt.retry_capacity, mqtt.retry_bytes); the "
                                  "boxes resend them after their ack timeout");
  cache_hits_ = counter("reclothes_session_cache_hits_total",
                        "Customer requests authenticated from the session cache");
  cache_misses_ = counter("reclothes_session_cache_misses_total",
                          "Customer session lookups that went to the database");
  cache_invalidations_ = counter("reclothes_session_cache_invalidations_total",
                                 "Session changes applied to the cache (notifications and this "
                                 "replica's own logouts and erasures)");
  cache_restarts_ = counter("reclothes_session_cache_listener_restarts_total",
                            "Times the cache's listening connection was lost and opened again");
  cache_entries_ = gauge("reclothes_session_cache_entries", "Customer sessions in the cache");
  cache_listening_ = gauge("reclothes_session_cache_listening",
                           "1 while the cache listens for session changes (0: nothing is cached)");
  prometheus::BuildGauge()
      .Name("reclothes_build_info")
      .Help("Always 1; the labels say which build this is")
      .Register(*registry_)
      .Add({{"version", RECLOTHES_BUILD_VERSION},
            {"commit", RECLOTHES_BUILD_COMMIT},
            {"build_type", RECLOTHES_BUILD_TYPE}})
      .Set(1);
  mqtt_queue_depth_ = gauge("reclothes_mqtt_queue_depth",
                            "Box messages and publications waiting for the MQTT bridge's worker");
  mqtt_queue_wait_ = &prometheus::BuildHistogram()
                          .Name("reclothes_mqtt_queue_wait_seconds")
                          .Help(
                              "How long a box message waited in the queue before the worker "
                              "took it (the controller's part of the ingest lag)")
                          .Register(*registry_)
                          .Add({}, prometheus::Histogram::BucketBoundaries{
                                       0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30});
  pool_size_ = gauge("reclothes_db_pool_size", "Connections the database pool may open");
  pool_connections_ = &prometheus::BuildGauge()
                           .Name("reclothes_db_pool_connections")
                           .Help("Open database connections by state (idle, in_use)")
                           .Register(*registry_);
  pool_waits_ = counter("reclothes_db_pool_waits_total",
                        "Connection requests that found every pooled connection in use and waited");
  pool_wait_seconds_ = counter("reclothes_db_pool_wait_seconds_total",
                               "Seconds spent waiting for a pooled connection");
  pool_timeouts_ = counter("reclothes_db_pool_timeouts_total",
                           "Connection requests that got no connection within "
                           "database.acquire_timeout_ms (answered 503)");
  http_open_ = &prometheus::BuildGauge()
                    .Name("reclothes_http_open_connections")
                    .Help("Open HTTP connections by listener (public, internal)")
                    .Register(*registry_);
  http_accepted_ = &prometheus::BuildCounter()
                        .Name("reclothes_http_connections_accepted_total")
                        .Help("HTTP connections accepted by listener")
                        .Register(*registry_);
}

void Metrics::set_db_pool(const Database::PoolStats& s) {
  pool_size_->Set(s.size);
  pool_connections_->Add({{"state", "in_use"}}).Set(s.in_use);
  pool_connections_->Add({{"state", "idle"}}).Set(s.open - s.in_use);
  advance_to(*pool_waits_, static_cast<double>(s.waits));
  advance_to(*pool_wait_seconds_, s.wait_seconds);
  advance_to(*pool_timeouts_, static_cast<double>(s.timeouts));
}

void Metrics::set_http_connections(std::string_view listener, std::size_t open,
                                   std::uint64_t accepted) {
  http_open_->Add({{"listener", std::string(listener)}}).Set(static_cast<double>(open));
  advance_to(http_accepted_->Add({{"listener", std::string(listener)}}),
             static_cast<double>(accepted));
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
  std::lock_guard lock(scrape_mu_);  // one scrape at a time: the hook advances counters
  if (scrape_hook_) scrape_hook_();
  auto families = registry_->Collect();
  for (auto& f : process_families()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace reclothes::controller
