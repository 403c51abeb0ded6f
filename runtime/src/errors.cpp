#include <tw/errors.hpp>

namespace tw {

io_error::io_error(std::error_code code, const std::string& what)
    : error(what + ": " + code.message()), code_(code) {}

io_error::io_error(std::error_code code) : error(code.message()), code_(code) {}

}  // namespace tw
