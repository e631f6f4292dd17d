#include "txguard/sim/simulator.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "terminal_grid.hpp"
#include "txguard/core/bytes.hpp"
#include "txguard/core/check.hpp"
#include "txguard/core/parallel.hpp"
#include "txguard/core/rng.hpp"
#include "txguard/core/time.hpp"

namespace txguard {
namespace {

constexpr double kGridSize = 100.0;
constexpr std::uint32_t kSecondsPerDay = 86'400;
constexpr int kSecondBits = 17;                    // a second of the day fits in 17 bits
constexpr double kMeanTimeOfDay_s = 86'400.0 / 2;  // noon
constexpr double kStdTimeOfDay_s = 20'000.0;
constexpr double kScenario1Amount = 220.0;
constexpr std::uint32_t kTerminalCompromiseDays = 28;
constexpr std::uint32_t kCardCompromiseDays = 14;
constexpr double kScenario3Factor = 5.0;
// Scenario 4 (card testing).
constexpr std::uint32_t kTestsMin = 3, kTestsMax = 8;
constexpr double kTestAmountMin = 0.5, kTestAmountMax = 2.0;
constexpr std::uint32_t kTestGapMin_s = 60, kTestGapMax_s = 600;
constexpr std::uint32_t kPurchasesMin = 1, kPurchasesMax = 2;
constexpr std::uint32_t kPurchaseGapMin_s = 600, kPurchaseGapMax_s = 7200;
constexpr double kPurchaseAmountMin = 150.0, kPurchaseAmountMax = 750.0;
constexpr std::uint32_t kCardTestingSpan_s =
    (kTestsMax - 1) * kTestGapMax_s + kPurchasesMax * kPurchaseGapMax_s;
// Scenario 5 (account takeover).
constexpr std::uint32_t kAtoDaysMin = 2, kAtoDaysMax = 5;
constexpr std::uint32_t kAtoTxMin = 1, kAtoTxMax = 3;
constexpr std::uint32_t kAtoNightEnd_s = 5 * 3600;
constexpr double kAtoAmountFactorMin = 3.0, kAtoAmountFactorMax = 8.0;
constexpr double kAtoMinDistance = 25.0;  // grid units; at least 3 radius
constexpr int kTerminalDraws = 64;        // rejection-sampling attempts for far terminals
// Validation limits.
constexpr double kMaxCustomerDays = 5e8;  // ~2e9 expected rows at 4 a day: beyond any memory

// What a random stream is for; with an index (customer, day) it names an independent stream.
enum class Stream : std::uint64_t {
    kTerminals = 1,
    kCustomerProfile,
    kCustomerTransactions,
    kCompromisedTerminals,  // per day
    kCompromisedCards,      // per day
    kCardFraudPick,         // per (day, customer)
    kCardTesting,           // per day
    kAccountTakeover,       // per day
};

std::uint64_t Mix64(std::uint64_t z) { return MixBits64(z + 0x9e3779b97f4a7c15ULL); }

std::uint64_t StreamId(Stream s, std::uint64_t a, std::uint64_t b = 0) {
    return Mix64(Mix64(Mix64(static_cast<std::uint64_t>(s)) ^ a) ^ b);
}

// Rounds to cents as numpy.round(x, 2) does (half to even on x * 100).
double RoundCents(double x) { return std::nearbyint(x * 100.0) / 100.0; }

// One generated transaction before the final ordering (32 bytes).
struct Row {
    std::uint32_t day;
    std::uint32_t second;  // in the day, [0, 86400)
    std::uint32_t customer;
    std::uint32_t terminal;
    double amount;
    std::int32_t scenario;  // 0 genuine
};

// Compressed lists per entity: items of entity e are items[offsets[e] .. offsets[e + 1]).
struct Lists {
    std::vector<std::uint32_t> offsets;
    std::vector<std::uint32_t> items;

    // From (entity, item) pairs; items of an entity are kept in ascending order.
    static Lists Build(std::size_t entities,
                       std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs) {
        std::sort(pairs.begin(), pairs.end());
        Lists l;
        l.offsets.assign(entities + 1, 0);
        for (const auto& p : pairs) ++l.offsets[p.first + 1];
        for (std::size_t e = 0; e < entities; ++e) l.offsets[e + 1] += l.offsets[e];
        l.items.reserve(pairs.size());
        for (const auto& p : pairs) l.items.push_back(p.second);
        return l;
    }
    const std::uint32_t* begin(std::uint32_t e) const { return items.data() + offsets[e]; }
    const std::uint32_t* end(std::uint32_t e) const { return items.data() + offsets[e + 1]; }
};

// k distinct values of [0, n), sorted (Floyd's algorithm). `marks` has n entries, all false, and
// is left so.
std::vector<std::uint32_t> SampleDistinct(Rng& rng, std::uint32_t n, std::uint32_t k,
                                          std::vector<char>& marks) {
    std::vector<std::uint32_t> out;
    out.reserve(k);
    for (std::uint64_t j = n - k; j < n; ++j) {
        auto t = static_cast<std::uint32_t>(rng.Below(j + 1));
        if (marks[t]) t = static_cast<std::uint32_t>(j);
        marks[t] = 1;
        out.push_back(t);
    }
    for (std::uint32_t t : out) marks[t] = 0;
    std::sort(out.begin(), out.end());
    return out;
}

struct Context {
    const SimParams& params;
    const std::vector<SimCustomerProfile>& customers;
    const std::vector<SimTerminalProfile>& terminals;
    const sim::TerminalGrid& grid;
    Lists terminal_compromises;  // per terminal: the days it was compromised (scenario 2)
};

bool TerminalCompromised(const Context& ctx, std::uint32_t terminal, std::uint32_t day) {
    for (const std::uint32_t* s = ctx.terminal_compromises.begin(terminal);
         s != ctx.terminal_compromises.end(terminal) && *s <= day; ++s) {
        if (day < *s + kTerminalCompromiseDays) return true;
    }
    return false;
}

// Rows by day: days[d] holds the rows of day d in generation order.
using DayRows = std::vector<std::vector<Row>>;

// Genuine transactions of customer c (handbook model) with the labels of scenarios 1 and 2
// (scenario 3 is applied to the ordered table, see ApplyCardCompromises). `available` is scratch.
void GenerateCustomer(const Context& ctx, std::uint32_t c, std::vector<std::uint32_t>& available,
                      DayRows& out) {
    const SimParams& p = ctx.params;
    const SimCustomerProfile& prof = ctx.customers[c];
    ctx.grid.Within(prof.x, prof.y, p.radius, &available);
    if (available.empty()) return;  // a customer with no terminal in reach makes no transactions

    Rng rng(p.seed, StreamId(Stream::kCustomerTransactions, c));
    for (std::uint32_t day = 0; day < p.days; ++day) {
        const std::uint32_t nb_tx = rng.Poisson(prof.mean_tx_per_day);
        for (std::uint32_t i = 0; i < nb_tx; ++i) {
            // Truncated toward zero like the handbook's int(); kept strictly inside the day.
            const double t = std::trunc(rng.Normal(kMeanTimeOfDay_s, kStdTimeOfDay_s));
            if (!(t > 0.0 && t < kSecondsPerDay)) continue;
            double amount = rng.Normal(prof.mean_amount, prof.std_amount);
            if (amount < 0.0) amount = rng.Uniform(0.0, 2.0 * prof.mean_amount);
            amount = RoundCents(amount);
            const std::uint32_t terminal = available[rng.Below(available.size())];
            std::int32_t scenario = amount > kScenario1Amount ? 1 : 0;
            if (TerminalCompromised(ctx, terminal, day)) scenario = 2;
            out[day].push_back(
                Row{day, static_cast<std::uint32_t>(t), c, terminal, amount, scenario});
        }
    }
}

// Scenario 3 on the ordered table: for each compromise (day d, customer c), in day order, a third
// (rounded down) of c's genuine transactions on days d .. d + 13, drawn at random from them in
// table (time) order, get their amount times 5 and scenario 3. `by_scenario` is kept up to date.
void ApplyCardCompromises(const SimParams& p, const std::vector<std::vector<std::uint32_t>>& cards,
                          TransactionTable& t, std::uint64_t* by_scenario) {
    // Rows of the compromised customers only, in table order.
    std::vector<std::uint32_t> slot(p.customers, UINT32_MAX);
    std::uint32_t n_slots = 0;
    for (const auto& day : cards)
        for (std::uint32_t c : day)
            if (slot[c] == UINT32_MAX) slot[c] = n_slots++;
    if (n_slots == 0) return;
    std::vector<std::vector<std::uint32_t>> rows_of(n_slots);
    for (std::size_t i = 0; i < t.rows; ++i) {
        const std::uint32_t s = slot[t.customer.ids[i]];
        if (s != UINT32_MAX && t.fraud_scenario[i] <= 3)
            rows_of[s].push_back(static_cast<std::uint32_t>(i));
    }
    std::vector<std::uint32_t> pick;
    for (std::uint32_t d = 0; d < cards.size(); ++d) {
        const std::int64_t from = p.start_ms + std::int64_t{d} * kMsPerDay;
        const std::int64_t to = from + std::int64_t{kCardCompromiseDays} * kMsPerDay;
        for (std::uint32_t c : cards[d]) {
            const auto& rows = rows_of[slot[c]];
            const auto lo = std::partition_point(
                rows.begin(), rows.end(), [&](std::uint32_t i) { return t.ts_ms[i] < from; });
            const auto hi = std::partition_point(lo, rows.end(),
                                                 [&](std::uint32_t i) { return t.ts_ms[i] < to; });
            const auto n = static_cast<std::uint32_t>(hi - lo);
            const std::uint32_t k = n / 3;
            if (k == 0) continue;
            Rng rng(p.seed, StreamId(Stream::kCardFraudPick, d, c));
            pick.resize(n);
            for (std::uint32_t i = 0; i < n; ++i) pick[i] = i;
            for (std::uint32_t i = 0; i < k; ++i) {
                std::swap(pick[i], pick[i + rng.Below(n - i)]);
                const std::uint32_t row = lo[pick[i]];
                --by_scenario[t.fraud_scenario[row]];
                ++by_scenario[3];
                t.amount[row] *= kScenario3Factor;
                t.label[row] = 1;
                t.fraud_scenario[row] = 3;
            }
        }
    }
}

// A terminal the customer does not use (outside its radius), at least `min_distance` from home
// when one is found within kTerminalDraws draws (else the farthest drawn).
std::uint32_t DrawFarTerminal(Rng& rng, const Context& ctx, const SimCustomerProfile& c,
                              double min_distance) {
    const auto n = static_cast<std::uint32_t>(ctx.terminals.size());
    std::uint32_t best = 0;
    double best_d = -1.0;
    for (int i = 0; i < kTerminalDraws; ++i) {
        const auto t = static_cast<std::uint32_t>(rng.Below(n));
        const double d = sim::Distance(c.x, c.y, ctx.terminals[t].x, ctx.terminals[t].y);
        if (d >= min_distance) return t;
        if (d > best_d) best = t, best_d = d;
    }
    return best;
}

// Scenario 4 cases starting on `day`.
void InjectCardTesting(const Context& ctx, std::uint32_t day, DayRows& out,
                       std::vector<SimFraudCase>& cases) {
    const SimParams& p = ctx.params;
    Rng rng(p.seed, StreamId(Stream::kCardTesting, day));
    const std::uint32_t n_cases = rng.Poisson(p.card_testing_per_day);
    for (std::uint32_t k = 0; k < n_cases; ++k) {
        const auto c = static_cast<std::uint32_t>(rng.Below(p.customers));
        const SimCustomerProfile& prof = ctx.customers[c];
        const auto tests =
            kTestsMin + static_cast<std::uint32_t>(rng.Below(kTestsMax - kTestsMin + 1));
        const auto purchases = kPurchasesMin + static_cast<std::uint32_t>(
                                                   rng.Below(kPurchasesMax - kPurchasesMin + 1));
        auto t = static_cast<std::uint32_t>(rng.Below(kSecondsPerDay - kCardTestingSpan_s));
        for (std::uint32_t i = 0; i < tests; ++i) {
            if (i > 0)
                t += kTestGapMin_s +
                     static_cast<std::uint32_t>(rng.Below(kTestGapMax_s - kTestGapMin_s + 1));
            const std::uint32_t terminal = DrawFarTerminal(rng, ctx, prof, p.radius);
            const double amount = RoundCents(rng.Uniform(kTestAmountMin, kTestAmountMax));
            out[day].push_back(Row{day, t, c, terminal, amount, 4});
        }
        for (std::uint32_t i = 0; i < purchases; ++i) {
            t += kPurchaseGapMin_s +
                 static_cast<std::uint32_t>(rng.Below(kPurchaseGapMax_s - kPurchaseGapMin_s + 1));
            const std::uint32_t terminal = DrawFarTerminal(rng, ctx, prof, p.radius);
            const double amount = RoundCents(rng.Uniform(kPurchaseAmountMin, kPurchaseAmountMax));
            out[day].push_back(Row{day, t, c, terminal, amount, 4});
        }
        cases.push_back(SimFraudCase{4, c, day, 1, tests + purchases});
    }
}

// Scenario 5 cases starting on `day`.
void InjectAccountTakeover(const Context& ctx, std::uint32_t day, DayRows& out,
                           std::vector<SimFraudCase>& cases) {
    const SimParams& p = ctx.params;
    Rng rng(p.seed, StreamId(Stream::kAccountTakeover, day));
    const std::uint32_t n_cases = rng.Poisson(p.account_takeover_per_day);
    const double min_distance = std::max(kAtoMinDistance, 3.0 * p.radius);
    for (std::uint32_t k = 0; k < n_cases; ++k) {
        const auto c = static_cast<std::uint32_t>(rng.Below(p.customers));
        const SimCustomerProfile& prof = ctx.customers[c];
        const auto span =
            kAtoDaysMin + static_cast<std::uint32_t>(rng.Below(kAtoDaysMax - kAtoDaysMin + 1));
        const std::uint32_t days = std::min(span, p.days - day);
        std::uint32_t count = 0;
        for (std::uint32_t dd = 0; dd < days; ++dd) {
            const auto n_tx =
                kAtoTxMin + static_cast<std::uint32_t>(rng.Below(kAtoTxMax - kAtoTxMin + 1));
            for (std::uint32_t i = 0; i < n_tx; ++i) {
                const auto t = static_cast<std::uint32_t>(rng.Below(kAtoNightEnd_s));
                const std::uint32_t terminal = DrawFarTerminal(rng, ctx, prof, min_distance);
                const double amount = RoundCents(
                    prof.mean_amount * rng.Uniform(kAtoAmountFactorMin, kAtoAmountFactorMax));
                out[day + dd].push_back(Row{day + dd, t, c, terminal, amount, 5});
                ++count;
            }
        }
        cases.push_back(SimFraudCase{5, c, day, days, count});
    }
}

// Transaction ids "0".."n-1"; customer c and terminal t interned as "c" and "t" (pool id c, t).
void WriteIdsAndPools(const SimParams& p, std::size_t n, TransactionTable& table) {
    char buf[24];
    auto text = [&](std::uint64_t v) {
        return std::string_view(
            buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf));
    };
    std::size_t chars = n;  // every id has a first digit, ids >= 10 a second, ...
    for (std::size_t d = 10; d < n; d *= 10) chars += n - d;
    table.tx_id.Reserve(n, chars);
    for (std::size_t i = 0; i < n; ++i) table.tx_id.Append(text(i));
    table.customer.pool.Reserve(p.customers);
    for (std::uint32_t c = 0; c < p.customers; ++c) table.customer.pool.Intern(text(c));
    table.terminal.pool.Reserve(p.terminals);
    for (std::uint32_t t = 0; t < p.terminals; ++t) table.terminal.pool.Intern(text(t));
}

Error BadParam(const std::string& what) {
    return Error{ErrorCode::kInvalidArgument, "simulator parameter " + what, {}};
}

// Shortest text of a double for messages ("nan", "1e-09", "0.5").
std::string Num(double v) {
    char buf[32];
    return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

}  // namespace

bool SimTerminalInRadius(const SimCustomerProfile& customer, const SimTerminalProfile& terminal,
                         double radius) {
    return sim::InRadius(customer.x, customer.y, terminal.x, terminal.y, radius);
}

Result<void> SimParams::Validate() const {
    auto fail = [](std::string what) { return std::unexpected(BadParam(what)); };
    if (customers == 0) return fail("customers must be at least 1, got 0");
    if (terminals == 0) return fail("terminals must be at least 1, got 0");
    if (days == 0) return fail("days must be at least 1, got 0");
    if (!(radius > 0.0) || !std::isfinite(radius))
        return fail(
            "radius must be a positive finite number (grid units, the grid is 100 x 100), "
            "got " +
            Num(radius));
    if (static_cast<double>(customers) * days > kMaxCustomerDays)
        return fail("customers x days = " + std::to_string(std::uint64_t{customers} * days) +
                    " is too large (at most 5e8: the table would not fit in memory)");
    const std::int64_t min_ms = DaysFromCivil(1, 1, 1) * kMsPerDay;
    const std::int64_t max_ms = DaysFromCivil(10000, 1, 1) * kMsPerDay;
    if (start_ms < min_ms || start_ms > max_ms - std::int64_t{days} * kMsPerDay)
        return fail("start_ms (" + std::to_string(start_ms) +
                    ") and days must keep the simulated period within years 0001..9999");
    if (compromised_terminals_per_day > terminals)
        return fail("compromised_terminals_per_day (" +
                    std::to_string(compromised_terminals_per_day) +
                    ") must not exceed terminals (" + std::to_string(terminals) + ")");
    if (compromised_cards_per_day > customers)
        return fail("compromised_cards_per_day (" + std::to_string(compromised_cards_per_day) +
                    ") must not exceed customers (" + std::to_string(customers) + ")");
    const double max_rate = customers;
    if (!(card_testing_per_day >= 0.0 && card_testing_per_day <= max_rate))
        return fail("card_testing_per_day must be in [0, customers], got " +
                    Num(card_testing_per_day));
    if (!(account_takeover_per_day >= 0.0 && account_takeover_per_day <= max_rate))
        return fail("account_takeover_per_day must be in [0, customers], got " +
                    Num(account_takeover_per_day));
    return Ok();
}

Result<TransactionTable> Simulate(const SimParams& params, SimStats* stats) {
    return Simulate(params, stats, nullptr);
}

Result<TransactionTable> Simulate(const SimParams& params, SimStats* stats, SimWorld* world) {
    const auto t0 = std::chrono::steady_clock::now();
    if (auto v = params.Validate(); !v) return std::unexpected(v.error());
    const SimParams& p = params;
    const unsigned threads = ResolveThreads(p.threads);

    // Terminal and customer profiles.
    std::vector<SimTerminalProfile> terminals(p.terminals);
    {
        Rng rng(p.seed, StreamId(Stream::kTerminals, 0));
        for (auto& t : terminals) {
            t.x = rng.Uniform(0.0, kGridSize);
            t.y = rng.Uniform(0.0, kGridSize);
        }
    }
    std::vector<SimCustomerProfile> customers(p.customers);
    ParallelChunks(p.customers, threads, [&](std::size_t b, std::size_t e, unsigned) {
        for (std::size_t c = b; c < e; ++c) {
            Rng rng(p.seed, StreamId(Stream::kCustomerProfile, c));
            SimCustomerProfile& prof = customers[c];
            prof.x = rng.Uniform(0.0, kGridSize);
            prof.y = rng.Uniform(0.0, kGridSize);
            prof.mean_amount = rng.Uniform(5.0, 100.0);
            prof.std_amount = prof.mean_amount / 2.0;
            prof.mean_tx_per_day = rng.Uniform(0.0, 4.0);
        }
    });
    const sim::TerminalGrid grid(terminals, p.radius);

    // Fraud schedule of scenarios 2 and 3: as the handbook's range(max day), days 0 .. days - 2.
    const std::uint32_t compromise_days = p.days - 1;
    std::vector<std::vector<std::uint32_t>> bad_terminals(compromise_days),
        bad_cards(compromise_days);
    std::vector<std::pair<std::uint32_t, std::uint32_t>> terminal_days;
    {
        std::vector<char> marks(std::max(p.terminals, p.customers), 0);
        for (std::uint32_t d = 0; d < compromise_days; ++d) {
            Rng rt(p.seed, StreamId(Stream::kCompromisedTerminals, d));
            bad_terminals[d] =
                SampleDistinct(rt, p.terminals, p.compromised_terminals_per_day, marks);
            for (std::uint32_t t : bad_terminals[d]) terminal_days.emplace_back(t, d);
            Rng rc(p.seed, StreamId(Stream::kCompromisedCards, d));
            bad_cards[d] = SampleDistinct(rc, p.customers, p.compromised_cards_per_day, marks);
        }
    }
    const Context ctx{p, customers, terminals, grid,
                      Lists::Build(p.terminals, std::move(terminal_days))};

    // Genuine transactions (labelled by scenarios 1 and 2), customers split over the threads;
    // parts[k][d] holds chunk k's rows of day d, customers in order. parts[chunks]: injected rows.
    const std::size_t chunks = std::clamp<std::size_t>(threads, 1, p.customers);
    std::vector<DayRows> parts(chunks + 1, DayRows(p.days));
    ParallelChunks(p.customers, static_cast<unsigned>(chunks),
                   [&](std::size_t b, std::size_t e, unsigned chunk) {
                       DayRows& out = parts[chunk];
                       // 2 a day on average; reserve a little above to avoid regrowth.
                       const auto expect = static_cast<std::size_t>((e - b) * 2.1) + 16;
                       if (expect >= 64)
                           for (auto& day : out) day.reserve(expect);
                       std::vector<std::uint32_t> available;
                       for (std::size_t c = b; c < e; ++c)
                           GenerateCustomer(ctx, static_cast<std::uint32_t>(c), available, out);
                   });

    // Injected fraud (scenarios 4 and 5), one stream per scenario and day.
    std::vector<SimFraudCase> cases;
    for (std::uint32_t d = 0; d < p.days; ++d) {
        InjectCardTesting(ctx, d, parts[chunks], cases);
        InjectAccountTakeover(ctx, d, parts[chunks], cases);
    }

    // Order: day by day, rows in generation order (customer chunks in order, then the injected
    // rows) are sorted by (second, customer, that order) and gathered into the columns.
    std::vector<std::size_t> day_start(p.days + 1, 0);
    for (std::uint32_t d = 0; d < p.days; ++d) {
        day_start[d + 1] = day_start[d];
        for (const auto& part : parts) day_start[d + 1] += part[d].size();
    }
    const std::size_t n = day_start[p.days];
    TXG_CHECK_MSG(n < (std::size_t{1} << 32), "simulated table too large");

    // Allocate the columns beside writing the ids "0".."n-1" and the pools (both memory-bound),
    // customer c and terminal t interned as "c" and "t" with pool ids c and t.
    TransactionTable table;
    table.rows = n;
    ParallelChunks(2, std::min(threads, 2u), [&](std::size_t b, std::size_t e, unsigned) {
        for (std::size_t task = b; task < e; ++task) {
            if (task == 0) {
                table.ts_ms.resize(n);
                table.customer.ids.resize(n);
                table.terminal.ids.resize(n);
                table.amount.resize(n);
                table.label.resize(n);
                table.fraud_scenario.resize(n);
            } else {
                WriteIdsAndPools(p, n, table);
            }
        }
    });
    const std::size_t day_chunks = std::clamp<std::size_t>(threads, 1, p.days);
    std::vector<std::uint64_t> counts(day_chunks * 6, 0);
    ParallelChunks(
        p.days, static_cast<unsigned>(day_chunks), [&](std::size_t b, std::size_t e, unsigned k) {
            std::uint64_t* cnt = counts.data() + k * 6;
            std::vector<Row> rows;  // one day's rows, contiguous (fits in cache)
            // Sort key: (second, customer, index in `rows`); the index (generation order)
            // breaks ties. Packed in one integer when the bits fit (always at handbook sizes).
            struct SortKey {
                std::uint64_t time_customer;  // second << 32 | customer
                std::uint64_t index;
                bool operator<(const SortKey& o) const {
                    return time_customer != o.time_customer ? time_customer < o.time_customer
                                                            : index < o.index;
                }
            };
            std::vector<SortKey> keys;
            std::vector<std::uint64_t> packed;
            std::vector<std::uint32_t> order;
            const int customer_bits = std::bit_width(std::uint64_t{p.customers});
            for (std::size_t d = b; d < e; ++d) {
                rows.clear();
                for (auto& part : parts) {
                    rows.insert(rows.end(), part[d].begin(), part[d].end());
                    std::vector<Row>().swap(part[d]);
                }
                order.resize(rows.size());
                const int index_bits = std::bit_width(rows.size());
                if (kSecondBits + customer_bits + index_bits <= 64) {
                    const int shift = customer_bits + index_bits;
                    packed.resize(rows.size());
                    for (std::size_t i = 0; i < rows.size(); ++i) {
                        packed[i] = std::uint64_t{rows[i].second} << shift |
                                    std::uint64_t{rows[i].customer} << index_bits | i;
                    }
                    std::sort(packed.begin(), packed.end());
                    const std::uint64_t mask = (std::uint64_t{1} << index_bits) - 1;
                    for (std::size_t j = 0; j < rows.size(); ++j)
                        order[j] = static_cast<std::uint32_t>(packed[j] & mask);
                } else {
                    keys.resize(rows.size());
                    for (std::size_t i = 0; i < rows.size(); ++i)
                        keys[i] = {std::uint64_t{rows[i].second} << 32 | rows[i].customer, i};
                    std::sort(keys.begin(), keys.end());
                    for (std::size_t j = 0; j < rows.size(); ++j)
                        order[j] = static_cast<std::uint32_t>(keys[j].index);
                }
                const std::int64_t day_ms = p.start_ms + static_cast<std::int64_t>(d) * kMsPerDay;
                for (std::size_t j = 0, i = day_start[d]; j < rows.size(); ++j, ++i) {
                    const Row& r = rows[order[j]];
                    table.ts_ms[i] = day_ms + std::int64_t{r.second} * kMsPerSecond;
                    table.customer.ids[i] = r.customer;
                    table.terminal.ids[i] = r.terminal;
                    table.amount[i] = r.amount;
                    table.label[i] = r.scenario != 0 ? 1 : 0;
                    table.fraud_scenario[i] = r.scenario;
                    ++cnt[r.scenario];
                }
            }
        });
    std::vector<DayRows>().swap(parts);
    std::uint64_t by_scenario[6] = {0, 0, 0, 0, 0, 0};
    for (std::size_t k = 0; k < day_chunks; ++k)
        for (int s = 0; s < 6; ++s) by_scenario[s] += counts[k * 6 + s];
    ApplyCardCompromises(p, bad_cards, table, by_scenario);

    if (stats) {
        *stats = SimStats{};
        stats->transactions = n;
        for (int s = 0; s < 6; ++s) stats->by_scenario[s] = by_scenario[s];
        stats->frauds = n - stats->by_scenario[0];
        stats->seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    if (world) {
        world->customers = std::move(customers);
        world->terminals = std::move(terminals);
        world->compromised_terminals = std::move(bad_terminals);
        world->compromised_cards = std::move(bad_cards);
        world->injected = std::move(cases);
    }
    return table;
}

}  // namespace txguard
