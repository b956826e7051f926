#pragma once
// The two ends of a relayed session as the conformance suite drives them:
// a raw client (raw_ws) and a raw backend connection, both reading tether's
// frames byte-exactly, so a case can write anything and see everything.
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "extra_hostile.hpp"
#include "extra_relay.hpp"

namespace tt::conformance {

class peer {
 public:
  virtual ~peer() = default;
  /// Frames from a client must be masked, from a backend must not.
  virtual bool is_client() const = 0;
  virtual bool send(const std::string& bytes) = 0;
  /// The next frame from tether; nullopt on timeout or end of connection.
  virtual std::optional<wire_frame> next_frame(ms timeout) = 0;
  /// tether ended the connection (as opposed to a timeout).
  virtual bool ended() = 0;
};

class client_peer final : public peer {
 public:
  client_peer(std::uint16_t port, bool tls, const std::string& target) : ws_(port, tls, target) {}
  bool upgraded() const { return ws_.upgraded(); }
  bool is_client() const override { return true; }
  bool send(const std::string& bytes) override { return !ws_.send(bytes); }
  std::optional<wire_frame> next_frame(ms timeout) override { return ws_.next_frame(timeout); }
  bool ended() override { return ws_.raw().eof(); }

 private:
  raw_ws ws_;
};

/// One upstream connection of a backend_pool, driven by the test thread;
/// the pool's thread for it closes the socket once this is destroyed.
class backend_peer final : public peer {
 public:
  struct shared {
    int fd = -1;
    std::string head;
    std::atomic<bool> done{false};
  };
  explicit backend_peer(std::shared_ptr<shared> s) : s_(std::move(s)) {}
  ~backend_peer() override { s_->done = true; }
  const std::string& head() const { return s_->head; }
  bool is_client() const override { return false; }
  bool send(const std::string& bytes) override { return hostile::write_all(s_->fd, bytes); }
  std::optional<wire_frame> next_frame(ms timeout) override;
  bool ended() override { return eof_; }

 private:
  std::shared_ptr<shared> s_;
  std::string buf_;
  bool eof_ = false;
};

/// A backend that accepts every upgrade and hands each connection to the
/// test thread, in the order they came.
class backend_pool {
 public:
  backend_pool();
  std::string url() const { return backend_.url(); }
  /// The next connection, or nullptr if none comes within `timeout`.
  std::unique_ptr<backend_peer> next(ms timeout = 3000ms);

 private:
  void serve(hostile::raw_backend& self, int fd, const std::string& head);
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::shared_ptr<backend_peer::shared>> queue_;
  hostile::raw_backend backend_;  // last: its threads use the members above
};

}  // namespace tt::conformance
