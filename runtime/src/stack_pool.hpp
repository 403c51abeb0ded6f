#pragma once
// tw::detail::stack_pool: fiber stacks for one worker thread, reused instead
// of being mapped and unmapped per fiber (unmapping is what makes naive fiber
// clients slow to tear down).
//
// Up to `guarded_budget` stacks (runtime-wide) get a PROT_NONE guard page below
// them, so an overflow faults at once and is reported with the fiber's name.
// A guarded stack costs two kernel mappings and vm.max_map_count is finite, so
// past the budget stacks come from large unguarded slabs (one mapping per 64
// stacks) with a canary word at the bottom, checked when the fiber ends; the
// first such fallback is reported once.
//
// Thread safety: one pool per worker, used only on that worker's thread; the
// guarded-stack budget is a shared atomic.

#include <atomic>
#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

namespace tw::detail {

struct stack_block {
    void* lo = nullptr;     // lowest usable byte (above the guard page, if any)
    std::size_t size = 0;   // usable bytes
    bool guarded = false;
    void* guard = nullptr;  // the guard page
    unsigned valgrind_id = 0;
};

class stack_pool {
public:
    stack_pool(std::size_t default_size, std::atomic<std::ptrdiff_t>& guarded_left,
               std::atomic<bool>& warned, std::function<void(std::string_view)> warn);
    ~stack_pool();
    stack_pool(const stack_pool&) = delete;
    stack_pool& operator=(const stack_pool&) = delete;

    stack_block allocate(std::size_t size);  // size 0: default
    void deallocate(const stack_block& b) noexcept;

    // Free stacks kept for reuse; may be read from any thread.
    std::size_t pooled() const noexcept { return pooled_.load(std::memory_order_relaxed); }
    std::size_t guarded_in_use() const noexcept { return guarded_count_; }

    static constexpr std::uint64_t k_canary = 0x7477'5354'4143'4b21ull;  // "twSTACK!"
    static bool canary_intact(const stack_block& b) noexcept;

private:
    struct size_class {
        std::size_t size;
        std::vector<stack_block> free;
    };
    size_class& cls(std::size_t size);
    stack_block map_guarded(std::size_t size);
    stack_block carve_plain(std::size_t size);

    std::size_t default_size_;
    std::size_t page_;
    std::atomic<std::ptrdiff_t>& guarded_left_;
    std::atomic<bool>& warned_;
    std::function<void(std::string_view)> warn_;
    std::vector<size_class> classes_;
    struct slab {
        void* base;
        std::size_t bytes;
    };
    std::vector<slab> slabs_;
    std::vector<stack_block> guarded_maps_;  // every guarded stack ever mapped, unmapped at the end
    std::size_t guarded_count_ = 0;
    std::atomic<std::size_t> pooled_{0};
    void count_pooled(std::ptrdiff_t d) noexcept {
        pooled_.store(pooled_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
    }
};

// Guard-page budget from the kernel's mapping limit, leaving room for the rest
// of the process (libraries, thread stacks, malloc arenas, sockets' buffers).
std::size_t default_guarded_budget() noexcept;

}  // namespace tw::detail
