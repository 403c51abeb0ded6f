#pragma once
// Cancellation points and shields for tw fibers.
//
// A fiber is cancelled through its task (task::cancel), its parent, a fan-out
// or the runtime's shutdown: its current or next blocking call throws
// tw::cancelled_error. tw::check_cancelled() is that check for code that
// computes without blocking. tw::cancellation_shield defers cancellation (and
// the outer deadline) for cleanup code that must finish: a deadline_scope
// inside the shield still applies, so cleanup cannot hang either.
//
// Thread safety: these act on the calling fiber only; on a plain thread they
// do nothing.
//
// Example:
//   for (auto& ch : channels) { tw::check_cancelled(); fit(ch); }
//   {
//       tw::cancellation_shield shield;
//       tw::deadline_scope cleanup(200ms);
//       board.write("OUTP OFF");       // runs even if the fiber is being cancelled
//   }

namespace tw {

namespace detail {
class fiber_state;
}

class cancellation_shield {
public:
    cancellation_shield();
    cancellation_shield(const cancellation_shield&) = delete;
    cancellation_shield& operator=(const cancellation_shield&) = delete;
    ~cancellation_shield();

private:
    detail::fiber_state* fs_;
};

// Throws cancelled_error / timeout_error if the calling fiber should stop now.
// Long computations without I/O call this now and then.
void check_cancelled();

}  // namespace tw
