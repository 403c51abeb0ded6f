// tw shell's lexer: see shell_words.hpp.
#include "shell_words.hpp"

#include <stdexcept>

namespace tw::cli {

std::vector<std::vector<std::string>> split_commands(std::string_view line) {
    std::vector<std::vector<std::string>> out(1);
    std::string word;
    bool in_word = false;  // a word has begun (even an empty quoted one: '')
    auto end_word = [&] {
        if (in_word) out.back().push_back(std::move(word));
        word.clear();
        in_word = false;
    };
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            end_word();
        } else if (c == ';') {
            end_word();
            out.emplace_back();
        } else if (c == '#' && !in_word) {
            break;
        } else if (c == '\\') {
            if (++i == line.size()) throw std::invalid_argument("a backslash ends the line");
            word += line[i];
            in_word = true;
        } else if (c == '\'') {
            const auto close = line.find('\'', i + 1);
            if (close == std::string_view::npos) throw std::invalid_argument("unterminated ' quote");
            word.append(line.substr(i + 1, close - i - 1));
            i = close;
            in_word = true;
        } else if (c == '"') {
            in_word = true;
            for (++i;; ++i) {
                if (i >= line.size()) throw std::invalid_argument("unterminated \" quote");
                if (line[i] == '"') break;
                if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) ++i;
                word += line[i];
            }
        } else {
            word += c;
            in_word = true;
        }
    }
    end_word();
    std::erase_if(out, [](const auto& words) { return words.empty(); });
    return out;
}

}  // namespace tw::cli
