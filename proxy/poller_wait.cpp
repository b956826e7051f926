#include "poller_wait.hpp"

#include <system_error>

#include "poller.hpp"

namespace tether {

poller_wait::poller_wait(poller& owner, net::io_context& ioc, int fd)
    : reactor_op(error_code(), &poller_wait::do_perform, &poller_wait::do_complete),
      owner_(&owner),
      reactor_(net::use_service<reactor>(ioc)),
      fd_(fd) {
  reactor_.init_task();
  if (const int err = reactor_.register_descriptor(fd_, state_); err != 0) {
    throw std::system_error(err, std::generic_category(), "registering the poller with asio");
  }
}

void poller_wait::start() {
  queued_ = true;
  // Speculation allowed: with no edge pending the reactor just queues this
  // (the registration already has EPOLLIN); with one pending it calls
  // do_perform at once.
  reactor_.start_op(reactor::read_op, fd_, state_, this, true, true);
}

void poller_wait::abandon() {
  owner_ = nullptr;
  reactor_.deregister_descriptor(fd_, state_, false);
  reactor_.cleanup_descriptor_data(state_);
  if (!queued_) {
    delete this;
  }
}

boost::asio::detail::reactor_op::status poller_wait::do_perform(reactor_op* /*base*/) {
  // The set is read in run_ready, in the same handler that dispatches its
  // events, so no session can go away in between. "Exhausted" makes the
  // reactor stop speculating until the next edge.
  return done_and_exhausted;
}

void poller_wait::do_complete(void* owner, boost::asio::detail::operation* base,
                              const error_code& /*ec*/, std::size_t /*bytes*/) {
  auto* self = static_cast<poller_wait*>(base);
  self->queued_ = false;
  // No owner: the io_context is being destroyed with this still queued.
  if (owner == nullptr || self->owner_ == nullptr || self->ec_) {
    if (self->owner_ != nullptr) {
      self->owner_->wait_ = nullptr;
    }
    delete self;
    return;
  }
  self->owner_->run_ready();
}

}  // namespace tether
