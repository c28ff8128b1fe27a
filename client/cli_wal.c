// cli_wal.c - `stocktwin wal verify DIR` and `stocktwin wal dump DIR`: the
// operator's offline view of a data directory's write-ahead logs.
//
// Both read each worker's log through st_wal_scan (shards/wal.h), which is
// the daemon's own recovery scan made read-only: the same validator decides
// what is a good record, a torn tail or corruption, so `verify` says exactly
// what the next start of stocktwind will do, and neither command changes a
// byte. On top of the framing, every payload is decoded as the daemon's
// replay decodes it (a protobuf LogEntry carrying an event, whose lsn repeats
// the frame's), so "verify says OK" also means "every entry can be read".
//
// Memory stays bounded whatever the log's size: the scan holds one segment at
// a time and entries are decoded, printed and freed one by one.
#include "cli_wal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "pbjson.h"
#include "shards/shards.h"
#include "shards/wal.h"

// Workers a data directory can have (the daemon refuses more).
#define CLI_WAL_WORKERS_MAX ST_SHARDS_WORKERS_MAX
// verify speaks on stderr once it has run this long, then at this interval.
#define CLI_WAL_PROGRESS_MS 1000u
// ... checking the clock every this many records (a segment can be large).
#define CLI_WAL_PROGRESS_RECORDS 16384u

static const char cli_help_wal[] =
    "usage: stocktwin wal verify DIR [--worker N] [--json]\n"
    "       stocktwin wal dump DIR [--from LSN] [--worker N]\n"
    "\n"
    "Offline tools for the data directory of `stocktwind --data DIR`. They read the\n"
    "write-ahead logs (DIR/wal-<worker>/*.seg, see docs/WAL.md) directly, need no\n"
    "server and change nothing: run them on a stopped server's directory, a copy or\n"
    "a backup. The workers are those of DIR/stocktwin.meta (else the wal-* found).\n"
    "\n"
    "verify  checks each worker's log exactly as the server's recovery will, and\n"
    "        decodes every entry. One line per worker: records, LSN range, segments,\n"
    "        bytes of log (and of files on disk), then\n"
    "          OK\n"
    "          TORN TAIL at FILE:OFFSET  the last write was cut short by a crash; the\n"
    "                                    next start cuts it there (not an error)\n"
    "          CORRUPT at FILE offset N lsn N  a bad record with valid records after\n"
    "                                    it: the server refuses to start\n"
    "          UNDECODABLE at lsn N      a well-framed entry that is not a LogEntry\n"
    "        and a last line summing up. It prints progress on stderr when it runs\n"
    "        longer than a second. With --json: one JSON object instead.\n"
    "dump    prints every entry as one JSON line, worker by worker, in LSN order:\n"
    "          {\"worker\":W,\"lsn\":N,\"entry\":{...the LogEntry, event included...}}\n"
    "        A torn tail is not printed; at corruption the worker's output stops\n"
    "        (exit 1); an undecodable entry is reported on stderr and skipped (exit 1).\n"
    "  --from LSN   dump: start at LSN in each log (LSNs are per worker)\n"
    "  --worker N   only worker N's log\n"
    "\n"
    "exit codes: 0 every log good (a torn tail included), 1 a log is corrupt,\n"
    "missing or unreadable, or holds an undecodable entry, 2 usage error or DIR is\n"
    "not a stocktwin data directory.\n"
    "examples:\n"
    "  stocktwin wal verify /var/lib/stocktwin\n"
    "  stocktwin wal dump /var/lib/stocktwin --worker 0 --from 1000 | head\n";

// The logs of one data directory.
struct cli_wal_dir {
    const char *path;
    uint32_t meta_workers;             // from stocktwin.meta; 0: no meta, wal-* found
    uint32_t ids[CLI_WAL_WORKERS_MAX]; // the workers to read, ascending
    uint32_t count;
};

// When verify last spoke about its progress.
struct cli_wal_clock {
    uint64_t start_ms, said_ms;
};

// One worker's scan: what the record callback found and printed.
struct cli_wal_run {
    uint32_t worker;
    bool dump;
    struct cli_wal_clock *clock; // verify only
    uint64_t records;
    uint64_t undecodable;     // entries that did not decode
    uint64_t undecodable_lsn; // the first of them
    char why[160];            // why it did not
    bool out_failed;          // dump: stdout failed (errno in out_errno)
    int out_errno;
    uint64_t bytes_done, bytes_total;
};

// ---------------------------------------------------------------------------
// The data directory

// Parses "wal-<decimal>" (nothing else) into *id_out.
static bool
cli_wal_dir_name(const char *name, uint32_t *id_out)
{
    if (strncmp(name, "wal-", 4) != 0 || name[4] == '\0') {
        return false;
    }
    uint64_t v = 0;
    for (const char *p = name + 4; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > UINT32_MAX / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > UINT32_MAX) {
        return false;
    }
    *id_out = (uint32_t)v;
    return true;
}

static int
cli_wal_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

// Without stocktwin.meta: the wal-<n> directories in `path`.
static int
cli_wal_find_logs(const char *path, struct cli_wal_dir *out)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "stocktwin: wal: cannot list %s: %s\n", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint32_t id;
        struct stat st;
        if (!cli_wal_dir_name(e->d_name, &id) || fstatat(dirfd(d), e->d_name, &st, 0) != 0 ||
            !S_ISDIR(st.st_mode)) {
            continue;
        }
        if (out->count == CLI_WAL_WORKERS_MAX) {
            closedir(d);
            fprintf(stderr, "stocktwin: wal: %s holds more than %u wal-* logs\n", path,
                    CLI_WAL_WORKERS_MAX);
            return CLI_EXIT_USAGE;
        }
        out->ids[out->count++] = id;
    }
    closedir(d);
    if (out->count == 0) {
        fprintf(stderr,
                "stocktwin: wal: %s is not a stocktwin data directory (no stocktwin.meta, no "
                "wal-<worker> logs)\n",
                path);
        return CLI_EXIT_USAGE;
    }
    qsort(out->ids, out->count, sizeof out->ids[0], cli_wal_cmp_u32);
    fprintf(stderr, "stocktwin: wal: %s has no stocktwin.meta; reading the %u wal-* log%s found\n",
            path, out->count, out->count == 1 ? "" : "s");
    return 0;
}

// Finds the workers of data directory `path`: 0..N-1 from its stocktwin.meta
// (written by the daemon: shards/shards.c, data_meta_write), else the wal-*
// directories in it. Returns 0, or the exit code after saying why.
static int
cli_wal_dir_open(const char *path, struct cli_wal_dir *out)
{
    memset(out, 0, sizeof *out);
    out->path = path;
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "stocktwin: wal: %s: %s\n", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "stocktwin: wal: %s is not a directory\n", path);
        return CLI_EXIT_USAGE;
    }
    char meta[4096];
    snprintf(meta, sizeof meta, "%s/stocktwin.meta", path);
    FILE *f = fopen(meta, "r");
    if (f == NULL && errno == ENOENT) {
        return cli_wal_find_logs(path, out);
    }
    if (f == NULL) {
        fprintf(stderr, "stocktwin: wal: cannot read %s: %s\n", meta, strerror(errno));
        return CLI_EXIT_REJECTED;
    }
    unsigned version = 0, workers = 0;
    int got = fscanf(f, "stocktwin data %u workers %u", &version, &workers);
    fclose(f);
    if (got != 2 || version != 1 || workers == 0 || workers > CLI_WAL_WORKERS_MAX) {
        fprintf(stderr,
                "stocktwin: wal: %s is not a stocktwin data directory record (version 1, 1 to "
                "%u workers): the server would not start either\n",
                meta, CLI_WAL_WORKERS_MAX);
        return CLI_EXIT_REJECTED;
    }
    out->meta_workers = workers;
    for (uint32_t i = 0; i < workers; i++) {
        out->ids[out->count++] = i;
    }
    return 0;
}

// --worker N: keeps only worker N's log.
static int
cli_wal_dir_pick(struct cli_wal_dir *dir, const char *text)
{
    uint32_t id = 0;
    if (cli_parse_u32("--worker", text, &id) != 0) {
        return CLI_EXIT_USAGE;
    }
    for (uint32_t i = 0; i < dir->count; i++) {
        if (dir->ids[i] == id) {
            dir->ids[0] = id;
            dir->count = 1;
            return 0;
        }
    }
    if (dir->meta_workers > 0) {
        return cli_usage("--worker %u: %s has workers 0 to %u", id, dir->path,
                         dir->meta_workers - 1);
    }
    return cli_usage("--worker %u: %s has no wal-%u log", id, dir->path, id);
}

// ---------------------------------------------------------------------------
// Entries

static uint64_t
cli_wal_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

// Says how far verify got, once it has run a second, then once a second.
static void
cli_wal_progress(struct cli_wal_run *r)
{
    if (r->clock == NULL) {
        return;
    }
    uint64_t now = cli_wal_now_ms();
    if (now - r->clock->start_ms < CLI_WAL_PROGRESS_MS ||
        now - r->clock->said_ms < CLI_WAL_PROGRESS_MS) {
        return;
    }
    r->clock->said_ms = now;
    // The scan reads a segment whole, then checks its records: bytes read run
    // ahead of records checked by up to one segment.
    fprintf(stderr,
            "stocktwin: wal verify: worker %u: %" PRIu64 " records checked, %.1f of %.1f MiB "
            "of segment files read, %.1f s\n",
            r->worker, r->records, (double)r->bytes_done / 1048576.0,
            (double)r->bytes_total / 1048576.0, (double)(now - r->clock->start_ms) / 1000.0);
}

static void
cli_wal_progress_cb(void *arg, uint64_t bytes_done, uint64_t bytes_total)
{
    struct cli_wal_run *r = arg;
    r->bytes_done = bytes_done;
    r->bytes_total = bytes_total;
    cli_wal_progress(r);
}

// Decodes one payload as the daemon's replay does (shards/worker.c): a
// LogEntry with an event, whose lsn repeats the frame's. NULL, with the
// reason in why, when it is not one. The caller frees the entry.
static Stocktwin__LogEntry *
cli_wal_decode(uint64_t lsn, const void *payload, uint32_t len, char *why, size_t why_len)
{
    Stocktwin__LogEntry *e = stocktwin__log_entry__unpack(NULL, len, payload);
    if (e == NULL) {
        snprintf(why, why_len, "%" PRIu32 " bytes that are not a protobuf LogEntry", len);
    } else if (e->lsn != lsn) {
        snprintf(why, why_len, "the entry says it is lsn %" PRIu64, e->lsn);
    } else if (e->event == NULL) {
        snprintf(why, why_len, "the entry has no event");
    } else {
        return e;
    }
    if (e != NULL) {
        stocktwin__log_entry__free_unpacked(e, NULL);
    }
    return NULL;
}

// Prints {"worker":W,"lsn":N,"entry":{...}} and a newline. LSNs are written
// as raw decimal text, exact beyond 2^53 (as pbjson writes 64-bit fields).
static void
cli_wal_print_entry(struct cli_wal_run *r, uint64_t lsn, const Stocktwin__LogEntry *e)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, lsn);
    cJSON *obj = cJSON_CreateObject();
    cJSON *entry = st_pbjson_from_message(&e->base);
    char *text = NULL;
    if (obj != NULL && entry != NULL && cJSON_AddNumberToObject(obj, "worker", r->worker) &&
        cJSON_AddRawToObject(obj, "lsn", num) && cJSON_AddItemToObject(obj, "entry", entry)) {
        entry = NULL; // obj owns it now
        text = cJSON_PrintUnformatted(obj);
    }
    if (text == NULL) {
        r->out_failed = true;
        r->out_errno = ENOMEM;
    } else if (fputs(text, stdout) == EOF || putchar('\n') == EOF) {
        r->out_failed = true;
        r->out_errno = errno;
    }
    free(text);
    cJSON_Delete(entry);
    cJSON_Delete(obj);
}

// The scan's record callback: decodes (verify, dump) and prints (dump).
static st_err
cli_wal_record_cb(void *arg, uint64_t lsn, const void *payload, uint32_t len)
{
    struct cli_wal_run *r = arg;
    char why[sizeof r->why];
    Stocktwin__LogEntry *e = cli_wal_decode(lsn, payload, len, why, sizeof why);
    r->records++;
    if (e == NULL) {
        if (r->undecodable++ == 0) {
            r->undecodable_lsn = lsn;
            snprintf(r->why, sizeof r->why, "%s", why);
        }
        if (r->dump) {
            fprintf(stderr,
                    "stocktwin: wal dump: worker %u lsn %" PRIu64 ": undecodable: %s; "
                    "skipped\n",
                    r->worker, lsn, why);
        }
    } else {
        if (r->dump) {
            cli_wal_print_entry(r, lsn, e);
        }
        stocktwin__log_entry__free_unpacked(e, NULL);
    }
    if (r->records % CLI_WAL_PROGRESS_RECORDS == 0) {
        cli_wal_progress(r);
    }
    return r->out_failed ? ST_IO : ST_OK;
}

// st_wal_recovery's message without its "wal: " prefix.
static const char *
cli_wal_message(const st_wal_recovery *rec)
{
    return strncmp(rec->message, "wal: ", 5) == 0 ? rec->message + 5 : rec->message;
}

// Scans worker r->worker's log of `dir` into *rec, records from `from`.
static st_err
cli_wal_scan(const struct cli_wal_dir *dir, struct cli_wal_run *r, uint64_t from,
             st_wal_recovery *rec)
{
    st_wal_scan_config sc = {
        .data_dir = dir->path,
        .worker_id = r->worker,
        .from_lsn = from,
        .record_cb = cli_wal_record_cb,
        .record_arg = r,
        .progress_cb = cli_wal_progress_cb,
        .progress_arg = r,
    };
    return st_wal_scan(&sc, rec);
}

// ---------------------------------------------------------------------------
// verify

enum cli_wal_verdict {
    CLI_WAL_OK,
    CLI_WAL_TORN,
    CLI_WAL_CORRUPT,
    CLI_WAL_UNDECODABLE,
    CLI_WAL_MISSING,
    CLI_WAL_UNREADABLE,
};

static const char *const cli_wal_verdict_names[] = {"ok",          "torn",    "corrupt",
                                                    "undecodable", "missing", "unreadable"};

static enum cli_wal_verdict
cli_wal_verdict(st_err err, const st_wal_recovery *rec, const struct cli_wal_run *r)
{
    if (err == ST_NOT_FOUND) {
        return CLI_WAL_MISSING;
    }
    if (err != ST_OK && err != ST_MALFORMED) {
        return CLI_WAL_UNREADABLE;
    }
    if (rec->corrupt) {
        return CLI_WAL_CORRUPT;
    }
    if (r->undecodable > 0) {
        return CLI_WAL_UNDECODABLE;
    }
    return rec->torn ? CLI_WAL_TORN : CLI_WAL_OK;
}

// One worker's line of the text report.
static void
cli_wal_verify_line(enum cli_wal_verdict v, const st_wal_recovery *rec, const struct cli_wal_run *r)
{
    printf("worker %u: %" PRIu64 " record%s", r->worker, rec->records,
           rec->records == 1 ? "" : "s");
    if (rec->records > 0) {
        printf(", lsn %" PRIu64 "..%" PRIu64, rec->first_lsn, rec->last_lsn);
    }
    printf(", %" PRIu32 " segment%s, %" PRIu64 " bytes (%" PRIu64 " on disk): ", rec->segments,
           rec->segments == 1 ? "" : "s", rec->bytes, rec->file_bytes);
    if (v == CLI_WAL_MISSING || v == CLI_WAL_UNREADABLE) {
        printf("%s: %s\n", v == CLI_WAL_MISSING ? "MISSING" : "UNREADABLE", cli_wal_message(rec));
        return;
    }
    const char *sep = "";
    if (rec->corrupt) {
        printf("CORRUPT at %s offset %" PRIu64 " lsn %" PRIu64
               " (a bad record with valid records after it: the server refuses to start)",
               rec->cut_path, rec->cut_offset, rec->cut_lsn);
        sep = "; ";
    }
    if (r->undecodable > 0) {
        printf("%sUNDECODABLE at lsn %" PRIu64 ": %s (%" PRIu64 " entr%s)", sep, r->undecodable_lsn,
               r->why, r->undecodable, r->undecodable == 1 ? "y" : "ies");
        sep = "; ";
    }
    if (rec->torn) {
        printf("%sTORN TAIL at %s:%" PRIu64 " (lsn %" PRIu64 "; the next start cuts it there, "
               "removing %" PRIu32 " file%s)",
               sep, rec->cut_path, rec->cut_offset, rec->cut_lsn, rec->segments_removed,
               rec->segments_removed == 1 ? "" : "s");
        sep = "; ";
    }
    printf("%s\n", sep[0] == '\0' ? "OK" : "");
}

// One worker's object of the --json report.
static cJSON *
cli_wal_verify_json(enum cli_wal_verdict v, const st_wal_recovery *rec, const struct cli_wal_run *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "worker", r->worker);
    cJSON_AddStringToObject(o, "status", cli_wal_verdict_names[v]);
    const struct {
        const char *name;
        uint64_t value;
    } nums[] = {
        {"records", rec->records},       {"first_lsn", rec->first_lsn},
        {"last_lsn", rec->last_lsn},     {"segments", rec->segments},
        {"bytes", rec->bytes},           {"file_bytes", rec->file_bytes},
        {"undecodable", r->undecodable}, {"undecodable_lsn", r->undecodable_lsn},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        char num[24];
        snprintf(num, sizeof num, "%" PRIu64, nums[i].value);
        cJSON_AddRawToObject(o, nums[i].name, num);
    }
    cJSON_AddBoolToObject(o, "torn", rec->torn);
    cJSON_AddBoolToObject(o, "corrupt", rec->corrupt);
    if (rec->torn || rec->corrupt) {
        char num[48];
        cJSON_AddStringToObject(o, "cut_file", rec->cut_path);
        snprintf(num, sizeof num, "%" PRIu64, rec->cut_offset);
        cJSON_AddRawToObject(o, "cut_offset", num);
        snprintf(num, sizeof num, "%" PRIu64, rec->cut_lsn);
        cJSON_AddRawToObject(o, "cut_lsn", num);
    }
    cJSON_AddStringToObject(o, "message",
                            r->undecodable > 0 && !rec->corrupt ? r->why : cli_wal_message(rec));
    return o;
}

// The last line (text) or the whole object (--json); returns the exit code.
static int
cli_wal_verify_end(const struct cli *cli, const struct cli_wal_dir *dir, cJSON *workers,
                   uint64_t records, uint32_t bad, uint32_t torn)
{
    int code = bad > 0 ? CLI_EXIT_REJECTED : CLI_EXIT_OK;
    if (!cli->json) {
        if (bad > 0) {
            printf("FAILED: %u of %u logs corrupt, missing, unreadable or undecodable\n", bad,
                   dir->count);
        } else {
            printf("ok: %u log%s, %" PRIu64 " records", dir->count, dir->count == 1 ? "" : "s",
                   records);
            printf(torn > 0 ? ", %u torn tail%s (cut at the next start)\n" : "\n", torn,
                   torn == 1 ? "" : "s");
        }
        return code;
    }
    char num[24];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "data_dir", dir->path);
    cJSON_AddBoolToObject(o, "ok", bad == 0);
    if (dir->meta_workers > 0) {
        cJSON_AddNumberToObject(o, "meta_workers", dir->meta_workers);
    } else {
        cJSON_AddNullToObject(o, "meta_workers");
    }
    snprintf(num, sizeof num, "%" PRIu64, records);
    cJSON_AddRawToObject(o, "records", num);
    cJSON_AddNumberToObject(o, "torn", torn);
    cJSON_AddNumberToObject(o, "failed", bad);
    cJSON_AddItemToObject(o, "workers", workers);
    char *text = cJSON_PrintUnformatted(o);
    if (text == NULL) {
        fputs("stocktwin: out of memory\n", stderr);
        code = CLI_EXIT_REJECTED;
    } else {
        puts(text);
    }
    free(text);
    cJSON_Delete(o);
    return code;
}

static int
cli_wal_verify(const struct cli *cli, const struct cli_wal_dir *dir)
{
    struct cli_wal_clock clock = {.start_ms = cli_wal_now_ms()};
    clock.said_ms = clock.start_ms;
    cJSON *workers = cli->json ? cJSON_CreateArray() : NULL;
    uint64_t records = 0;
    uint32_t bad = 0, torn = 0;
    for (uint32_t i = 0; i < dir->count; i++) {
        struct cli_wal_run r = {.worker = dir->ids[i], .clock = &clock};
        st_wal_recovery rec;
        st_err err = cli_wal_scan(dir, &r, 1, &rec);
        enum cli_wal_verdict v = cli_wal_verdict(err, &rec, &r);
        records += rec.records;
        bad += v != CLI_WAL_OK && v != CLI_WAL_TORN;
        torn += rec.torn;
        if (workers != NULL) {
            cJSON_AddItemToArray(workers, cli_wal_verify_json(v, &rec, &r));
        } else {
            cli_wal_verify_line(v, &rec, &r);
            fflush(stdout);
        }
    }
    return cli_wal_verify_end(cli, dir, workers, records, bad, torn);
}

// ---------------------------------------------------------------------------
// dump

static int
cli_wal_dump(const struct cli_wal_dir *dir, uint64_t from)
{
    int code = CLI_EXIT_OK;
    for (uint32_t i = 0; i < dir->count; i++) {
        struct cli_wal_run r = {.worker = dir->ids[i], .dump = true};
        st_wal_recovery rec;
        st_err err = cli_wal_scan(dir, &r, from, &rec);
        if (!r.out_failed && fflush(stdout) != 0) {
            r.out_failed = true;
            r.out_errno = errno;
        }
        if (r.out_failed) {
            fprintf(stderr, "stocktwin: wal dump: cannot write the output: %s\n",
                    strerror(r.out_errno));
            return CLI_EXIT_REJECTED;
        }
        if (err != ST_OK) {
            fprintf(stderr, "stocktwin: wal dump: worker %u: stopped: %s\n", r.worker,
                    cli_wal_message(&rec));
            code = CLI_EXIT_REJECTED;
        } else if (rec.torn) {
            fprintf(stderr, "stocktwin: wal dump: worker %u: %s\n", r.worker,
                    cli_wal_message(&rec));
        }
        if (r.undecodable > 0) {
            code = CLI_EXIT_REJECTED;
        }
    }
    return code;
}

// ---------------------------------------------------------------------------
// The command

int
cli_cmd_wal(const struct cli *cli, int argc, char **argv)
{
    static const struct cli_flag flags[] = {{"from", true}, {"worker", true}, {NULL, false}};
    if (cli->help) {
        fputs(cli_help_wal, stdout);
        return CLI_EXIT_OK;
    }
    if (argc < 2) {
        return cli_usage("wal needs a subcommand: verify or dump");
    }
    bool dump = strcmp(argv[1], "dump") == 0;
    if (!dump && strcmp(argv[1], "verify") != 0) {
        return cli_usage("wal: unknown subcommand \"%s\" (verify or dump)", argv[1]);
    }
    struct cli_args a;
    if (cli_args_parse(argc - 2, argv + 2, flags, &a) != 0) {
        return CLI_EXIT_USAGE;
    }
    if (a.n_positional != 1) {
        return cli_usage("wal %s needs exactly one DIR", argv[1]);
    }
    int64_t from = 1;
    const char *v = cli_args_get(&a, "from");
    if (v != NULL && !dump) {
        return cli_usage("--from goes with wal dump");
    }
    if (v != NULL && cli_parse_i64("--from", v, &from) != 0) {
        return CLI_EXIT_USAGE;
    }
    if (from < 0) {
        return cli_usage("--from: %s is not an LSN", v);
    }
    struct cli_wal_dir dir;
    int code = cli_wal_dir_open(a.positional[0], &dir);
    if (code == 0 && (v = cli_args_get(&a, "worker")) != NULL) {
        code = cli_wal_dir_pick(&dir, v);
    }
    if (code != 0) {
        return code;
    }
    return dump ? cli_wal_dump(&dir, (uint64_t)from) : cli_wal_verify(cli, &dir);
}
