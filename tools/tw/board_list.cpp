// Board lists: see board_list.hpp.
#include "board_list.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <boost/algorithm/string/trim.hpp>

#include <tw/drivers/address.hpp>

namespace tw::cli {

namespace {


std::string trim(std::string_view s) { return std::string(boost::algorithm::trim_copy(s)); }

// ADDRESS or RANGE -> addresses. The address is checked by the drivers'
// parser (tw::parse_address), the one definition of HOST:PORT; a range only
// adds "+N" after it.
void expand(const std::string& entry, const std::string& name, std::vector<board_entry>& out) {
    const auto colon = entry.rfind(':');
    const auto plus = colon == std::string::npos ? std::string::npos : entry.find('+', colon);
    const std::string address = entry.substr(0, plus);
    const auto port = tw::parse_address(address).port;  // std::invalid_argument saying what is wrong
    unsigned long count = 1;
    if (plus != std::string::npos) {
        const std::string n = entry.substr(plus + 1);
        if (n.empty() || n.size() > 5 || n.find_first_not_of("0123456789") != std::string::npos)
            throw std::invalid_argument("bad count in board range '" + entry + "' (HOST:PORT+N, N in 1..65535)");
        count = std::stoul(n);
        if (count == 0) throw std::invalid_argument("board range '" + entry + "' has no boards");
    }
    if (port + count - 1 > 65535) throw std::invalid_argument("board range '" + entry + "' runs past port 65535");
    if (out.size() + count > k_max_boards)
        throw std::invalid_argument("the board list names more than " + std::to_string(k_max_boards) + " boards (at '" +
                                    entry + "')");
    const std::string host = address.substr(0, address.rfind(':'));
    for (unsigned long k = 0; k < count; ++k)
        out.push_back({count == 1 ? name : (name.empty() ? name : name + "-" + std::to_string(k)),
                       host + ":" + std::to_string(port + k)});
}


}  // namespace

std::vector<board_entry> parse_board_file(std::string_view text, const std::string& path) {
    std::vector<board_entry> out;
    std::istringstream lines{std::string(text)};
    std::string line;
    while (std::getline(lines, line)) {
        if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
        std::istringstream words(line);
        std::vector<std::string> w;
        for (std::string x; words >> x;) w.push_back(x);
        if (w.empty()) continue;
        if (w.size() == 1)
            expand(w[0], "", out);
        else if (w.size() == 2)
            expand(w[1], w[0], out);
        else
            throw std::invalid_argument("board list '" + path + "': expected ADDRESS, RANGE or NAME ADDRESS, got '" +
                                        trim(line) + "'");
    }
    if (out.empty()) throw std::invalid_argument("the board list '" + path + "' names no boards");
    return out;
}

std::vector<board_entry> parse_board_spec(std::string_view spec) {
    std::vector<board_entry> out;
    std::size_t start = 0;
    while (start <= spec.size()) {
        auto comma = spec.find(',', start);
        if (comma == std::string_view::npos) comma = spec.size();
        auto entry = trim(spec.substr(start, comma - start));
        if (!entry.empty()) expand(entry, "", out);
        start = comma + 1;
    }
    if (out.empty()) throw std::invalid_argument("the board list '" + std::string(spec) + "' names no boards");
    return out;
}

std::vector<board_entry> parse_board_list(const std::string& spec) {
    std::error_code ec;
    if (!spec.empty() && std::filesystem::is_regular_file(spec, ec)) {
        std::ifstream f(spec, std::ios::binary);
        if (!f) throw std::invalid_argument("cannot read the board list '" + spec + "'");
        std::ostringstream text;
        text << f.rdbuf();
        return parse_board_file(text.str(), spec);
    }
    return parse_board_spec(spec);
}

}  // namespace tw::cli
