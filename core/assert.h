// assert.h - ST_ASSERT, always on, in every build.
//
// Programmer errors crash; operating errors return (STYLE.md). An assert that
// fails prints the expression, file and line to stderr and aborts. Never
// assert on bytes from the network or the disk: validate them instead.
// ST_VERIFY_ENABLED gates O(n) checks such as st_state_verify() in hot paths.
#ifndef ST_CORE_ASSERT_H
#define ST_CORE_ASSERT_H

_Noreturn void st_assert_fail(const char *expr, const char *file, int line);

#define ST_ASSERT(expr) ((expr) ? (void)0 : st_assert_fail(#expr, __FILE__, __LINE__))

#ifndef ST_VERIFY_ENABLED
#define ST_VERIFY_ENABLED 0
#endif

#endif
