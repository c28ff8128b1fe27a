// wal_janitor_test.c - the janitor removes files in the order they were
// queued, closes their descriptors, stops a job at the first file it cannot
// remove (a log keeps no hole), and a log with a janitor forgets truncated
// segments at once while st_wal_close waits for the files to go.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shards/wal.h"
#include "shards/wal_janitor.h"
#include "wal_test_util.h"

WT_SUITE(janitor);

static void
make_file(const char *name, char *path, size_t size, int *fd)
{
    snprintf(path, size, "%s/%s", dir, name);
    int f = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert_geq(f, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(f, "x", 1), 1);
    if (fd != NULL)
        *fd = f;
    else
        close(f);
}

static bool
exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool
fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

Test(janitor, removes_in_order_closes_and_drains)
{
    st_wal_janitor *j = NULL;
    cr_assert_eq(st_wal_janitor_create(&j), ST_OK);
    char a[512], b[512], c[512];
    int fds[3];
    make_file("a", a, sizeof a, &fds[0]);
    make_file("b", b, sizeof b, &fds[1]);
    make_file("c", c, sizeof c, NULL);
    fds[2] = -1;
    const char *paths[3] = {a, b, c};
    cr_assert(st_wal_janitor_remove(j, paths, fds, 3, dir));
    st_wal_janitor_drain(j);
    cr_assert(!exists(a) && !exists(b) && !exists(c), "every file is gone after a drain");
    cr_assert(!fd_open(fds[0]) && !fd_open(fds[1]), "their descriptors are closed");
    // A job of one file without descriptors or directory, and an empty one.
    make_file("d", a, sizeof a, NULL);
    const char *one = a;
    cr_assert(st_wal_janitor_remove(j, &one, NULL, 1, NULL));
    cr_assert(st_wal_janitor_remove(j, NULL, NULL, 0, dir));
    st_wal_janitor_destroy(j); // drains too
    cr_assert(!exists(a));
}

Test(janitor, a_failed_removal_keeps_the_files_after_it)
{
    st_wal_janitor *j = NULL;
    cr_assert_eq(st_wal_janitor_create(&j), ST_OK);
    char a[512], blocker[512], c[512];
    int fds[3] = {-1, -1, -1};
    make_file("a", a, sizeof a, NULL);
    // unlink(2) of a directory fails (EISDIR): the job stops there.
    snprintf(blocker, sizeof blocker, "%s/blocker", dir);
    cr_assert_eq(mkdir(blocker, 0755), 0);
    make_file("c", c, sizeof c, &fds[2]);
    const char *paths[3] = {a, blocker, c};
    cr_assert(st_wal_janitor_remove(j, paths, fds, 3, NULL));
    st_wal_janitor_drain(j);
    cr_assert(!exists(a), "the file before the failure is removed");
    cr_assert(exists(blocker) && exists(c), "the failure and what follows it stay");
    cr_assert(!fd_open(fds[2]), "descriptors are closed all the same");
    st_wal_janitor_destroy(j);
    rmdir(blocker);
}

Test(janitor, a_log_hands_truncated_segments_to_it)
{
    st_wal_janitor *j = NULL;
    cr_assert_eq(st_wal_janitor_create(&j), ST_OK);
    wt_replay r = {.seed = 4};
    st_wal_config cfg;
    wt_config(&cfg, dir, NULL, &r);
    cfg.janitor = j;
    st_wal *wal = NULL;
    st_wal_recovery rec;
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_OK, "%s", rec.message);
    wt_append_n(wal, 4, 1000);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_stats before, after;
    st_wal_stats_get(wal, &before);
    cr_assert_gt(before.segments, 2, "small segments: several");
    cr_assert_eq(st_wal_truncate_before(wal, 500), ST_OK);
    st_wal_stats_get(wal, &after);
    cr_assert_lt(after.segments, before.segments, "the log forgets them at once");
    st_wal_close(wal); // waits for the janitor
    cr_assert_eq(wt_seg_count(dir), after.segments, "and the files are gone once it closed");
    r = (wt_replay){.seed = 4};
    wt_config(&cfg, dir, NULL, &r);
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_OK, "%s", rec.message);
    cr_assert_eq(r.bad, 0);
    cr_assert_leq(r.first_lsn, 500, "a segment holding LSN 500 stays");
    cr_assert_eq(r.last_lsn, 1000);
    st_wal_close(wal);
    st_wal_janitor_destroy(j);
}
