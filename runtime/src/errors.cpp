#include <tw/errors.hpp>

namespace tw {

io_error::io_error(std::error_code code, const std::string& what)
    : error(what + ": " + code.message()), code_(code) {}

io_error::io_error(std::error_code code) : error(code.message()), code_(code) {}

std::string describe(const std::exception_ptr& e) {
    if (!e) return {};
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "unknown exception";
    }
}

}  // namespace tw
