#include "io/poller.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <thread>
#include <utility>

#include <boost/asio/post.hpp>

#include "io/poller_wait.hpp"

namespace tether {
namespace {

/// The kernel rounds a thread's sleeps up by its timer slack, 50 µs by
/// default: a 50 µs sleep then takes over 120 µs here. The worker's only
/// timed sleep is this one, so its slack goes down to a microsecond.
void sleep_precisely(std::chrono::microseconds d) {
  static thread_local const bool slack_set = ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL) == 0;
  (void)slack_set;
  std::this_thread::sleep_for(d);
}

}  // namespace

poller::poller(net::io_context& ioc, std::chrono::microseconds coalesce)
    : ioc_(ioc), coalesce_(coalesce) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_create1");
  }
  try {
    wait_ = poller_wait::create(*this, ioc_, epfd_);
  } catch (...) {
    ::close(epfd_);
    throw;
  }
  wait_->start();
}

poller::~poller() {
  stop();
  // Whoever outlives the poller must find nothing to forget.
  for (auto* p : dirty_) {
    if (p != nullptr) {
      p->flush_queued_ = false;
    }
  }
  ::close(epfd_);
}

void poller::stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  if (wait_ != nullptr) {
    std::exchange(wait_, nullptr)->abandon();
  }
}

error_code poller::add(int fd, pollable& p) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &p;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return error_code(errno, boost::system::system_category());
  }
  return {};
}

void poller::want_flush(pollable& p) {
  if (p.flush_queued_) {
    return;
  }
  p.flush_queued_ = true;
  dirty_.push_back(&p);
  if (depth_ == 0 && !flush_posted_) {
    flush_posted_ = true;
    net::post(ioc_, [this] {
      flush_posted_ = false;
      flush_all();
    });
  }
}

void poller::forget(pollable& p) {
  if (!p.flush_queued_) {
    return;
  }
  p.flush_queued_ = false;
  std::replace(dirty_.begin(), dirty_.end(), &p, static_cast<pollable*>(nullptr));
}

int poller::dispatch_ready() {
  int n = 0;
  std::chrono::steady_clock::time_point start;
  {
    batch b(*this);
    // Read here: flushing at the batch's end starts a batch of its own.
    start = batch_start_;
    n = ::epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()), 0);
    for (int i = 0; i < n; ++i) {
      const auto ev = events_[i].events;
      static_cast<pollable*>(events_[i].data.ptr)
          ->on_ready({.readable = (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0,
                      .writable = (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0,
                      .peer_ended = (ev & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0});
    }
  }
  if (coalesce_.count() > 0) {
    load_.account(start, std::chrono::steady_clock::now());
  }
  return n;
}

void poller::run_ready() {
  for (int round = 1;; ++round) {
    // The batch's writes are out before any coalescing delay.
    const int n = dispatch_ready();
    if (stopped_) {
      return;
    }
    const bool busy = load_.open() && n >= coalesce_min_events;
    if (n == static_cast<int>(events_.size()) || (busy && round == coalesce_max_rounds)) {
      // More may be ready: let other handlers run first, then come back
      // without waiting for another edge.
      net::post(ioc_, [this] {
        if (!stopped_) {
          run_ready();
        }
      });
      return;
    }
    if (!busy) {
      wait_->start();
      return;
    }
    sleep_precisely(coalesce_);
  }
}

void poller::flush_all() {
  // Flushing may queue more (a drained leg resumes its peer's reading):
  // those are taken in this same pass.
  enter();
  for (std::size_t i = 0; i < dirty_.size(); ++i) {
    if (auto* p = dirty_[i]) {
      p->flush_queued_ = false;
      dirty_[i] = nullptr;
      p->flush();
    }
  }
  dirty_.clear();
  --depth_;
}

}  // namespace tether
