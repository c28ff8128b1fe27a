// shim_selftest.c - the ThreadSanitizer stand-in for Criterion
// (tests/shim/criterion/criterion.h) tested through itself. Built only in
// TSan builds. The `shim` suite checks what passes: expected signals and
// exit codes, suite and test init/fini, disabled tests and every assertion
// form our tests use. The `inner` suite holds tests that must fail; they skip
// themselves unless ST_SHIM_SELFTEST_INNER is set, and
// shim/runner_reports_failures runs this binary again on them and checks the
// exit status, the per-test lines, the messages and the Synthesis line.
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int suite_init_ran;
static int test_init_ran;

static void
suite_init(void)
{
    suite_init_ran = 1;
}

static void
test_init(void)
{
    cr_assert_eq(suite_init_ran, 1, "the suite init runs before the test init");
    test_init_ran = 1;
}

TestSuite(shim, .init = suite_init, .timeout = 60);

Test(shim, suite_and_test_init_run_first, .init = test_init)
{
    cr_assert_eq(suite_init_ran, 1);
    cr_assert_eq(test_init_ran, 1);
}

Test(shim, expected_signal_passes, .signal = SIGABRT)
{
    abort();
}

Test(shim, expected_exit_code_passes, .exit_code = 3)
{
    exit(3);
}

Test(shim, signal_zero_means_a_clean_exit, .signal = 0)
{
    cr_assert(1);
}

Test(shim, disabled_test_does_not_run, .disabled = true, .description = "would fail")
{
    cr_assert_fail("a disabled test ran");
}

Test(shim, every_assertion_form_passes)
{
    const char *hello = "hello";
    char buf[4] = {1, 2, 3, 4};
    char same[4] = {1, 2, 3, 4};
    cr_assert(hello != NULL);
    cr_assert(hello != NULL, "plain message");
    cr_assert(hello != NULL, "formatted %s %d", "message", 2);
    cr_assert_not(hello == NULL);
    cr_assert_eq(2 + 2, 4, "arithmetic %d", 4);
    cr_assert_neq(1, 2);
    cr_assert_lt(1, 2);
    cr_assert_leq(2, 2);
    cr_assert_gt(3, 2);
    cr_assert_geq(3, 3);
    cr_assert_null(NULL);
    cr_assert_not_null(hello);
    cr_assert_str_eq(hello, "hello");
    cr_assert_str_neq(hello, "world", "%s", "differs");
    cr_assert_str_empty("");
    cr_assert_str_not_empty(hello);
    cr_assert_float_eq(0.1 + 0.2, 0.3, 1e-9);
    cr_assert_float_neq(0.1, 0.3, 1e-9);
    cr_assert_arr_eq(buf, same, sizeof buf);
    cr_expect(1);
    cr_expect_eq(1, 1, "expect %s", "eq");
    cr_expect_neq(1, 2);
    cr_expect_lt(1, 2);
    cr_expect_leq(1, 1);
    cr_expect_gt(2, 1);
    cr_expect_geq(2, 2);
    cr_expect_null(NULL);
    cr_expect_not_null(hello);
    cr_expect_not(0);
    cr_expect_str_eq(hello, "hello");
    cr_expect_str_neq(hello, "x");
    cr_expect_float_eq(1.0, 1.0, 0.0);
    cr_expect_arr_eq(buf, same, sizeof buf);
    cr_log_info("log info %d", 1);
    cr_log_warn("log warn");
    cr_log_error("log error %s", "(not an error)");
}

// Regression: messages were formatted eagerly, so an OK(ap(ev))-style
// message that repeats the call applied each event twice.
static int side_effects;

static int
count_call(void)
{
    return ++side_effects;
}

Test(shim, message_arguments_are_evaluated_only_on_failure)
{
    const char *s = "s";
    cr_assert_eq(1, 1, "%d", count_call());
    cr_expect(1, "%d", count_call());
    cr_assert_str_eq(s, "s", "%d", count_call());
    cr_assert_float_eq(1.0, 1.0, 0.0, "%d", count_call());
    cr_assert_eq(side_effects, 0);
}

// Runs this binary on the `inner` suite and checks what the runner reports.
Test(shim, runner_reports_failures)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert(n > 0 && (size_t)n < sizeof exe - 1);
    exe[n] = '\0';
    char cmd[4200];
    snprintf(cmd, sizeof cmd,
             "ST_SHIM_SELFTEST_INNER=1 '%s' -j1 --verbose=0 --filter 'inner/*' 2>&1", exe);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    static char out[1 << 16];
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = '\0';
    int status = pclose(p);
    fprintf(stderr, "---- inner run ----\n%s---- end of inner run ----\n", out);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "inner run status %d", status);
    static const char *const want[] = {
        "[====] Synthesis: Tested: 9 | Passing: 1 | Failing: 8 | Crashing: 1 \n",
        "[PASS] inner::passes",
        "[FAIL] inner::assert_fails: (",
        "Assertion Failed: (1) == (2)\n[----]   one is not two\n",
        "[FAIL] inner::expect_fails_but_goes_on",
        "still running after the failed expect",
        "[FAIL] inner::crashes: CRASH!",
        "[FAIL] inner::times_out: Timed out.",
        "[FAIL] inner::wrong_signal: expected signal",
        "[FAIL] inner::fini_runs_after_failed_assert",
        "fini ran after the failed assert",
        "[FAIL] inner::assert_off_the_test_thread",
        "[FAIL] inner::string_mismatch",
        "actual: \"abc\"",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect(strstr(out, want[i]) != NULL, "inner output lacks: %s", want[i]);
    cr_expect(strstr(out, "must not be reached") == NULL);
}

// ---------------------------------------------------------------------------
// Tests that must fail, run only by shim/runner_reports_failures.

static void
inner_only(void)
{
    if (!getenv("ST_SHIM_SELFTEST_INNER"))
        cr_skip_test("run by shim/runner_reports_failures");
}

static void
fini_report(void)
{
    fprintf(stderr, "fini ran after the failed assert\n");
}

TestSuite(inner, .init = inner_only);

Test(inner, passes)
{
    cr_assert(1);
}

Test(inner, assert_fails)
{
    cr_assert_eq(1, 2, "one is not %s", "two");
    fprintf(stderr, "must not be reached\n");
}

Test(inner, expect_fails_but_goes_on)
{
    cr_expect(0, "first");
    fprintf(stderr, "still running after the failed expect\n");
}

Test(inner, crashes)
{
    abort(); // not SIGSEGV: TSan catches that and exits instead
}

Test(inner, times_out, .timeout = 0.5)
{
    sleep(30);
}

Test(inner, wrong_signal, .signal = SIGABRT)
{
}

Test(inner, fini_runs_after_failed_assert, .fini = fini_report)
{
    cr_assert_fail();
    fprintf(stderr, "must not be reached\n");
}

static void *
failing_thread(void *arg)
{
    (void)arg;
    cr_assert_fail("from a thread");
    return NULL;
}

Test(inner, assert_off_the_test_thread)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, failing_thread, NULL), 0);
    pthread_join(t, NULL);
    sleep(30);
}

Test(inner, string_mismatch)
{
    cr_assert_str_eq("abc", "abd");
}
