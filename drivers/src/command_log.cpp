#include <tw/drivers/command_log.hpp>

#include <string>

#include <spdlog/spdlog.h>

namespace tw {

namespace {

constexpr std::size_t k_max_logged = 4096;  // longer messages are cut (and say so)

spdlog::level::level_enum to_spdlog(command_log::level l) {
    switch (l) {
        case command_log::level::trace: return spdlog::level::trace;
        case command_log::level::debug: return spdlog::level::debug;
        case command_log::level::info: return spdlog::level::info;
    }
    return spdlog::level::debug;
}

std::string as_text(std::string_view bytes) {
    std::string out;
    const auto n = std::min(bytes.size(), k_max_logged);
    out.reserve(n);
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(bytes[i]);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (c < 0x20 || c >= 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (bytes.size() > n) out += "... (" + std::to_string(bytes.size()) + " bytes)";
    return out;
}

std::string as_hex(std::string_view bytes) {
    std::string out;
    const auto n = std::min(bytes.size(), k_max_logged);
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(bytes[i]);
        if (i) out += ' ';
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    if (bytes.size() > n) out += " ... (" + std::to_string(bytes.size()) + " bytes)";
    return out;
}

}  // namespace

void command_log::event(std::string_view address, std::string_view what) const {
    if (logger_) logger_->log(to_spdlog(level_), "{} - {}", address, what);
}

void command_log::write(std::string_view address, char direction, std::string_view bytes) const {
    const auto lvl = to_spdlog(level_);
    if (!logger_->should_log(lvl)) return;
    logger_->log(lvl, "{} {} {}", address, direction, format_ == format::hex ? as_hex(bytes) : as_text(bytes));
}

}  // namespace tw
