#pragma once
// How a worker's asio thread learns that the poller's epoll set has something
// ready. Two ways, chosen once per poller:
// - reactor (poller_wait_reactor.cpp): one operation object inside asio's
//   epoll reactor, started with speculation allowed, so a wait costs no
//   epoll_ctl while the registration stands. It is asio's detail API, so it
//   compiles only on the Boost release it was checked against.
// - public (poller_wait_public.cpp): posix::stream_descriptor::async_wait,
//   asio's public API, for any other Boost; one epoll_ctl and one poll(2)
//   per batch of ready sockets more (bench/RESULTS.md has the cost).
#include "net.hpp"

namespace tether {

class poller;

class poller_wait {
 public:
  /// Registers `fd` (the poller's epoll set) with `ioc`. The reactor wait
  /// when this build has it, unless TETHER_ASIO_PUBLIC_API is set in the
  /// environment (how CI and the benchmark run the other one).
  static poller_wait* create(poller& owner, net::io_context& ioc, int fd);
  /// "reactor" or "public": which one create() gives in this process.
  static const char* kind();

  /// Calls `owner.run_ready()` once the set may have something ready.
  virtual void start() = 0;
  /// The poller is going away: unregisters, and deletes this now or when
  /// asio hands the wait back.
  virtual void abandon() = 0;

  poller_wait(const poller_wait&) = delete;
  poller_wait& operator=(const poller_wait&) = delete;

 protected:
  poller_wait() = default;
  virtual ~poller_wait() = default;
  // The poller's private side, for the two implementations.
  static void run_ready(poller& p);
  static void forget_wait(poller& p);
};

/// Whether this build has the reactor wait (Boost version guard).
bool reactor_wait_built();
poller_wait* make_reactor_wait(poller& owner, net::io_context& ioc, int fd);
poller_wait* make_public_wait(poller& owner, net::io_context& ioc, int fd);

}  // namespace tether
