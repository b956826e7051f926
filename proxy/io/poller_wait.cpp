#include "io/poller_wait.hpp"

#include <cstdlib>

#include "io/poller.hpp"

namespace tether {

namespace {

bool public_api_forced() {
  const char* v = std::getenv("TETHER_ASIO_PUBLIC_API");
  return v != nullptr && *v != '\0' && *v != '0';
}

}  // namespace

poller_wait* poller_wait::create(poller& owner, net::io_context& ioc, int fd) {
  return reactor_wait_built() && !public_api_forced() ? make_reactor_wait(owner, ioc, fd)
                                                      : make_public_wait(owner, ioc, fd);
}

const char* poller_wait::kind() {
  return reactor_wait_built() && !public_api_forced() ? "reactor" : "public";
}

void poller_wait::run_ready(poller& p) {
  p.run_ready();
}

void poller_wait::forget_wait(poller& p) {
  p.wait_ = nullptr;
}

}  // namespace tether
