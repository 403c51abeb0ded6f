// Compile test (runtime_compile_async_run_*yield*): tw::async_run rejects a
// plain boost::asio::yield_context with a static_assert that names the form
// that works, instead of failing inside Boost 1.81's spawn (a job with a
// result) or compiling into a crash (a void job). With -DTW_USE_AS_TUPLE the
// same calls use as_tuple(yield) and must compile (the positive twins).
// -DTW_VOID_JOB checks a void job instead of one with a result.
#include <tw/run.hpp>

#include <exception>
#include <tuple>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/spawn.hpp>

#ifndef TW_VOID_JOB
int ask_from_a_coroutine(tw::runtime& rt, boost::asio::yield_context yield) {
#ifdef TW_USE_AS_TUPLE
    auto [error, value] = tw::async_run(rt, [] { return 5; }, boost::asio::as_tuple(yield));
    if (error) std::rethrow_exception(error);
    return value;
#else
    return tw::async_run(rt, [] { return 5; }, yield);  // error: use as_tuple(yield)
#endif
}
#else
void tell_from_a_coroutine(tw::runtime& rt, boost::asio::yield_context yield) {
#ifdef TW_USE_AS_TUPLE
    auto [error] = tw::async_run(rt, [] {}, boost::asio::as_tuple(yield));
    if (error) std::rethrow_exception(error);
#else
    tw::async_run(rt, [] {}, yield);  // error: use as_tuple(yield)
#endif
}
#endif
