// JSON forms of the tuning results: see to_json.hpp.
#include <tw/algorithms/to_json.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace tw::algorithms {

namespace json = boost::json;

json::value to_json(const resonance& r) {
    return json::object{{"frequency", r.frequency}, {"depth", r.depth}, {"linewidth", r.linewidth}, {"q", r.q}};
}

json::value to_json(const channel_result& c) {
    return json::object{{"channel", c.channel},
                        {"frequency", c.frequency},
                        {"amplitude", c.amplitude},
                        {"s21", c.s21},
                        {"verified", c.verified}};
}

json::value to_json(const sweep_data& s) {
    json::array f, m, p;
    f.reserve(s.points.size());
    m.reserve(s.points.size());
    p.reserve(s.points.size());
    for (const auto& pt : s.points) {
        f.push_back(pt.frequency);
        m.push_back(pt.magnitude);
        p.push_back(pt.phase);
    }
    return json::object{{"channel", s.channel},         {"amplitude", s.amplitude}, {"samples", s.samples},
                        {"frequency", std::move(f)}, {"magnitude", std::move(m)}, {"phase", std::move(p)}};
}

json::value to_json(const board_result& b, bool with_sweep) {
    json::array res, chans;
    for (const auto& r : b.resonances) res.push_back(to_json(r));
    for (const auto& c : b.channels) chans.push_back(to_json(c));
    json::object o{{"address", b.address},
                   {"serial", b.serial},
                   {"resonators_found", b.resonators_found},
                   {"channels_tuned", b.channels_tuned},
                   {"channels_verified", b.channels_verified},
                   {"resonances", std::move(res)},
                   {"channels", std::move(chans)}};
    if (with_sweep) o["sweep"] = to_json(b.sweep);
    return o;
}

}  // namespace tw::algorithms
