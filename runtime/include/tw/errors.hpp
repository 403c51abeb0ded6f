#pragma once
// tw errors: one small hierarchy rooted at tw::error (a std::runtime_error).
//
//   tw::error              anything that went wrong while doing the work
//   ├─ interrupted_error   the operation was cut short by an order to stop:
//   │  ├─ timeout_error    a deadline passed before the operation finished
//   │  └─ cancelled_error  the fiber (or its task, fan-out or runtime) was cancelled
//   └─ io_error            an I/O operation failed; code() keeps the std::error_code
//   tw::usage_error      (a std::logic_error) the call itself is wrong, e.g. it would
//                        deadlock; the message says what to do instead
//
// Drivers add connection_error and protocol_error on top of these.
//
// Callers that only need to know "it was stopped, not broken" catch
// interrupted_error (userver's IoInterrupted).
//
// Example:
//   try { tw::run(tune, board); }
//   catch (const tw::timeout_error& e) { fmt::print("too slow: {}\n", e.what()); }
//   catch (const tw::interrupted_error&) { /* cancelled: not a failure of the board */ }

#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>

namespace tw {

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class interrupted_error : public error {
public:
    using error::error;
};

class timeout_error : public interrupted_error {
public:
    using interrupted_error::interrupted_error;
};

class cancelled_error : public interrupted_error {
public:
    using interrupted_error::interrupted_error;
};

class io_error : public error {
public:
    io_error(std::error_code code, const std::string& what);
    explicit io_error(std::error_code code);
    const std::error_code& code() const noexcept { return code_; }

private:
    std::error_code code_;
};

class usage_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

// The message of a stored exception: what() for std::exception, else
// "unknown exception"; "" for a null pointer. For reports and summaries.
std::string describe(const std::exception_ptr& e);

}  // namespace tw
