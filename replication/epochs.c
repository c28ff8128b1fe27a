// epochs.c - <data>/epochs, the history of leader epochs. See replication.h.
//
// FORMAT (text, one record a line):
//     stocktwin epochs 1 workers N
//     E L0 L1 ... L(N-1)
// where E is an epoch (increasing from line to line, the first is 1) and Lw
// the first LSN that epoch wrote in worker w's log (the first line's are 1).
// At most 64 epochs are kept; a file is replaced whole (temporary file,
// fsync, rename, fsync of the directory), so a crash leaves the old or the
// new one.
#include "replication/replication.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/assert.h"

#define EPOCHS_MAX 64u

static void
epochs_first(st_repl_epochs *e, uint32_t workers)
{
    memset(e, 0, sizeof *e);
    e->workers = workers;
    e->count = 1;
    e->epoch[0] = 1;
    for (uint32_t w = 0; w < workers; w++)
        e->start[0][w] = 1;
}

st_err
st_repl_epochs_load(const char *data_dir, uint32_t workers, st_repl_epochs *out, char *why,
                    size_t why_len)
{
    ST_ASSERT(workers >= 1 && workers <= ST_SHARDS_WORKERS_MAX);
    epochs_first(out, workers);
    char path[4096];
    snprintf(path, sizeof path, "%s/epochs", data_dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT)
            return ST_OK;
        snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
        return ST_IO;
    }
    unsigned version = 0, n = 0;
    st_err err = ST_OK;
    if (fscanf(f, "stocktwin epochs %u workers %u", &version, &n) != 2 || version != 1 ||
        n == 0 || n > ST_SHARDS_WORKERS_MAX) {
        snprintf(why, why_len, "%s is not a stocktwin epochs file (version 1)", path);
        err = ST_MALFORMED;
    }
    uint32_t count = 0;
    while (err == ST_OK) {
        uint64_t epoch;
        int got = fscanf(f, "%" SCNu64, &epoch);
        if (got == EOF)
            break;
        if (got != 1 || count == EPOCHS_MAX || epoch == 0 ||
            (count > 0 && epoch <= out->epoch[count - 1])) {
            snprintf(why, why_len, "%s: epoch line %u is not valid", path, count + 1);
            err = ST_MALFORMED;
            break;
        }
        out->epoch[count] = epoch;
        for (uint32_t w = 0; w < n && err == ST_OK; w++) {
            if (fscanf(f, "%" SCNu64, &out->start[count][w]) != 1 || out->start[count][w] == 0) {
                snprintf(why, why_len, "%s: epoch line %u is not valid", path, count + 1);
                err = ST_MALFORMED;
            }
        }
        count++;
    }
    fclose(f);
    if (err == ST_OK && count == 0) {
        snprintf(why, why_len, "%s holds no epoch", path);
        err = ST_MALFORMED;
    }
    if (err == ST_OK)
        out->count = count;
    else
        epochs_first(out, workers);
    if (err == ST_OK && n != workers) {
        // Written before a reshard (shards/reshard.c): the logs start over,
        // so the current epoch begins at LSN 1 of every new worker's log.
        uint64_t current = out->epoch[count - 1];
        epochs_first(out, workers);
        out->epoch[0] = current;
    }
    return err;
}

st_err
st_repl_epochs_append(const char *data_dir, st_repl_epochs *e, uint64_t epoch,
                      const uint64_t *start, char *why, size_t why_len)
{
    ST_ASSERT(e->count >= 1 && epoch > st_repl_epochs_current(e));
    if (e->count == EPOCHS_MAX) { // forget the oldest: followers that old take a snapshot
        memmove(&e->epoch[0], &e->epoch[1], (EPOCHS_MAX - 1) * sizeof e->epoch[0]);
        memmove(&e->start[0], &e->start[1], (EPOCHS_MAX - 1) * sizeof e->start[0]);
        e->count--;
    }
    e->epoch[e->count] = epoch;
    memcpy(e->start[e->count], start, e->workers * sizeof start[0]);
    e->count++;
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/epochs", data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        snprintf(why, why_len, "cannot write %s: %s", tmp, strerror(errno));
        return ST_IO;
    }
    fprintf(f, "stocktwin epochs 1 workers %u\n", e->workers);
    for (uint32_t i = 0; i < e->count; i++) {
        fprintf(f, "%" PRIu64, e->epoch[i]);
        for (uint32_t w = 0; w < e->workers; w++)
            fprintf(f, " %" PRIu64, e->start[i][w]);
        fputc('\n', f);
    }
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    int dfd = ok ? open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    ok = ok && dfd >= 0 && fsync(dfd) == 0;
    if (dfd >= 0)
        close(dfd);
    if (!ok) {
        snprintf(why, why_len, "cannot write %s: %s", path, strerror(errno));
        return ST_IO;
    }
    return ST_OK;
}

st_err
st_repl_promote(const char *data_dir, uint32_t workers, uint64_t seen_epoch, const uint64_t *last,
                uint64_t *epoch_out, char *why, size_t why_len)
{
    st_repl_epochs e;
    st_err err = st_repl_epochs_load(data_dir, workers, &e, why, why_len);
    if (err != ST_OK)
        return err;
    uint64_t epoch = st_repl_epochs_current(&e);
    if (seen_epoch > epoch)
        epoch = seen_epoch;
    epoch++;
    uint64_t start[ST_SHARDS_WORKERS_MAX];
    for (uint32_t w = 0; w < workers; w++)
        start[w] = last[w] + 1;
    err = st_repl_epochs_append(data_dir, &e, epoch, start, why, why_len);
    if (err == ST_OK)
        *epoch_out = epoch;
    return err;
}
