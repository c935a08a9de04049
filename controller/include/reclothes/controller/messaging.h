// What the REST side asks of the MQTT side. Implemented by MqttBridge; a test or a tool can
// implement it otherwise. Calls return at once: the work is queued for the bridge's worker.
#pragma once

#include <string>

#include "reclothes/common/messages.h"

namespace reclothes::controller {

class BoxMessaging {
 public:
  virtual ~BoxMessaging() = default;
  // Rebuilds the box's retained config from the database (with a new revision) and publishes it.
  virtual void publish_config(const std::string& box_id) = 0;
  // The same for every box that is not decommissioned (after a key rotation).
  virtual void publish_all_configs() = 0;
  // Publishes a command (QoS 1) that is already recorded in box_commands.
  virtual void publish_command(const std::string& box_id, const msg::Command& command) = 0;
  virtual bool connected() const = 0;
};

}  // namespace reclothes::controller
