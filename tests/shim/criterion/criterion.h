// criterion.h - a drop-in stand-in for the subset of Criterion 2.4 that our
// tests use, for ThreadSanitizer builds only. Criterion itself cannot start
// under TSan: its sandbox arena (BoxFort) maps fixed addresses inside TSan's
// shadow ranges and aborts ("Could not initialize inheritable arena",
// upstream Snaipe/Criterion#274). tests/CMakeLists.txt (st_add_test) puts
// tests/shim first on the include path of every test under TSan, so
// `#include <criterion/criterion.h>` lands here and no library is linked.
//
// What it keeps from Criterion: Test(suite, name, .init, .fini, .signal,
// .exit_code, .timeout, .disabled, .description, .data), TestSuite(suite,
// same fields) whose values are the defaults of its tests, every test in its
// own forked child (suite init, test init, body, test fini, suite fini),
// a per-test timeout enforced by the parent, cr_assert_* (abort the test,
// fini still runs) and cr_expect_* (record, test goes on) with their
// printf-style messages, cr_log_*, cr_skip_test, tests run sorted by
// suite then name, `--filter suite/name` globs, and Criterion's final
// "[====] Synthesis: ..." line and exit status. Other Criterion flags
// (-j1, --verbose=0, ...) are accepted and ignored.
//
// As in Criterion, message formats must be string literals and message
// arguments are evaluated only when the check fails; a failed cr_assert is
// noreturn. What differs: comparison failures print the expression, not
// the values (except the string and float checks); a Test() field left at 0
// takes its TestSuite()'s value; and a test with no .timeout in its
// Test() or TestSuite() gets ST_SHIM_TIMEOUT_S (120 s). Each test child is
// the leader of its own process group, and the whole group is killed once
// the test ends, so daemons a test forgot (or could not) stop go with it.
//
// Header-only: the runtime functions, the registry and main() are weak
// definitions, so several files of one test (harness.c, fake_server.c) may
// include this header and the linker keeps one copy.
// Thread: Test()/TestSuite() register from constructors before main.
// cr_assert_* on the test's own thread unwinds to the fini; on any other
// thread it prints and ends the child with _exit(1). cr_expect_* and
// cr_log_* may be called from any thread.
#ifndef ST_TESTS_SHIM_CRITERION_H
#define ST_TESTS_SHIM_CRITERION_H

#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ST_SHIM_TIMEOUT_S 120.0
// Exit status of a child whose test called cr_skip_test().
#define ST_SHIM_EXIT_SKIP 77

#define ST_SHIM_WEAK __attribute__((weak))
#define ST_SHIM_PRINTF(f, a) __attribute__((format(printf, f, a)))

// The fields Test() and TestSuite() accept, named as in Criterion's
// struct criterion_test_extra_data. `shim_sentinel_` lets the option list be
// empty.
struct criterion_test_extra_data {
    int shim_sentinel_;
    void (*init)(void);
    void (*fini)(void);
    int signal;
    int exit_code;
    bool disabled;
    const char *description;
    double timeout;
    void *data;
};

struct st_shim_suite {
    const char *name;
    struct criterion_test_extra_data opts;
    struct st_shim_suite *next;
};

struct st_shim_test {
    const char *suite;
    const char *name;
    const char *file;
    int line;
    void (*fn)(void);
    struct criterion_test_extra_data opts;
    struct st_shim_test *next;
};

// The registry: one per executable (weak, merged across files).
ST_SHIM_WEAK struct st_shim_test *st_shim_tests_;
ST_SHIM_WEAK struct st_shim_suite *st_shim_suites_;

// The running child's state. `st_shim_abort_jmp_` unwinds a failed
// cr_assert on the test thread to the fini calls.
ST_SHIM_WEAK int st_shim_expect_failed_;
ST_SHIM_WEAK int st_shim_in_test_;
ST_SHIM_WEAK pthread_t st_shim_test_thread_;
ST_SHIM_WEAK jmp_buf st_shim_abort_jmp_;

ST_SHIM_WEAK void
st_shim_register_test(struct st_shim_test *t)
{
    t->next = st_shim_tests_;
    st_shim_tests_ = t;
}

ST_SHIM_WEAK void
st_shim_register_suite(struct st_shim_suite *s)
{
    s->next = st_shim_suites_;
    st_shim_suites_ = s;
}

// st_shim_vreport prints a failed check: where, what and the caller's
// message. `fmt` carries one leading character (see ST_SHIM_MSG), skipped.
ST_SHIM_WEAK void
st_shim_vreport(const char *file, int line, const char *what, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt + 1, ap);
    fprintf(stderr, "[----] %s:%d: Assertion Failed: %s\n", file, line, what);
    if (msg[0])
        fprintf(stderr, "[----]   %s\n", msg);
    fflush(stderr);
}

// st_shim_mark_failed records a failed check; the test goes on (cr_expect).
ST_SHIM_WEAK void
st_shim_mark_failed(void)
{
    __atomic_store_n(&st_shim_expect_failed_, 1, __ATOMIC_SEQ_CST);
}

// st_shim_abort_test ends the test after a failed cr_assert. On the test
// thread it longjmps back to the runner so the fini still run; on any other
// thread, or in a fini, it ends the child. Noreturn, as in Criterion, so the
// compiler knows a failed assert does not fall through.
ST_SHIM_WEAK _Noreturn void
st_shim_abort_test(void)
{
    st_shim_mark_failed();
    if (st_shim_in_test_ && pthread_equal(pthread_self(), st_shim_test_thread_))
        longjmp(st_shim_abort_jmp_, 1);
    fprintf(stderr, "[----] (fatal assertion outside the test thread or a fini: test ends)\n");
    fflush(NULL);
    _exit(1);
}

// st_shim_report prints a failed check; the check macros call it only on
// failure, so message arguments are evaluated only then (as in Criterion:
// they may have side effects).
ST_SHIM_WEAK ST_SHIM_PRINTF(4, 5) void st_shim_report(const char *file, int line, const char *what,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    st_shim_vreport(file, line, what, fmt, ap);
    va_end(ap);
}

ST_SHIM_WEAK ST_SHIM_PRINTF(2, 3) void st_shim_log(const char *tag, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt + 1, ap);
    va_end(ap);
    fprintf(stderr, "%s %s\n", tag, msg);
    fflush(stderr);
}

ST_SHIM_WEAK ST_SHIM_PRINTF(1, 2) _Noreturn void st_shim_skip(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt + 1, ap);
    va_end(ap);
    fprintf(stderr, "[----] Skipped: %s\n", msg);
    fflush(NULL);
    _exit(ST_SHIM_EXIT_SKIP);
}

// ---------------------------------------------------------------------------
// Registration.

// A message argument list "fmt", args... (or nothing) becomes "x" "fmt",
// args...: always a literal, never zero-length (-Wformat-zero-length), and
// the runtime skips the "x". Criterion uses the same trick.
#define ST_SHIM_MSG(...) "x" __VA_ARGS__

#define Test(Suite, Name, ...)                                                                     \
    static void st_shim_fn_##Suite##_##Name(void);                                                 \
    static struct st_shim_test st_shim_test_##Suite##_##Name = {                                   \
        .suite = #Suite,                                                                           \
        .name = #Name,                                                                             \
        .file = __FILE__,                                                                          \
        .line = __LINE__,                                                                          \
        .fn = st_shim_fn_##Suite##_##Name,                                                         \
        .opts = {.shim_sentinel_ = 1, __VA_ARGS__},                                                \
    };                                                                                             \
    __attribute__((constructor)) static void st_shim_reg_##Suite##_##Name(void)                    \
    {                                                                                              \
        st_shim_register_test(&st_shim_test_##Suite##_##Name);                                     \
    }                                                                                              \
    static void st_shim_fn_##Suite##_##Name(void)

#define TestSuite(Suite, ...)                                                                      \
    static struct st_shim_suite st_shim_suite_##Suite = {                                          \
        .name = #Suite,                                                                            \
        .opts = {.shim_sentinel_ = 1, __VA_ARGS__},                                                \
    };                                                                                             \
    __attribute__((constructor)) static void st_shim_suite_reg_##Suite(void)                       \
    {                                                                                              \
        st_shim_register_suite(&st_shim_suite_##Suite);                                            \
    }                                                                                              \
    _Static_assert(1, #Suite)

// ---------------------------------------------------------------------------
// Assertions. Each operand is evaluated once.

#define ST_SHIM_BOOL(fatal, cond, text, ...)                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            st_shim_report(__FILE__, __LINE__, text, ST_SHIM_MSG(__VA_ARGS__));                    \
            fatal();                                                                               \
        }                                                                                          \
    } while (0)

#define cr_assert(cond, ...) ST_SHIM_BOOL(st_shim_abort_test, cond, #cond, __VA_ARGS__)
#define cr_expect(cond, ...) ST_SHIM_BOOL(st_shim_mark_failed, cond, #cond, __VA_ARGS__)
#define cr_assert_not(cond, ...)                                                                   \
    ST_SHIM_BOOL(st_shim_abort_test, !(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_expect_not(cond, ...)                                                                   \
    ST_SHIM_BOOL(st_shim_mark_failed, !(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_assert_fail(...) ST_SHIM_BOOL(st_shim_abort_test, 0, "cr_assert_fail()", __VA_ARGS__)
#define cr_expect_fail(...) ST_SHIM_BOOL(st_shim_mark_failed, 0, "cr_expect_fail()", __VA_ARGS__)

#define ST_SHIM_OP(fatal, op, a, b, ...)                                                           \
    ST_SHIM_BOOL(fatal, (a)op(b), "(" #a ") " #op " (" #b ")", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) ST_SHIM_OP(st_shim_abort_test, ==, a, b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) ST_SHIM_OP(st_shim_abort_test, !=, a, b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) ST_SHIM_OP(st_shim_abort_test, <, a, b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) ST_SHIM_OP(st_shim_abort_test, <=, a, b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) ST_SHIM_OP(st_shim_abort_test, >, a, b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) ST_SHIM_OP(st_shim_abort_test, >=, a, b, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) ST_SHIM_OP(st_shim_mark_failed, ==, a, b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) ST_SHIM_OP(st_shim_mark_failed, !=, a, b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...) ST_SHIM_OP(st_shim_mark_failed, <, a, b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...) ST_SHIM_OP(st_shim_mark_failed, <=, a, b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) ST_SHIM_OP(st_shim_mark_failed, >, a, b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...) ST_SHIM_OP(st_shim_mark_failed, >=, a, b, __VA_ARGS__)

#define cr_assert_null(p, ...)                                                                     \
    ST_SHIM_BOOL(st_shim_abort_test, (p) == NULL, "(" #p ") == NULL", __VA_ARGS__)
#define cr_expect_null(p, ...)                                                                     \
    ST_SHIM_BOOL(st_shim_mark_failed, (p) == NULL, "(" #p ") == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...)                                                                 \
    ST_SHIM_BOOL(st_shim_abort_test, (p) != NULL, "(" #p ") != NULL", __VA_ARGS__)
#define cr_expect_not_null(p, ...)                                                                 \
    ST_SHIM_BOOL(st_shim_mark_failed, (p) != NULL, "(" #p ") != NULL", __VA_ARGS__)

// Strings: the values are printed (NULL as "(null)"); a NULL operand fails.
// want: 0 equal, 1 different, 2 `a` empty, 3 `a` not empty.
ST_SHIM_WEAK bool
st_shim_str_ok(const char *a, const char *b, int want)
{
    if (want == 0 || want == 1)
        return a != NULL && b != NULL && (strcmp(a, b) == 0) == (want == 0);
    return a != NULL && (a[0] == '\0') == (want == 2);
}

ST_SHIM_WEAK void
st_shim_str_show(const char *a, const char *b, int want)
{
    fprintf(stderr, "[----]   actual: \"%s\"\n", a ? a : "(null)");
    if (want <= 1)
        fprintf(stderr, "[----]   other:  \"%s\"\n", b ? b : "(null)");
}

#define ST_SHIM_STR(fatal, want, a, b, text, ...)                                                  \
    do {                                                                                           \
        const char *st_shim_a_ = (a), *st_shim_b_ = (b);                                           \
        if (!st_shim_str_ok(st_shim_a_, st_shim_b_, (want))) {                                     \
            st_shim_report(__FILE__, __LINE__, text, ST_SHIM_MSG(__VA_ARGS__));                    \
            st_shim_str_show(st_shim_a_, st_shim_b_, (want));                                      \
            fatal();                                                                               \
        }                                                                                          \
    } while (0)
#define cr_assert_str_eq(a, b, ...)                                                                \
    ST_SHIM_STR(st_shim_abort_test, 0, a, b, "(" #a ") == (" #b ") (as strings)", __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...)                                                                \
    ST_SHIM_STR(st_shim_mark_failed, 0, a, b, "(" #a ") == (" #b ") (as strings)", __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...)                                                               \
    ST_SHIM_STR(st_shim_abort_test, 1, a, b, "(" #a ") != (" #b ") (as strings)", __VA_ARGS__)
#define cr_expect_str_neq(a, b, ...)                                                               \
    ST_SHIM_STR(st_shim_mark_failed, 1, a, b, "(" #a ") != (" #b ") (as strings)", __VA_ARGS__)
#define cr_assert_str_empty(a, ...)                                                                \
    ST_SHIM_STR(st_shim_abort_test, 2, a, NULL, "(" #a ") is empty", __VA_ARGS__)
#define cr_expect_str_empty(a, ...)                                                                \
    ST_SHIM_STR(st_shim_mark_failed, 2, a, NULL, "(" #a ") is empty", __VA_ARGS__)
#define cr_assert_str_not_empty(a, ...)                                                            \
    ST_SHIM_STR(st_shim_abort_test, 3, a, NULL, "(" #a ") is not empty", __VA_ARGS__)
#define cr_expect_str_not_empty(a, ...)                                                            \
    ST_SHIM_STR(st_shim_mark_failed, 3, a, NULL, "(" #a ") is not empty", __VA_ARGS__)

// Floats: |a - b| <= eps (a NaN fails float_eq), the values printed.
#define ST_SHIM_FLOAT(fatal, want_eq, a, b, eps, text, ...)                                        \
    do {                                                                                           \
        long double st_shim_a_ = (a), st_shim_b_ = (b), st_shim_e_ = (eps);                        \
        long double st_shim_d_ =                                                                   \
            st_shim_a_ > st_shim_b_ ? st_shim_a_ - st_shim_b_ : st_shim_b_ - st_shim_a_;           \
        if ((want_eq) ? !(st_shim_d_ <= st_shim_e_) : !(st_shim_d_ > st_shim_e_)) {                \
            st_shim_report(__FILE__, __LINE__, text, ST_SHIM_MSG(__VA_ARGS__));                    \
            fprintf(stderr, "[----]   actual: %.17Lg, other: %.17Lg, epsilon: %Lg\n", st_shim_a_,  \
                    st_shim_b_, st_shim_e_);                                                       \
            fatal();                                                                               \
        }                                                                                          \
    } while (0)
#define cr_assert_float_eq(a, b, eps, ...)                                                         \
    ST_SHIM_FLOAT(st_shim_abort_test, true, a, b, eps, "(" #a ") == (" #b ") +- " #eps, __VA_ARGS__)
#define cr_expect_float_eq(a, b, eps, ...)                                                         \
    ST_SHIM_FLOAT(st_shim_mark_failed, true, a, b, eps, "(" #a ") == (" #b ") +- " #eps,           \
                  __VA_ARGS__)
#define cr_assert_float_neq(a, b, eps, ...)                                                        \
    ST_SHIM_FLOAT(st_shim_abort_test, false, a, b, eps, "(" #a ") != (" #b ") +- " #eps,           \
                  __VA_ARGS__)
#define cr_expect_float_neq(a, b, eps, ...)                                                        \
    ST_SHIM_FLOAT(st_shim_mark_failed, false, a, b, eps, "(" #a ") != (" #b ") +- " #eps,          \
                  __VA_ARGS__)

// Byte arrays: memcmp over `size` bytes.
#define cr_assert_arr_eq(a, b, size, ...)                                                          \
    ST_SHIM_BOOL(st_shim_abort_test, memcmp((a), (b), (size)) == 0,                                \
                 "memcmp(" #a ", " #b ", " #size ") == 0", __VA_ARGS__)
#define cr_expect_arr_eq(a, b, size, ...)                                                          \
    ST_SHIM_BOOL(st_shim_mark_failed, memcmp((a), (b), (size)) == 0,                               \
                 "memcmp(" #a ", " #b ", " #size ") == 0", __VA_ARGS__)
#define cr_assert_arr_neq(a, b, size, ...)                                                         \
    ST_SHIM_BOOL(st_shim_abort_test, memcmp((a), (b), (size)) != 0,                                \
                 "memcmp(" #a ", " #b ", " #size ") != 0", __VA_ARGS__)
#define cr_expect_arr_neq(a, b, size, ...)                                                         \
    ST_SHIM_BOOL(st_shim_mark_failed, memcmp((a), (b), (size)) != 0,                               \
                 "memcmp(" #a ", " #b ", " #size ") != 0", __VA_ARGS__)

#define cr_log_info(...) st_shim_log("[----]", ST_SHIM_MSG(__VA_ARGS__))
#define cr_log_warn(...) st_shim_log("[WARN]", ST_SHIM_MSG(__VA_ARGS__))
#define cr_log_error(...) st_shim_log("[ERR ]", ST_SHIM_MSG(__VA_ARGS__))
#define cr_skip_test(...) st_shim_skip(ST_SHIM_MSG(__VA_ARGS__))

// ---------------------------------------------------------------------------
// The runner.

ST_SHIM_WEAK double
st_shim_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

ST_SHIM_WEAK const struct criterion_test_extra_data *
st_shim_suite_opts(const char *suite)
{
    static const struct criterion_test_extra_data none;
    for (const struct st_shim_suite *s = st_shim_suites_; s; s = s->next)
        if (strcmp(s->name, suite) == 0)
            return &s->opts;
    return &none;
}

// st_shim_child runs one test inside its forked child and never returns.
// The fini run even when an assertion failed in the init or the body, as
// in Criterion; a failure inside a fini ends the child at once.
ST_SHIM_WEAK _Noreturn void
st_shim_child(const struct st_shim_test *t, const struct criterion_test_extra_data *so)
{
    setpgid(0, 0);
    st_shim_test_thread_ = pthread_self();
    st_shim_in_test_ = 1;
    if (setjmp(st_shim_abort_jmp_) == 0) {
        if (so->init)
            so->init();
        if (t->opts.init)
            t->opts.init();
        t->fn();
    }
    st_shim_in_test_ = 0;
    if (t->opts.fini)
        t->opts.fini();
    if (so->fini)
        so->fini();
    fflush(NULL);
    exit(__atomic_load_n(&st_shim_expect_failed_, __ATOMIC_SEQ_CST) ? 1 : 0);
}

// st_shim_wait reaps `pid` within `timeout_s` (0: no limit) or kills its
// process group. Returns false on timeout.
ST_SHIM_WEAK bool
st_shim_wait(pid_t pid, double timeout_s, int *status)
{
    double deadline = st_shim_now_s() + timeout_s;
    for (;;) {
        pid_t got = waitpid(pid, status, WNOHANG);
        if (got == pid)
            return true;
        if (got < 0) {
            perror("[----] waitpid");
            exit(2);
        }
        if (timeout_s > 0 && st_shim_now_s() > deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return false;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

enum st_shim_result { ST_SHIM_PASS, ST_SHIM_FAIL, ST_SHIM_CRASH, ST_SHIM_SKIPPED };

// st_shim_run_one forks, waits and judges one test against its .signal and
// .exit_code, printing one line for it.
ST_SHIM_WEAK enum st_shim_result
st_shim_run_one(const struct st_shim_test *t)
{
    const struct criterion_test_extra_data *so = st_shim_suite_opts(t->suite);
    int want_signal = t->opts.signal ? t->opts.signal : so->signal;
    int want_exit = t->opts.exit_code ? t->opts.exit_code : so->exit_code;
    double timeout_s = t->opts.timeout > 0 ? t->opts.timeout : so->timeout;
    if (timeout_s <= 0)
        timeout_s = ST_SHIM_TIMEOUT_S;
    if (t->opts.disabled || so->disabled) {
        fprintf(stderr, "[SKIP] %s::%s: Test is disabled\n", t->suite, t->name);
        return ST_SHIM_SKIPPED;
    }
    fflush(NULL);
    double start = st_shim_now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("[----] fork");
        exit(2);
    }
    if (pid == 0)
        st_shim_child(t, so);
    setpgid(pid, pid); // also done by the child; whichever runs first
    int status = 0;
    bool done = st_shim_wait(pid, timeout_s, &status);
    kill(-pid, SIGKILL); // whatever the test left running in its group
    double took = st_shim_now_s() - start;
    if (!done) {
        fprintf(stderr, "[FAIL] %s::%s: Timed out. (%.2fs)\n", t->suite, t->name, took);
        return ST_SHIM_FAIL;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == ST_SHIM_EXIT_SKIP && !want_exit) {
        fprintf(stderr, "[SKIP] %s::%s: (%.2fs)\n", t->suite, t->name, took);
        return ST_SHIM_SKIPPED;
    }
    if (WIFSIGNALED(status)) {
        if (WTERMSIG(status) == want_signal) {
            fprintf(stderr, "[PASS] %s::%s: (%.2fs)\n", t->suite, t->name, took);
            return ST_SHIM_PASS;
        }
        fprintf(stderr, "[----] %s:%d: Unexpected signal caught below this line!\n", t->file,
                t->line);
        fprintf(stderr, "[FAIL] %s::%s: CRASH! (signal %d, %s) (%.2fs)\n", t->suite, t->name,
                WTERMSIG(status), strsignal(WTERMSIG(status)), took);
        return ST_SHIM_CRASH;
    }
    int code = WEXITSTATUS(status);
    if (want_signal) {
        fprintf(stderr, "[FAIL] %s::%s: expected signal %d (%s), exited with %d (%.2fs)\n",
                t->suite, t->name, want_signal, strsignal(want_signal), code, took);
        return ST_SHIM_FAIL;
    }
    if (code != want_exit && code == 1 && want_exit == 0) { // a failed check
        fprintf(stderr, "[FAIL] %s::%s: (%.2fs)\n", t->suite, t->name, took);
        return ST_SHIM_FAIL;
    }
    if (code != want_exit) {
        fprintf(stderr, "[FAIL] %s::%s: exit code %d%s, expected %d (%.2fs)\n", t->suite, t->name,
                code, code == 66 ? " (ThreadSanitizer's: see its report)" : "", want_exit, took);
        return ST_SHIM_FAIL;
    }
    fprintf(stderr, "[PASS] %s::%s: (%.2fs)\n", t->suite, t->name, took);
    return ST_SHIM_PASS;
}

ST_SHIM_WEAK int
st_shim_test_order(const void *pa, const void *pb)
{
    const struct st_shim_test *a = *(const struct st_shim_test *const *)pa;
    const struct st_shim_test *b = *(const struct st_shim_test *const *)pb;
    int c = strcmp(a->suite, b->suite);
    return c ? c : strcmp(a->name, b->name);
}

// st_shim_filter reads `--filter PAT` / `--filter=PAT`; every other
// argument (Criterion's -j1, --verbose=0, ...) is ignored.
ST_SHIM_WEAK const char *
st_shim_filter(int argc, char **argv)
{
    const char *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--filter=", 9) == 0)
            filter = argv[i] + 9;
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
            filter = argv[++i];
    }
    return filter;
}

ST_SHIM_WEAK int
main(int argc, char **argv)
{
    const char *filter = st_shim_filter(argc, argv);
    size_t n = 0;
    for (struct st_shim_test *t = st_shim_tests_; t; t = t->next)
        n++;
    struct st_shim_test **all = calloc(n ? n : 1, sizeof *all);
    if (!all)
        abort();
    n = 0;
    for (struct st_shim_test *t = st_shim_tests_; t; t = t->next)
        all[n++] = t;
    qsort(all, n, sizeof *all, st_shim_test_order);

    int tested = 0, passing = 0, failing = 0, crashing = 0;
    for (size_t i = 0; i < n; i++) {
        char full[512];
        snprintf(full, sizeof full, "%s/%s", all[i]->suite, all[i]->name);
        if (filter && fnmatch(filter, full, 0) != 0)
            continue;
        enum st_shim_result r = st_shim_run_one(all[i]);
        if (r == ST_SHIM_SKIPPED)
            continue;
        tested++;
        passing += r == ST_SHIM_PASS;
        failing += r != ST_SHIM_PASS;
        crashing += r == ST_SHIM_CRASH;
    }
    free(all);
    fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d \n",
            tested, passing, failing, crashing);
    return failing ? 1 : 0;
}

#endif
