#pragma once
// Accept loop of one configured listener. Sockets are accepted round-robin
// straight onto the workers' io_contexts (the only cross-thread hand-off is
// per connection, never per message).
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "server/listener_context.hpp"
#include "net.hpp"

namespace tether {

class server;

class listener : public std::enable_shared_from_this<listener> {
 public:
  listener(server& srv, listener_config cfg, std::shared_ptr<listener_context> ctx);

  /// Opens, binds and listens; an error (e.g. address in use) is returned as text.
  std::string bind(net::io_context& ioc);
  void start();
  void stop();
  const listener_config& cfg() const { return cfg_; }
  void set_cfg(listener_config cfg) { cfg_ = std::move(cfg); }
  std::uint16_t port() const { return port_; }
  const std::shared_ptr<listener_context>& context() const { return ctx_; }

 private:
  awaitable<void> accept_loop();

  server& server_;
  listener_config cfg_;
  std::shared_ptr<listener_context> ctx_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::uint16_t port_ = 0;
};

}  // namespace tether
