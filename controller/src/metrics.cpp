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
  rejected_ = &prometheus::BuildCounter()
                   .Name("box_events_rejected_total")
                   .Help("Box messages not applied (events, status, state, command results), by reason")
                   .Register(*registry_);
  mqtt_messages_ = &prometheus::BuildCounter()
                        .Name("mqtt_messages_received_total")
                        .Help("MQTT messages received by topic leaf")
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
                          .Help("Box messages queued beyond mqtt.queue_capacity because the apply "
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
}

void Metrics::observe_request(std::string_view listener, std::string_view route,
                              std::string_view method, int status,
                              std::chrono::duration<double> duration) {
  requests_
      ->Add({{"listener", std::string(listener)},
             {"route", std::string(route)},
             {"method", std::string(method)},
             {"status", std::to_string(status)}})
      .Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  durations_
      ->Add({{"listener", std::string(listener)},
             {"route", std::string(route)},
             {"method", std::string(method)}},
            kBuckets)
      .Observe(duration.count());
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
