// The poller's wait on asio's public API, for any Boost: the epoll set's
// descriptor in a posix::stream_descriptor, and async_wait. asio starts each
// wait without looking first, so a set left readable by a batch that did
// not drain it would wait for an edge that never comes: poll(2) looks first.
#include <poll.h>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <utility>

#include "io/poller_wait.hpp"

namespace tether {

namespace {

class public_wait final : public poller_wait {
 public:
  public_wait(poller& owner, net::io_context& ioc, int fd) : owner_(&owner), sd_(ioc, fd) {}

  void start() override {
    queued_ = true;
    pollfd pfd{sd_.native_handle(), POLLIN, 0};
    if (::poll(&pfd, 1, 0) == 1) {
      net::post(sd_.get_executor(), [t = ticket(this)]() mutable { t.take()->complete({}); });
      return;
    }
    sd_.async_wait(net::posix::descriptor_base::wait_read,
                   [t = ticket(this)](const error_code& ec) mutable { t.take()->complete(ec); });
  }

  void abandon() override {
    owner_ = nullptr;
    // Out of asio's epoll set while the descriptor is still open (the
    // poller closes it next); a queued wait comes back aborted and deletes
    // this.
    sd_.release();
    if (!queued_) {
      delete this;
    }
  }

 private:
  /// The queued wait's hold on this object: asio destroys a handler it never
  /// calls (the io_context going away), and then the wait must go too.
  class ticket {
   public:
    explicit ticket(public_wait* w) : w_(w) {}
    ticket(ticket&& o) noexcept : w_(std::exchange(o.w_, nullptr)) {}
    ticket& operator=(ticket&&) = delete;
    ~ticket() {
      if (w_ != nullptr) {
        w_->dropped();
      }
    }
    public_wait* take() { return std::exchange(w_, nullptr); }

   private:
    public_wait* w_;
  };

  // The descriptor is the poller's: it closes it.
  ~public_wait() override { sd_.release(); }

  void complete(const error_code& ec) {
    queued_ = false;
    if (owner_ == nullptr) {
      delete this;
      return;
    }
    if (ec) {
      forget_wait(*owner_);
      delete this;
      return;
    }
    run_ready(*owner_);
  }

  void dropped() {
    if (owner_ != nullptr) {
      forget_wait(*owner_);
    }
    delete this;
  }

  poller* owner_;
  net::posix::stream_descriptor sd_;
  bool queued_ = false;
};

}  // namespace

poller_wait* make_public_wait(poller& owner, net::io_context& ioc, int fd) {
  return new public_wait(owner, ioc, fd);
}

}  // namespace tether
