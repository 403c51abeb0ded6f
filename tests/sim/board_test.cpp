// The replies of a simulated board, byte for byte: every request below, run in
// order on one fresh board, must get exactly the reply recorded in
// board_replies.json. The recording was made before the reply writer and the
// S21 product were reworked for speed, so a difference is a change of the wire
// (or of the physics) — make it on purpose, then record again:
//     TW_RECORD_BOARD_REPLIES=1 build/bin/sim_board_test
// Replies (and requests) longer than k_max_shown bytes are kept as their size
// and FNV-1a hash, which keeps the file small enough to read.
#include "board.hpp"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <tw/sim/physics.hpp>
#include <tw/sim/simulator.hpp>

#include "servers.hpp"

namespace json = boost::json;

namespace {

constexpr std::size_t k_max_shown = 4096;
const std::string k_file = std::string(TW_SIM_SCRIPTS_DIR) + "/board_replies.json";

// 64 channels (as tw sim's boards), seed 1, board 3; get_temperature is left
// out of the requests since it depends on the time.
std::unique_ptr<tw::sim::detail::board> make_board() {
    tw::sim::detail::board_params p;
    p.index = 3;
    p.seed = 1;
    p.channels = 64;
    p.serial = "TWB-00003";
    p.epoch = std::chrono::steady_clock::now();
    return std::make_unique<tw::sim::detail::board>(p, tw::sim::make_resonators(p.seed, p.index, p.channels, p.fmin, p.fmax));
}

std::string shown(const std::string& s) {
    if (s.size() <= k_max_shown) return s;
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
    return fmt::format("<{} bytes, fnv1a {:016x}>", s.size(), h);
}

// A request as the file shows it: bytes beyond ASCII as \xHH, since a request
// need not be UTF-8 and the file is JSON. (Replies are always UTF-8.)
std::string shown_request(const std::string& s) {
    std::string out;
    for (unsigned char c : s) out += c < 0x80 ? std::string(1, static_cast<char>(c)) : fmt::format("\\x{:02x}", c);
    return shown(out);
}

enum class kind { tuber, tuber_continue, rpc, http };

struct request {
    kind k;
    std::string body;
};

std::string call(std::string_view method, const json::array& args) {
    return json::serialize(json::object{{"object", "Board"}, {"method", method}, {"args", args}, {"kwargs", json::object{}}});
}

std::string batch(const std::vector<std::string>& calls) {
    std::string s = "[";
    for (std::size_t i = 0; i < calls.size(); ++i) s += (i ? "," : "") + calls[i];
    return s + "]";
}

std::string http_post(std::string_view target, const std::string& body, std::string_view version = "1.1",
                      std::string_view headers = "") {
    return fmt::format("POST {} HTTP/{}\r\nHost: x\r\nContent-Length: {}\r\n{}\r\n{}", target, version, body.size(), headers, body);
}

std::vector<request> requests() {
    const auto res = tw::sim::make_resonators(1, 3, 64, 4.0e6, 6.0e6);
    std::vector<request> r;
    auto tuber = [&](std::string body) { r.push_back({kind::tuber, std::move(body)}); };

    // Methods, as tw tune sends them.
    tuber(call("get_frequency", {0}));
    tuber(call("set_frequency", {1, 4100000.5}));
    tuber(call("get_frequency", {1}));
    tuber(call("set_amplitude", {1, 0.25}));
    tuber(call("get_amplitude", {1}));
    tuber(call("get_samples", {1}));
    tuber(R"({"object":"Board","method":"get_samples","kwargs":{"channel":1,"n":16}})");
    tuber(R"({"object":"Board","method":"get_samples","args":[1],"kwargs":{"n":2.0}})");
    tuber(call("get_samples", {2, 4}));  // amplitude 0: a warning
    tuber(R"({"object":["Board"],"method":"get_samples","args":[2,1],"args":[1,1]})");
    tuber(call("reset", {}));
    // Sweeps across resonators, at and around each centre: both branches of
    // the complex division in S21, and the dips themselves.
    for (std::size_t ch : {0u, 5u, 63u}) {
        std::vector<std::string> calls{call("set_amplitude", {ch, 0.5})};
        for (int k = -20; k <= 20; ++k) {
            const auto& x = res[ch];
            calls.push_back(call("set_frequency", {ch, x.f + k * 0.2 * x.linewidth()}));
            calls.push_back(call("get_samples", {ch, 100}));
        }
        calls.push_back(call("set_frequency", {ch, 4.0e6}));
        calls.push_back(call("get_samples", {ch, 1}));
        calls.push_back(call("set_frequency", {ch, 6.0e6}));
        calls.push_back(call("get_samples", {ch, 1000000}));
        r.push_back({kind::tuber_continue, batch(calls)});
    }
    // A batch like tw tune's coarse sweep: 500 points of 1000 calls.
    {
        std::vector<std::string> calls;
        for (int i = 0; i < 500; ++i) {
            calls.push_back(call("set_frequency", {7, 4.0e6 + i * 4000.0}));
            calls.push_back(call("get_samples", {7, 256}));
        }
        r.push_back({kind::tuber_continue, batch(calls)});
    }

    // Properties, descriptions, the registry.
    for (const char* p : {"SERIAL", "FIRMWARE", "NCHANNELS", "FMIN", "FMAX", "NOPE", "get_samples"})
        tuber(json::serialize(json::object{{"object", "Board"}, {"property", p}}));
    tuber(R"({"object":"Board"})");
    tuber(R"({"object":"Board","resolve":true})");
    tuber(R"({"object":null})");
    tuber(R"({})");
    tuber(R"({"object":null,"method":"x"})");

    // Malformed calls, in the order the checks run.
    for (const char* c : {
             R"({"object":"Nope","method":"get_frequency"})",
             R"({"object":5})",
             R"({"object":["Board","x"]})",
             R"({"object":"Board","method":5})",
             R"({"object":"Board","property":[1,2]})",
             R"({"object":"Board","method":"get_frequency","args":"x"})",
             R"({"object":"Board","method":"get_frequency","kwargs":[1]})",
             R"({"object":"Board","resolve":"yes"})",
             R"({"object":"Board","method":"get_frequency","property":"FMIN"})",
             R"({"object":"Board","args":[1]})",
             R"({"object":"Board","method":"nope"})",
             R"({"object":"Board","method":"get_frequency","args":[1,2]})",
             R"({"object":"Board","method":"reset","args":[1]})",
             R"({"object":"Board","method":"get_frequency","kwargs":{"chanel":1}})",
             R"({"object":"Board","method":"get_samples","args":[1],"kwargs":{"channel":1}})",
             R"({"object":"Board","method":"set_frequency","args":[1]})",
             R"({"object":"Board","method":"get_frequency","args":null,"kwargs":null})",
             R"({"object":"Board","method":"get_frequency","args":[64]})",
             R"({"object":"Board","method":"get_frequency","args":[-1]})",
             R"({"object":"Board","method":"get_frequency","args":[1.5]})",
             R"({"object":"Board","method":"get_frequency","args":["0"]})",
             R"({"object":"Board","method":"get_frequency","args":[18446744073709551615]})",
             R"({"object":"Board","method":"get_frequency","args":[true]})",
             R"({"object":"Board","method":"set_frequency","args":[0,1e300]})",
             R"({"object":"Board","method":"set_frequency","args":[0,-0.0]})",
             R"({"object":"Board","method":"set_frequency","args":[0,{"a":[1,2,{"b":"a long string to clip at forty bytes"}]}]})",
             R"({"object":"Board","method":"set_amplitude","args":[0,1.0000001]})",
             R"({"object":"Board","method":"get_samples","args":[0,0]})",
             R"({"object":"Board","method":"get_samples","args":[0,1000001]})",
             R"({"object":"Board","method":"get_samples","args":[0,9007199254740993]})",
             R"({"object":"Board","metod":"get_frequency"})",
             R"({"object":"Board","\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9":1})",
             R"({"object":"Board","k\u0001\"\\\n\t\u007f\u2028":1})",
             R"({"object":"Board","method":"get_frequency","kwargs":{"\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00":1}})",
             R"({"object":"Board","method":"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"})",
             R"({"object":"Board","method":"get_frequency","args":[0],"object":"Nope"})",
             R"(5)",
             R"("Board")",
         })
        tuber(c);

    // Whole bodies: unreadable, out of range, batches.
    for (const char* b : {"", "{", "[1,", "nul", "1e999", "[{\"object\":\"Board\",\"method\":\"get_frequency\",\"args\":[1e999]}]",
                          "[]", "[5,[],null]"})
        tuber(b);
    tuber(std::string(40, '[') + std::string(40, ']'));
    const std::vector<std::string> mixed{call("set_amplitude", {3, 0.5}), call("get_frequency", {99}), call("get_samples", {3, 8}),
                                         R"({"object":"Board","property":"SERIAL"})", call("get_samples", {4, 8}), "7"};
    tuber(batch(mixed));
    r.push_back({kind::tuber_continue, batch(mixed)});
    tuber(batch(std::vector<std::string>(tw::sim::k_max_batch + 1, "{}")));
    tuber(batch(std::vector<std::string>(tw::sim::k_max_batch, "{}")));
    // Over the reply budget: the descriptions alone pass it.
    r.push_back({kind::tuber_continue, batch(std::vector<std::string>(6000, R"({"object":"Board"})"))});

    // JSON-RPC 2.0.
    for (const char* b : {
             R"({"jsonrpc":"2.0","method":"Board.get_frequency","params":[0],"id":1})",
             R"({"jsonrpc":"2.0","method":"Board.set_frequency","params":{"channel":2,"hz":5e6},"id":"a"})",
             R"({"jsonrpc":"2.0","method":"Board.get_samples","params":[2],"id":null})",
             R"({"jsonrpc":"2.0","method":"Board.set_amplitude","params":[2,0.5]})",
             R"({"jsonrpc":"2.0","method":"Board.get_samples","params":[2,10],"id":2.5})",
             R"({"jsonrpc":"2.0","method":"Board.get_samples","params":[99],"id":3})",
             R"({"jsonrpc":"2.0","method":"Board.get_samples","params":{"chan":1},"id":4})",
             R"({"jsonrpc":"2.0","method":"Board.nope","id":5})",
             R"({"jsonrpc":"2.0","method":"get_frequency","id":6})",
             R"({"jsonrpc":"2.0","method":"Board.get_frequency","params":[0],"id":{}})",
             R"({"jsonrpc":"1.0","method":"Board.get_frequency","params":[0],"id":7})",
             R"({"jsonrpc":"2.0","method":5,"id":8})",
             R"({"jsonrpc":"2.0","method":"Board.reset","params":5,"id":9})",
             R"({"jsonrpc":"2.0","method":"Board.reset","extra":1,"id":10})",
             R"({"jsonrpc":"2.0","method":"Board.reset","id":11})",
             R"([{"jsonrpc":"2.0","method":"Board.get_frequency","params":[2]},{"jsonrpc":"2.0","method":"Board.get_frequency","params":[2],"id":12},5,{"jsonrpc":"2.0","method":"Board.x","id":13}])",
             R"([{"jsonrpc":"2.0","method":"Board.reset"}])",
             R"([])",
             R"({)",
             R"(1e999)",
         })
        r.push_back({kind::rpc, b});
    r.push_back({kind::rpc, fmt::format(R"({{"jsonrpc":"2.0","method":"Board.reset","id":"{}"}})", std::string(300, 'x'))});

    // HTTP: keep-alive, options, errors, HTTP/1.0.
    const auto one = call("get_frequency", {0});
    const auto bad = batch({call("get_frequency", {99}), one});
    r.push_back({kind::http, http_post("/tuber", one) + http_post("/tuber?x=1", bad) +
                                 http_post("/tuber", bad, "1.1", "X-Tuber-Options: foo, Continue-On-Error \r\n")});
    r.push_back({kind::http, http_post("/rpc", R"({"jsonrpc":"2.0","method":"Board.reset"})") + http_post("/nope\xff", one)});
    r.push_back({kind::http, "GET /tuber HTTP/1.1\r\nHost: x\r\n\r\n" + http_post("/tuber", one, "1.0")});
    r.push_back({kind::http, http_post("/tuber", one, "1.0", "Connection: keep-alive\r\n") + http_post("/tuber", one, "1.1", "Connection: close\r\n")});
    r.push_back({kind::http, "BREW /tuber HTTP/1.1\r\n\r\n"});
    r.push_back({kind::http, "POST /tuber HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n"});
    r.push_back({kind::http, "POST /tuber HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"});
    return r;
}

std::string reply(tw::sim::detail::board& b, const request& q) {
    switch (q.k) {
        case kind::tuber: return b.tuber(q.body, false);
        case kind::tuber_continue: return b.tuber(q.body, true);
        case kind::rpc: return b.jsonrpc(q.body);
        case kind::http: return tw::sim::detail::serve_http_bytes(b, q.body);
    }
    return {};
}

std::string kind_name(kind k) {
    switch (k) {
        case kind::tuber: return "tuber";
        case kind::tuber_continue: return "tuber continue-on-error";
        case kind::rpc: return "rpc";
        case kind::http: return "http";
    }
    return {};
}

}  // namespace

TEST(SimBoard, RepliesAreByteForByteTheRecordedOnes) {
    auto b = make_board();
    const auto rs = requests();
    if (std::getenv("TW_RECORD_BOARD_REPLIES")) {
        // One request per line, so that a change shows as a small diff.
        std::ofstream out(k_file);
        for (std::size_t i = 0; i < rs.size(); ++i)
            out << (i ? ",\n" : "[\n")
                << json::serialize(json::object{{"kind", kind_name(rs[i].k)}, {"request", shown_request(rs[i].body)}, {"reply", shown(reply(*b, rs[i]))}});
        out << "\n]\n";
        GTEST_SKIP() << "recorded " << rs.size() << " replies in " << k_file;
    }
    std::ifstream in(k_file);
    ASSERT_TRUE(in) << "cannot open " << k_file;
    std::stringstream text;
    text << in.rdbuf();
    const auto recorded = json::parse(text.str()).as_array();
    ASSERT_EQ(recorded.size(), rs.size()) << "the requests changed: record again";
    for (std::size_t i = 0; i < rs.size(); ++i) {
        const auto& e = recorded[i].as_object();
        ASSERT_EQ(e.at("kind").as_string(), kind_name(rs[i].k)) << "request " << i;
        ASSERT_EQ(e.at("request").as_string(), shown_request(rs[i].body)) << "request " << i;
        EXPECT_EQ(e.at("reply").as_string(), shown(reply(*b, rs[i]))) << "request " << i << ": " << shown_request(rs[i].body).substr(0, 200);
    }
}
