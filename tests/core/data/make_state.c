// make_state.c - writes a snapshot fixture ($ST_STATE_OUT): upgrade_events.h's
// history applied by an older build, saved with its st_state_save. Built and
// run by make_state.sh against that older tree; not part of the build.
#include <stdio.h>
#include <stdlib.h>

#include "core/snapshot.h"
#include "upgrade_events.h"

static bool
write_file(void *arg, const void *buf, size_t len)
{
    return fwrite(buf, 1, len, arg) == len;
}

Test(make, state)
{
    upgrade_history();
    const char *path = getenv("ST_STATE_OUT");
    cr_assert_not_null(path, "set ST_STATE_OUT");
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert(st_state_save(S, write_file, f));
    cr_assert_eq(fclose(f), 0);
    printf("digest %016llx\n", (unsigned long long)st_state_digest(S));
    teardown_world();
}
