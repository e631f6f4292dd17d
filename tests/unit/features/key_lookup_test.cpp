// Looking up a known key allocates nothing (the live server resolves a customer and a terminal
// key for every transaction). This binary's global operator new counts the allocations of the
// calling thread.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>

#include "txguard/features/feature_engine.hpp"
#include "txguard/features/feature_spec.hpp"

namespace {
thread_local long allocations = 0;
}  // namespace

// Every unaligned form is replaced (one allocator for all of them, so that memory from one form
// freed through another stays consistent, as the sanitizers check); the aligned forms keep the
// library's own pair.
void* operator new(std::size_t n) {
    ++allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    ++allocations;
    return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
    return ::operator new(n, t);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace txguard {
namespace {

TEST(FeatureEngine, LookingUpAKnownLongKeyAllocatesNothing) {
    FeatureSpec spec;
    EntitySpec e;
    e.name = "cust";
    e.windows_days = {1};
    e.aggregates = {Aggregate::kCount};
    spec.entities.push_back(e);
    FeatureEngine engine(spec);
    const std::string token = "tok_4f1c2a9e8b7d6c5a4b3c2d1e0f9a8b7c";  // longer than SSO
    const auto id = engine.CustomerId(token);
    const std::string_view view = token;
    const long before = allocations;
    EXPECT_EQ(engine.CustomerId(view), id);
    EXPECT_EQ(engine.KeyId(KeyField::kCustomer, view), id);
    EXPECT_EQ(allocations, before);
}

}  // namespace
}  // namespace txguard
