#include <tw/drivers/errors.hpp>

namespace tw {

connection_error::connection_error(std::string address, std::error_code code, const std::string& what)
    : io_error(code, address + ": " + what), address_(std::move(address)) {}

protocol_error::protocol_error(std::string address, const std::string& what, int code, std::string peer_message,
                               std::string data)
    : error(address + ": " + what),
      address_(std::move(address)),
      code_(code),
      peer_message_(std::move(peer_message)),
      data_(std::move(data)) {}

}  // namespace tw
