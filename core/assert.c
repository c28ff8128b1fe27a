// assert.c - the failure path of ST_ASSERT (assert.h). The one file of core
// allowed to write to stderr: a failed assertion is the end of the process.
// Thread: any.
#include <stdio.h>
#include <stdlib.h>

#include "core/assert.h"

// st_assert_fail prints what failed and where, then aborts so that a core
// dump (or the test's SIGABRT expectation) catches the broken promise.
_Noreturn void
st_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "stocktwin: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}
