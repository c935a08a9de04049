#include "box_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace reclothes::controller::testing {

msg::Event event(std::uint64_t seq, msg::EventKind kind, std::optional<int> compartment) {
  msg::Event e;
  e.seq = seq;
  e.kind = kind;
  e.at_ms = 1'767'225'600'000 + static_cast<std::int64_t>(seq) * 1000;
  e.compartment = compartment;
  if (kind == msg::EventKind::kDoorClosed) e.occupied = true;
  return e;
}

FakeBox::FakeBox(std::string uri, std::string box_id, Options options)
    : uri_(std::move(uri)), box_id_(std::move(box_id)), options_(options) {
  client_ = std::make_unique<mqtt::async_client>(uri_, "box-" + box_id_);
  client_->set_message_callback([this](mqtt::const_message_ptr m) {
    auto topic = msg::parse_topic(m->get_topic());
    auto env = msg::parse(m->to_string());
    if (!topic.ok() || !env.ok()) {
      ADD_FAILURE() << "box " << box_id_ << " got an invalid message on " << m->get_topic() << ": "
                    << (env.ok() ? "" : env.error().message);
      return;
    }
    std::lock_guard lock(mu_);
    inbox_.emplace_back(topic->leaf, std::move(env).value());
    cv_.notify_all();
  });
}

FakeBox::~FakeBox() {
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(2));
  } catch (...) {
  }
}

bool FakeBox::connect() {
  mqtt::connect_options opts;
  opts.set_clean_session(true);
  opts.set_keep_alive_interval(options_.keepalive);
  if (options_.will) {
    auto will = msg::serialize(msg::make_envelope(box_id_, 0, msg::Status{false, "1.0.0"}));
    if (!will.ok()) return false;
    opts.set_will(mqtt::will_options(msg::topic(box_id_, msg::Topic::kStatus), *will, 1, true));
  }
  try {
    if (!client_->connect(opts)->wait_for(std::chrono::seconds(10))) return false;
    for (auto leaf : {msg::Topic::kAcks, msg::Topic::kCommands, msg::Topic::kConfig}) {
      if (!client_->subscribe(msg::topic(box_id_, leaf), 1)->wait_for(std::chrono::seconds(10))) {
        return false;
      }
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "box connect: " << e.what();
    return false;
  }
  return true;
}

void FakeBox::publish(msg::Topic leaf, const msg::Body& body, bool retained) {
  auto payload = msg::serialize(msg::make_envelope(box_id_, 1'767'225'600'000, body));
  ASSERT_TRUE(payload.ok()) << payload.error().message;
  client_->publish(mqtt::make_message(msg::topic(box_id_, leaf), *payload, 1, retained))
      ->wait_for(std::chrono::seconds(10));
}

void FakeBox::publish_raw(const std::string& topic, const std::string& payload) {
  client_->publish(mqtt::make_message(topic, payload, 1, false))
      ->wait_for(std::chrono::seconds(10));
}

std::optional<msg::Envelope> FakeBox::wait_for(
    msg::Topic leaf, const std::function<bool(const msg::Envelope&)>& pred,
    std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  std::optional<msg::Envelope> found;
  cv_.wait_for(lock, timeout, [&] {
    for (const auto& [l, env] : inbox_) {
      if (l == leaf && pred(env)) {
        found = env;
        return true;
      }
    }
    return false;
  });
  return found;
}

std::optional<std::uint64_t> FakeBox::wait_for_ack(std::uint64_t upto,
                                                   std::chrono::milliseconds timeout) {
  // Acks are consumed in order so that a repeated ack of the same value is seen as a new one.
  std::unique_lock lock(mu_);
  std::optional<std::uint64_t> got;
  cv_.wait_for(lock, timeout, [&] {
    for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
      if (it->first != msg::Topic::kAcks) continue;
      got = std::get<msg::Ack>(it->second.body).upto;
      inbox_.erase(it);
      return true;
    }
    return false;
  });
  if (got && *got != upto) ADD_FAILURE() << "ack upto " << *got << ", expected " << upto;
  return got;
}

std::vector<msg::Envelope> FakeBox::received(msg::Topic leaf) {
  std::lock_guard lock(mu_);
  std::vector<msg::Envelope> out;
  for (const auto& [l, env] : inbox_) {
    if (l == leaf) out.push_back(env);
  }
  return out;
}

FreezableProxy::FreezableProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listen_fd_, 4);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

FreezableProxy::~FreezableProxy() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
}

void FreezableProxy::run() {
  int client = -1;
  int upstream = -1;
  char buf[16384];
  while (!stop_) {
    if (client < 0) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<std::uint16_t>(target_port_));
      if (::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(client);
        ::close(upstream);
        client = upstream = -1;
      }
      continue;
    }
    if (frozen_) {
      // Hold both sockets open and move no bytes: to the broker the client just went silent.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    if (::poll(fds, 2, 50) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int from = i == 0 ? client : upstream;
      const int to = i == 0 ? upstream : client;
      const auto n = ::read(from, buf, sizeof buf);
      if (n <= 0) {
        ::close(client);
        ::close(upstream);
        client = upstream = -1;
        break;
      }
      ::send(to, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
    }
  }
  if (client >= 0) ::close(client);
  if (upstream >= 0) ::close(upstream);
}

}  // namespace reclothes::controller::testing
