// The poller's wait inside asio's epoll reactor, without asio's re-arm.
// async_wait on a descriptor costs an epoll_ctl(MOD) every time it is
// started; an operation started with speculation allowed costs nothing while
// the descriptor's registration stands, and asio remembers an edge that came
// while nothing waited. reactor_op and the reactor's start_op are asio's
// detail API: this compiles only on the Boost release it was read against
// (1.81), and any other Boost gets the public wait (poller_wait_public.cpp).
#include <boost/version.hpp>

#include "io/poller_wait.hpp"

#if BOOST_VERSION == 108100 && defined(__linux__) && !defined(TETHER_ASIO_PUBLIC_API_ONLY)
#define TETHER_REACTOR_WAIT 1
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/io_context.hpp>

#include <system_error>
#endif

namespace tether {

#if TETHER_REACTOR_WAIT

namespace {

class reactor_wait final : public poller_wait, private boost::asio::detail::reactor_op {
 public:
  reactor_wait(poller& owner, net::io_context& ioc, int fd)
      : reactor_op(error_code(), &reactor_wait::do_perform, &reactor_wait::do_complete),
        owner_(&owner),
        reactor_(net::use_service<reactor>(ioc)),
        fd_(fd) {
    reactor_.init_task();
    if (const int err = reactor_.register_descriptor(fd_, state_); err != 0) {
      throw std::system_error(err, std::generic_category(), "registering the poller with asio");
    }
  }

  void start() override {
    queued_ = true;
    // Speculation allowed: with no edge pending the reactor just queues this
    // (the registration already has EPOLLIN); with one pending it calls
    // do_perform at once.
    reactor_.start_op(reactor::read_op, fd_, state_, this, true, true);
  }

  void abandon() override {
    owner_ = nullptr;
    reactor_.deregister_descriptor(fd_, state_, false);
    reactor_.cleanup_descriptor_data(state_);
    if (!queued_) {
      delete this;
    }
  }

 private:
  using reactor = boost::asio::detail::reactor;

  static status do_perform(reactor_op* /*base*/) {
    // The set is read in run_ready, in the same handler that dispatches its
    // events, so no session can go away in between. "Exhausted" makes the
    // reactor stop speculating until the next edge.
    return done_and_exhausted;
  }

  static void do_complete(void* owner, boost::asio::detail::operation* base,
                          const error_code& /*ec*/, std::size_t /*bytes*/) {
    auto* self = static_cast<reactor_wait*>(static_cast<reactor_op*>(base));
    self->queued_ = false;
    // No owner: the io_context is being destroyed with this still queued.
    if (owner == nullptr || self->owner_ == nullptr || self->ec_) {
      if (self->owner_ != nullptr) {
        forget_wait(*self->owner_);
      }
      delete self;
      return;
    }
    run_ready(*self->owner_);
  }

  poller* owner_;
  reactor& reactor_;
  reactor::per_descriptor_data state_ = nullptr;
  int fd_;
  bool queued_ = false;
};

}  // namespace

bool reactor_wait_built() {
  return true;
}

poller_wait* make_reactor_wait(poller& owner, net::io_context& ioc, int fd) {
  return new reactor_wait(owner, ioc, fd);
}

#else

bool reactor_wait_built() {
  return false;
}

poller_wait* make_reactor_wait(poller& /*owner*/, net::io_context& /*ioc*/, int /*fd*/) {
  return nullptr;
}

#endif

}  // namespace tether
