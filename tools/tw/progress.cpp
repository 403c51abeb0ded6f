// tw::cli::progress: see progress.hpp.
#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/core.h>

namespace tw::cli {

using namespace std::chrono_literals;

std::string eta_text(double seconds) {
    if (!(seconds >= 0) || seconds > 1e7) return "?";
    const auto s = static_cast<long>(seconds + 0.5);
    if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
    if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
    return fmt::format("{}s", s);
}

std::string grouped(std::size_t n) {
    std::string digits = std::to_string(n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

progress::progress(std::string label, std::size_t total, bool quiet)
    : progress(std::move(label), total, quiet, ::isatty(STDERR_FILENO) == 1) {}

progress::progress(std::string label, std::size_t total, bool quiet, bool terminal)
    : label_(std::move(label)), total_(total), quiet_(quiet), terminal_(terminal) {
    last_.total = total;
}

progress::~progress() { finish(); }

void progress::boards(const fan_out_progress& p) {
    std::lock_guard g(mutex_);
    last_ = p;
    draw(p.done == p.total);
}

void progress::channels(const std::string& key, std::size_t done, std::size_t of) {
    std::lock_guard g(mutex_);
    ++channels_tuned_;
    partial_[key] = of ? static_cast<double>(done) / static_cast<double>(of) : 0.0;
    draw(false);
}

void progress::board_done(const std::string& key) {
    std::lock_guard g(mutex_);
    partial_.erase(key);
}

void progress::line(const std::string& text) {
    std::lock_guard g(mutex_);
    clear();
    fmt::print(stderr, "{}\n", text);
    std::fflush(stderr);
    if (terminal_ && !finished_) draw(true);
}

void progress::show() {
    std::lock_guard g(mutex_);
    draw(true);
}

void progress::finish() {
    std::lock_guard g(mutex_);
    if (finished_) return;
    if (!terminal_ && drawn_) draw(true);  // the last state, once
    clear();
    finished_ = true;
}

void progress::draw(bool force) {
    if (quiet_ || finished_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && drawn_ && now - drawn_at_ < (terminal_ ? 100ms : 2s)) return;
    drawn_at_ = now;

    // Work done in boards: the finished ones and the fractions of those in flight.
    double done = static_cast<double>(last_.done);
    for (const auto& [key, fraction] : partial_) done += fraction;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    // No estimate from almost nothing: the first seconds say little.
    const bool can_estimate = done >= 0.5 && elapsed >= 1 && done < static_cast<double>(total_);
    const std::string eta = can_estimate ? eta_text(elapsed / done * (static_cast<double>(total_) - done)) : "?";

    std::string text = fmt::format("{}: {}/{} done, {} failed, {} in flight", label_, last_.done, total_, last_.failed,
                                   last_.in_flight);
    if (channels_tuned_) text += fmt::format(", {} channels tuned", grouped(channels_tuned_));
    if (last_.done < total_) text += ", ETA " + eta;
    if (terminal_) {
        fmt::print(stderr, "\r\033[K{}", text);
    } else {
        if (text == last_text_) return;  // a log says each state once
        fmt::print(stderr, "{}\n", text);
    }
    last_text_ = std::move(text);
    std::fflush(stderr);
    drawn_ = true;
}

void progress::clear() {
    if (terminal_ && drawn_) {
        fmt::print(stderr, "\r\033[K");
        std::fflush(stderr);
    }
}

}  // namespace tw::cli
