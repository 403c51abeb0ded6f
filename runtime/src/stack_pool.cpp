#include "stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <new>
#include <string>

#include <valgrind/valgrind.h>

namespace tw::detail {

namespace {
constexpr std::size_t k_slab_stacks = 64;

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }
}  // namespace

std::size_t default_guarded_budget() noexcept {
    long max_maps = 65530;
    std::ifstream f("/proc/sys/vm/max_map_count");
    if (f) f >> max_maps;
    const long reserve = 16384;
    return max_maps > reserve ? static_cast<std::size_t>((max_maps - reserve) / 2) : 0;
}

stack_pool::stack_pool(std::size_t default_size, std::atomic<std::ptrdiff_t>& guarded_left,
                       std::atomic<bool>& warned, std::function<void(std::string_view)> warn)
    : default_size_(default_size),
      page_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))),
      guarded_left_(guarded_left),
      warned_(warned),
      warn_(std::move(warn)) {}

stack_pool::~stack_pool() {
    for (auto& b : guarded_maps_) {
        VALGRIND_STACK_DEREGISTER(b.valgrind_id);
        ::munmap(b.guard, b.size + page_);
    }
    for (auto& c : classes_)
        for (auto& b : c.free)
            if (!b.guarded) VALGRIND_STACK_DEREGISTER(b.valgrind_id);
    for (auto& s : slabs_) ::munmap(s.base, s.bytes);
    guarded_left_.fetch_add(static_cast<std::ptrdiff_t>(guarded_count_), std::memory_order_relaxed);
}

stack_pool::size_class& stack_pool::cls(std::size_t size) {
    for (auto& c : classes_)
        if (c.size == size) return c;
    classes_.push_back({size, {}});
    return classes_.back();
}

stack_block stack_pool::allocate(std::size_t size) {
    size = round_up(size ? size : default_size_, page_);
    auto& c = cls(size);
    if (!c.free.empty()) {
        stack_block b = c.free.back();
        c.free.pop_back();
        count_pooled(-1);
        return b;
    }
    if (guarded_left_.fetch_sub(1, std::memory_order_relaxed) > 0) return map_guarded(size);
    guarded_left_.fetch_add(1, std::memory_order_relaxed);
    if (!warned_.exchange(true))
        warn_("tw: guard-page budget for fiber stacks used up; further stacks are canary-checked only "
              "(raise vm.max_map_count or runtime_options::guarded_stacks for more)");
    return carve_plain(size);
}

stack_block stack_pool::map_guarded(std::size_t size) {
    void* p = ::mmap(nullptr, size + page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        guarded_left_.fetch_add(1, std::memory_order_relaxed);
        throw std::bad_alloc();
    }
    if (::mprotect(p, page_, PROT_NONE) != 0) {
        ::munmap(p, size + page_);
        guarded_left_.fetch_add(1, std::memory_order_relaxed);
        throw std::bad_alloc();
    }
    stack_block b;
    b.guard = p;
    b.lo = static_cast<char*>(p) + page_;
    b.size = size;
    b.guarded = true;
    b.valgrind_id = VALGRIND_STACK_REGISTER(b.lo, static_cast<char*>(b.lo) + size);
    guarded_maps_.push_back(b);
    ++guarded_count_;
    return b;
}

stack_block stack_pool::carve_plain(std::size_t size) {
    // One mapping for many stacks; all but the first go straight to the pool.
    const std::size_t bytes = size * k_slab_stacks;
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    slabs_.push_back({p, bytes});
    auto& c = cls(size);
    stack_block first;
    for (std::size_t i = 0; i < k_slab_stacks; ++i) {
        stack_block b;
        b.lo = static_cast<char*>(p) + i * size;
        b.size = size;
        b.valgrind_id = VALGRIND_STACK_REGISTER(b.lo, static_cast<char*>(b.lo) + size);
        std::memcpy(b.lo, &k_canary, sizeof k_canary);
        if (i == 0) {
            first = b;
        } else {
            c.free.push_back(b);
            count_pooled(1);
        }
    }
    return first;
}

bool stack_pool::canary_intact(const stack_block& b) noexcept {
    if (b.guarded) return true;
    std::uint64_t v;
    std::memcpy(&v, b.lo, sizeof v);
    return v == k_canary;
}

void stack_pool::deallocate(const stack_block& b) noexcept {
    try {
        cls(b.size).free.push_back(b);
        count_pooled(1);
    } catch (...) {
        // Out of memory for the free list: the stack stays mapped (it is
        // unmapped with its slab or in ~stack_pool), only reuse is lost.
    }
}

}  // namespace tw::detail
