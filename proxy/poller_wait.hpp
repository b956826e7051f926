#pragma once
// The poller's wait in asio's reactor, without asio's re-arm. async_wait on a
// descriptor costs an epoll_ctl(MOD) every time it is started; an operation
// started with speculation allowed costs nothing while the descriptor's
// registration stands, and asio remembers an edge that came while nothing
// waited. This is asio's detail API (Boost 1.81's epoll reactor), kept to this
// one class.
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/io_context.hpp>

#include "net.hpp"

namespace tether {

class poller;

class poller_wait : private boost::asio::detail::reactor_op {
 public:
  /// Registers `fd` (the poller's epoll set) with `ioc`'s reactor.
  poller_wait(poller& owner, net::io_context& ioc, int fd);
  poller_wait(const poller_wait&) = delete;
  poller_wait& operator=(const poller_wait&) = delete;

  /// Calls `owner.run_ready()` once the set may have something ready.
  void start();
  /// The poller is going away: unregisters, and deletes this now or when
  /// asio hands the operation back.
  void abandon();

 private:
  using reactor = boost::asio::detail::reactor;
  ~poller_wait() = default;
  static status do_perform(reactor_op* base);
  static void do_complete(void* owner, boost::asio::detail::operation* base, const error_code& ec,
                          std::size_t bytes);

  poller* owner_;
  reactor& reactor_;
  reactor::per_descriptor_data state_ = nullptr;
  int fd_;
  bool queued_ = false;
};

}  // namespace tether
