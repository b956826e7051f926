#pragma once
// The admin endpoint: /healthz, /readyz, /metrics over plain HTTP/1.1.
// Runs on worker 0; requests are rare and small.
#include <memory>
#include <string>

#include "config/config.hpp"
#include "net.hpp"

namespace tether {

class server;

class admin {
 public:
  admin(server& srv, net::io_context& ioc);
  std::string bind(const endpoint_config& ep);
  void start();
  std::uint16_t port() const { return port_; }

 private:
  awaitable<void> accept_loop();
  awaitable<void> serve(tcp::socket socket);

  server& server_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
};

}  // namespace tether
