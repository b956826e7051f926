#pragma once
// Readiness for the relay's sockets. asio re-arms its epoll registration on
// every async_wait (one epoll_ctl per wait) and needs an operation object per
// wait; a relayed socket instead sits in this worker's own edge-triggered
// epoll set once, for its whole life, and costs nothing while idle. asio
// still runs the thread: its reactor watches this set's descriptor through
// one reusable operation (poller_wait.cpp), and a ready set is drained in one
// batch of callbacks.
//
// Writes are deferred to the end of the batch (or of the current asio
// handler), so everything a batch produced for one socket leaves in one
// write: corking across events, not only within one.
//
// Under load the poller coalesces, as a NIC moderates its interrupts: while
// the worker is busy most of the time (load_gate.hpp), after a batch of at least
// `coalesce_min_events` ready sockets it sleeps for the coalescing delay and
// looks again, instead of blocking in epoll. A thread blocked in epoll must
// be woken by every peer that writes to it, and the waker pays for that (an
// inter-processor interrupt, which on a VM is an exit to the hypervisor); a
// sleeping thread is woken by its own timer, and finds a bigger batch. A
// worker with time to spare, or a batch of a few sockets, never waits: there
// the wake-ups are affordable and the delay would only add latency.
#include <sys/epoll.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include "io/load_gate.hpp"
#include "net.hpp"

namespace tether {

/// What an edge-triggered event says about a descriptor.
struct readiness {
  bool readable = false;  // data, FIN, reset or error: a read will say which
  bool writable = false;
  /// The peer ended (FIN, hang-up or error): this may have come with the
  /// last bytes, so only EOF or EAGAIN from a read says the input is empty.
  bool peer_ended = false;
};

/// A descriptor's owner in the poller.
class pollable {
 public:
  virtual void on_ready(readiness r) = 0;
  /// Called once per poller::want_flush, after the batch that asked.
  virtual void flush() = 0;

 protected:
  pollable() = default;
  ~pollable() = default;

 private:
  friend class poller;
  bool flush_queued_ = false;
};

class poller_wait;

class poller {
 public:
  /// Coalescing starts at this many ready sockets in one batch.
  static constexpr int coalesce_min_events = 4;
  /// Rounds of coalescing before asio's own handlers get the thread again.
  static constexpr int coalesce_max_rounds = 8;

  /// `coalesce`: the delay between busy batches; zero turns coalescing off.
  poller(net::io_context& ioc, std::chrono::microseconds coalesce);
  ~poller();
  poller(const poller&) = delete;
  poller& operator=(const poller&) = delete;

  /// Watches `fd` (edge-triggered, read and write) for `p` until it is closed.
  error_code add(int fd, pollable& p);
  /// `p.flush()` at the end of the current batch, or soon if there is none.
  void want_flush(pollable& p);
  /// `p` is going away: no flush for it. (Its descriptor must be closed.)
  void forget(pollable& p);
  /// Stops watching (shutdown).
  void stop();

  /// The time the current batch started, or now outside a batch. Sessions
  /// stamp every frame (idle tracking for heartbeats): one clock read per
  /// batch instead of one per frame, and a batch lasts microseconds.
  std::chrono::steady_clock::time_point now() const {
    return depth_ > 0 ? batch_start_ : std::chrono::steady_clock::now();
  }

  /// Marks a stretch of work (an asio handler, a timer tick) whose writes
  /// are flushed together when the outermost scope ends.
  class batch {
   public:
    explicit batch(poller& p) : p_(p) { p_.enter(); }
    ~batch() {
      if (--p_.depth_ == 0) {
        p_.flush_all();
      }
    }
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;

   private:
    poller& p_;
  };

 private:
  friend class poller_wait;
  /// Reads the set and dispatches what is ready, then waits again.
  void run_ready();
  /// One batch: reads the set once and dispatches; returns how many were ready.
  int dispatch_ready();
  void flush_all();
  void enter() {
    if (depth_++ == 0) {
      batch_start_ = std::chrono::steady_clock::now();
    }
  }

  net::io_context& ioc_;
  std::chrono::microseconds coalesce_;
  int epfd_ = -1;
  poller_wait* wait_ = nullptr;  // owned by asio while it is queued there
  std::vector<pollable*> dirty_;
  int depth_ = 0;
  std::chrono::steady_clock::time_point batch_start_;
  load_gate load_{std::chrono::steady_clock::now()};
  bool flush_posted_ = false;
  bool stopped_ = false;
  std::array<epoll_event, 128> events_{};
};

}  // namespace tether
