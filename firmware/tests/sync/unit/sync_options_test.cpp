// sync_options(): what a box configuration asks of the Sync, the one mapping reclothes-box and the
// simulator share, and validate()'s view of it.
#include <gtest/gtest.h>

#include "reclothes/firmware/sync.h"

namespace reclothes::firmware {
namespace {

BoxConfig config() {
  BoxConfig c;
  c.box_id = "box-0042";
  c.broker.uri = "tcp://broker.example:1883";
  c.broker.keepalive = std::chrono::seconds(45);
  c.state_report_interval = std::chrono::seconds(90);
  return c;
}

TEST(SyncOptionsTest, TakesTheBrokerIdentityAndStateIntervalFromTheConfiguration) {
  BoxConfig c = config();
  c.broker.client_id = "client-7";
  c.broker.username = "box";
  c.broker.password = "secret";
  const SyncOptions o = sync_options(c, "9.9.9");
  EXPECT_EQ(o.broker_uri, "tcp://broker.example:1883");
  EXPECT_EQ(o.client_id, "client-7");
  EXPECT_EQ(o.keepalive, std::chrono::seconds(45));
  EXPECT_EQ(o.username, "box");
  EXPECT_EQ(o.password, "secret");
  EXPECT_FALSE(o.tls.has_value());
  EXPECT_EQ(o.engine.box_id, "box-0042");
  EXPECT_EQ(o.engine.firmware_version, "9.9.9");
  EXPECT_EQ(o.engine.state_interval, std::chrono::seconds(90));
  EXPECT_TRUE(validate(o).ok());
}

TEST(SyncOptionsTest, ReportsThisFirmwaresVersionUnlessToldOtherwise) {
  EXPECT_EQ(sync_options(config()).engine.firmware_version, std::string(kFirmwareVersion));
}

TEST(SyncOptionsTest, MapsTheTlsFilesAndValidateChecksThatTheyExist) {
  BoxConfig c = config();
  c.broker.uri = "ssl://broker.example:8883";
  c.broker.tls = TlsConfig{"/nonexistent/ca.crt", "/nonexistent/box.crt", "/nonexistent/box.key"};
  const SyncOptions o = sync_options(c);
  ASSERT_TRUE(o.tls.has_value());
  EXPECT_EQ(o.tls->trust_store, "/nonexistent/ca.crt");
  EXPECT_EQ(o.tls->key_store, "/nonexistent/box.crt");
  EXPECT_EQ(o.tls->private_key, "/nonexistent/box.key");
  EXPECT_TRUE(o.tls->verify_server);
  const Status checked = validate(o);
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(checked.error().message.find("/nonexistent/ca.crt"), std::string::npos);
}

}  // namespace
}  // namespace reclothes::firmware
