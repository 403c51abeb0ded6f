#pragma once
// tw::command_log: an optional log of every command and reply a driver
// exchanges, through an spdlog logger — one line per message with the
// logger's timestamp, the board's address, the direction (">" sent, "<"
// received, "-" connection events) and the text (printable bytes as text,
// control characters escaped; binary protocols as hex).
//
// A default-constructed command_log is off and costs one branch per message.
//
// Thread safety: copyable value; spdlog loggers are thread-safe.
//
// Example:
//   auto log = tw::command_log(spdlog::default_logger(), tw::command_log::level::info);
//   tw::scpi::client tc("127.0.0.1:5025", {.log = log});
//   tc.query("*IDN?");
//   // [info] 127.0.0.1:5025 > *IDN?
//   // [info] 127.0.0.1:5025 < TWSIM,TC-372,TC0001,1.0

#include <memory>
#include <string_view>

namespace spdlog {
class logger;
}

namespace tw {

class command_log {
public:
    enum class level { trace, debug, info };
    enum class format { text, hex };

    command_log() = default;
    explicit command_log(std::shared_ptr<spdlog::logger> logger, level lvl = level::debug, format fmt = format::text)
        : logger_(std::move(logger)), level_(lvl), format_(fmt) {}

    // The same logger and level with another format (Modbus logs hex).
    command_log with_format(format fmt) const {
        command_log c = *this;
        c.format_ = fmt;
        return c;
    }

    explicit operator bool() const noexcept { return logger_ != nullptr; }

    void sent(std::string_view address, std::string_view bytes) const {
        if (logger_) write(address, '>', bytes);
    }
    void received(std::string_view address, std::string_view bytes) const {
        if (logger_) write(address, '<', bytes);
    }
    // Connection events: "connected", "closed: <why>", "retrying in 100ms".
    void event(std::string_view address, std::string_view what) const;

private:
    void write(std::string_view address, char direction, std::string_view bytes) const;

    std::shared_ptr<spdlog::logger> logger_;
    level level_ = level::debug;
    format format_ = format::text;
};

}  // namespace tw
