#pragma once
// per_board: the fan-out under the array algorithms (tune_array,
// health_check). Every board gets an outcome *value* — ok or why not — in
// input order, never an exception; a failing or stalled board never stops the
// others. Internal to tw_algorithms.
//
//   check(address)           -> Outcome; may throw: from_error turns it into one
//   from_error(address, ep)  -> Outcome for an exception (or a board the
//                               overall deadline reached before it started)
//   Outcome::status          an enum with an `ok` member
//
// Progress counts boards that ended not ok as failed (fan_out alone would
// count only exceptions). on_board is told each outcome, including those of
// boards never started; its own exceptions are ignored, a report callback
// must not stop the array. Cancelling the caller cancels every board and
// rethrows once they have unwound (fan_out's contract).
//
// Concurrency: opts.concurrency (0: all), capped at the descriptors the
// process can still open (descriptor_budget.hpp), one per board in flight;
// the other boards wait their turn instead of failing with EMFILE.

#include <cstddef>
#include <exception>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include <tw/fan_out.hpp>

#include "descriptor_budget.hpp"

namespace tw::algorithms::detail {

template <class Outcome, class Check, class FromError>
std::vector<Outcome> per_board(const std::vector<std::string>& addresses, Check&& check, FromError&& from_error,
                               fan_out_options opts, const std::function<void(std::size_t, const Outcome&)>& on_board) {
    opts.concurrency = descriptor_budget(opts.concurrency, addresses.size());
    std::size_t not_ok = 0;
    if (opts.progress)
        opts.progress = [&, user = std::move(opts.progress)](const fan_out_progress& p) {
            auto q = p;
            q.failed += not_ok;
            user(q);
        };
    auto tell = [&](std::size_t i, const Outcome& o) {
        if (on_board) try {
                on_board(i, o);
            } catch (...) {
            }
    };
    std::vector<std::size_t> index(addresses.size());
    std::iota(index.begin(), index.end(), std::size_t{0});
    auto r = tw::fan_out(
        index,
        [&](std::size_t i) {
            Outcome o;
            try {
                o = check(addresses[i]);
            } catch (...) {
                o = from_error(addresses[i], std::current_exception());
            }
            if (o.status != decltype(o.status)::ok) ++not_ok;
            tell(i, o);
            return o;
        },
        std::move(opts));
    std::vector<Outcome> out;
    out.reserve(addresses.size());
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        if (r.outcomes[i].ok()) {
            out.push_back(r.outcomes[i].value());
        } else {  // never started: the overall deadline passed first
            out.push_back(from_error(addresses[i], r.outcomes[i].error()));
            tell(i, out.back());
        }
    }
    return out;
}

}  // namespace tw::algorithms::detail
