#include "io/timer_wheel.hpp"

namespace tether {

wheel_entry::~wheel_entry() {
  if (wheel_ != nullptr) {
    wheel_->cancel(*this);
  }
}

timer_wheel::timer_wheel(net::io_context& ioc, std::chrono::milliseconds tick)
    : timer_(ioc), tick_(tick), origin_(steady::now()), heads_(slots, nullptr) {}

timer_wheel::~timer_wheel() {
  for (auto* head : heads_) {
    for (auto* e = head; e != nullptr;) {
      auto* next = e->next_;
      e->wheel_ = nullptr;
      e->prev_ = e->next_ = nullptr;
      e = next;
    }
  }
}

std::uint64_t timer_wheel::tick_of(steady::time_point t) const {
  if (t <= origin_) {
    return 0;
  }
  // Round up so that an entry never runs before its deadline.
  const steady::duration tick = tick_;
  return static_cast<std::uint64_t>((t - origin_ + tick - steady::duration(1)) / tick);
}

std::uint64_t timer_wheel::ticks_passed(steady::time_point t) const {
  return t <= origin_ ? 0 : static_cast<std::uint64_t>((t - origin_) / steady::duration(tick_));
}

void timer_wheel::schedule(wheel_entry& e, steady::time_point when) {
  if (e.wheel_ != nullptr) {
    cancel(e);
  }
  // Never into a slot that this turn has already passed.
  const auto due = std::max(tick_of(when), next_tick_);
  e.due_tick_ = due;
  auto& head = heads_[due % slots];
  e.prev_ = nullptr;
  e.next_ = head;
  if (head != nullptr) {
    head->prev_ = &e;
  }
  head = &e;
  e.wheel_ = this;
  ++size_;
  arm();
}

void timer_wheel::cancel(wheel_entry& e) {
  if (e.wheel_ != this) {
    return;
  }
  if (e.prev_ != nullptr) {
    e.prev_->next_ = e.next_;
  } else {
    heads_[e.due_tick_ % slots] = e.next_;
  }
  if (e.next_ != nullptr) {
    e.next_->prev_ = e.prev_;
  }
  e.prev_ = e.next_ = nullptr;
  e.wheel_ = nullptr;
  --size_;
}

void timer_wheel::arm() {
  if (armed_ || stopped_ || size_ == 0) {
    return;
  }
  armed_ = true;
  timer_.expires_at(origin_ + tick_ * static_cast<std::int64_t>(next_tick_));
  timer_.async_wait([this](error_code ec) {
    armed_ = false;
    if (!ec && !stopped_) {
      on_tick();
    }
  });
}

void timer_wheel::on_tick() {
  // Only ticks whose time has come: a tick_of() here would round up, and
  // run entries up to a tick before their deadline.
  const auto target = ticks_passed(steady::now());
  if (target < next_tick_) {
    arm();
    return;
  }
  const auto first = next_tick_;
  // Entries scheduled from callbacks land after this run, never behind it.
  next_tick_ = target + 1;
  // A late wake-up visits each slot at most once; anything due by now runs.
  const auto last = std::min(target, first + slots - 1);
  const auto now = steady::now();
  for (auto t = first; t <= last; ++t) {
    // Detach the due entries first: callbacks may reschedule themselves.
    wheel_entry* due = nullptr;
    for (auto* e = heads_[t % slots]; e != nullptr;) {
      auto* next = e->next_;
      if (e->due_tick_ <= target) {
        cancel(*e);
        e->next_ = due;
        due = e;
      }
      e = next;
    }
    while (due != nullptr) {
      auto* next = due->next_;
      due->next_ = nullptr;
      due->on_timer(now);
      due = next;
    }
  }
  arm();
}

void timer_wheel::stop() {
  stopped_ = true;
  timer_.cancel();
}

}  // namespace tether
