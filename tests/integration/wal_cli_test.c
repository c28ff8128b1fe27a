// wal_cli_test.c - `stocktwin wal verify|dump` on the data directory of the
// real stocktwind: a daemon with small segments logs events sent through
// libstocktwin and is stopped; then the CLI must count exactly the records
// the replies' LSNs say, dump every entry as a JSON line with those LSNs and
// the events' fields, find a flipped byte (file, offset, LSN; exit 1), call a
// cut-off tail torn (exit 0, as the next start cuts it), refuse a directory
// that is not a data directory (exit 2) and never change a byte.
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "harness.h"

#define WORKERS 2
#define EVENTS 200
#define SEGS_MAX 64

static char tmp_[64], data_[128], cli_[512];
static char out_[1 << 21], err_[1 << 16];
static uint64_t event_lsn_[EVENTS + 1]; // the reply's LSN of event seq k
static uint64_t worker_lsn_[WORKERS];   // each worker's last LSN (the digest)

// send_events sends EVENTS receipts, one per request, alternating between
// wh-a and wh-c, and remembers each reply's LSN.
static void
send_events(st_client *c)
{
    for (int k = 1; k <= EVENTS; k++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"source\":\"wal-cli\",\"seq\":%d,\"warehouse\":\"%s\",\"movement\":{\"kind\":"
                 "\"RECEIVE\",\"sku\":\"SKU-2\",\"qty\":%d,\"to_location\":\"recv\"}}",
                 k, k % 2 ? "wh-a" : "wh-c", k);
        const char *one = json;
        Stocktwin__Response *r = it_send_json(c, &one, 1);
        cr_assert_eq(r->statuses[0]->status, STOCKTWIN__STATUS__STATUS_OK, "event %d: %s", k,
                     r->statuses[0]->message);
        cr_assert_gt(r->lsn, 0);
        event_lsn_[k] = r->lsn;
        st_client_response_free(r);
    }
}

// worker_lsns asks the daemon for each worker's durable LSN.
static void
worker_lsns(st_client *c, uint64_t *out)
{
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_digest(c, &r), 0, "digest: %s", st_client_last_error(c));
    cr_assert_eq(r->digest->n_workers, WORKERS);
    for (size_t i = 0; i < r->digest->n_workers; i++)
        out[r->digest->workers[i]->worker] = r->digest->workers[i]->durable_lsn;
    st_client_response_free(r);
}

static void
setup(void)
{
    snprintf(tmp_, sizeof tmp_, "/tmp/stwalcli-XXXXXX");
    cr_assert(mkdtemp(tmp_) != NULL);
    snprintf(data_, sizeof data_, "%s/data", tmp_);
    snprintf(cli_, sizeof cli_, "%s", it_path("client/stocktwin"));
    it_daemon d;
    // Small segments, so that each worker's log spans several files.
    it_daemon_start_data(&d, WORKERS, data_, "--segment-bytes=4096");
    st_client *c = it_client(&d);
    it_setup_network(c);
    send_events(c);
    worker_lsns(c, worker_lsn_);
    st_client_close(c);
    it_daemon_stop(&d);
}

static void
teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(integration_wal_cli, .init = setup, .fini = teardown, .timeout = 120);

static void
slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(buf, 1, cap - 1, f);
    cr_assert_lt(n, cap - 1, "%s: more output than the test expects", path);
    buf[n] = '\0';
    fclose(f);
}

// cli runs `stocktwin ARGS...` (NULL-terminated) with stdout in out_ and
// stderr in err_, and returns its exit status (-1 when a signal ended it).
static int
cli(const char *arg, ...)
{
    char *argv[16] = {cli_};
    int n = 1;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL; a = va_arg(ap, const char *)) {
        cr_assert_lt(n, 15);
        argv[n++] = (char *)a;
    }
    va_end(ap);
    char out_path[128], err_path[128];
    snprintf(out_path, sizeof out_path, "%s/out", tmp_);
    snprintf(err_path, sizeof err_path, "%s/err", tmp_);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
            _exit(126);
        execv(cli_, argv);
        _exit(127);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    slurp(out_path, out_, sizeof out_);
    slurp(err_path, err_, sizeof err_);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// ---------------------------------------------------------------------------
// Reading the logs' files directly (layout: docs/WAL.md).

// seg_paths lists worker w's segment files in LSN order (zero-padded names).
static size_t
seg_paths(uint32_t w, char paths[][512])
{
    char dir[200];
    snprintf(dir, sizeof dir, "%s/wal-%u", data_, w);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    cr_assert_geq(n, 0, "%s", dir);
    size_t count = 0;
    for (int i = 0; i < n; i++) {
        if (strstr(names[i]->d_name, ".seg") != NULL) {
            cr_assert_lt(count, SEGS_MAX);
            snprintf(paths[count++], 512, "%s/%s", dir, names[i]->d_name);
        }
        free(names[i]);
    }
    free(names);
    return count;
}

static uint8_t *
read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(*size + 1);
    cr_assert_eq(fread(buf, 1, *size, f), *size);
    fclose(f);
    return buf;
}

static void
write_all(const char *path, const uint8_t *buf, size_t size)
{
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, size, f), size);
    fclose(f);
}

// frames finds where the records of a segment image start: after the 64-byte
// header, frames of 24 + L bytes padded to 8, until a zero length word.
static size_t
frames(const uint8_t *img, size_t size, uint64_t *offs, uint32_t *lens, size_t max)
{
    size_t n = 0;
    uint64_t off = 64;
    while (off + 24 <= size && n < max) {
        uint32_t len;
        memcpy(&len, img + off, 4); // little-endian, as the host
        if (len == 0 || off + 24 + len > size)
            break;
        offs[n] = off;
        lens[n++] = len;
        off = (off + 24 + len + 7) & ~7ull;
    }
    return n;
}

// fingerprint hashes every file of the data directory's logs (names, sizes,
// bytes; FNV-1a), to prove the CLI changed nothing.
static uint64_t
fingerprint(void)
{
    uint64_t h = 14695981039346656037ull;
    for (uint32_t w = 0; w < WORKERS; w++) {
        char paths[SEGS_MAX][512];
        size_t n = seg_paths(w, paths);
        for (size_t i = 0; i < n; i++) {
            size_t size;
            uint8_t *img = read_all(paths[i], &size);
            for (const char *p = paths[i]; *p; p++)
                h = (h ^ (uint8_t)*p) * 1099511628211ull;
            h = (h ^ size) * 1099511628211ull;
            for (size_t j = 0; j < size; j++)
                h = (h ^ img[j]) * 1099511628211ull;
            free(img);
        }
    }
    return h;
}

static uint32_t
busiest_worker(void)
{
    return worker_lsn_[1] > worker_lsn_[0] ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Parsing dump's output.

typedef struct dumped {
    uint32_t worker;
    uint64_t lsn;
} dumped;

// parse_dump checks every line of out_ as {"worker","lsn","entry"} (the
// entry's own lsn equal), checks the wal-cli events' fields against what was
// sent, and returns the lines' (worker, lsn) in *rows.
static size_t
parse_dump(dumped *rows, size_t max, bool *seen)
{
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(out_, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(line);
        cr_assert_not_null(o, "dump prints JSON lines: %s", line);
        cJSON *w = cJSON_GetObjectItem(o, "worker"), *lsn = cJSON_GetObjectItem(o, "lsn");
        cJSON *entry = cJSON_GetObjectItem(o, "entry");
        cr_assert(cJSON_IsNumber(w) && cJSON_IsNumber(lsn) && cJSON_IsObject(entry), "%s", line);
        cr_assert_eq(cJSON_GetObjectItem(entry, "lsn")->valuedouble, lsn->valuedouble, "%s", line);
        cJSON *ev = cJSON_GetObjectItem(entry, "event");
        cr_assert(cJSON_IsObject(ev), "%s", line);
        cJSON *source = cJSON_GetObjectItem(ev, "source");
        cr_assert(cJSON_IsString(source) && cJSON_IsNumber(cJSON_GetObjectItem(ev, "seq")), "%s",
                  line);
        if (strcmp(source->valuestring, "wal-cli") == 0) {
            int k = (int)cJSON_GetObjectItem(ev, "seq")->valuedouble;
            cr_assert(k >= 1 && k <= EVENTS && !seen[k], "%s", line);
            seen[k] = true;
            cr_assert_eq((uint64_t)lsn->valuedouble, event_lsn_[k],
                         "event %d: the reply said lsn %lu: %s", k, (unsigned long)event_lsn_[k],
                         line);
            cJSON *mv = cJSON_GetObjectItem(ev, "movement");
            cr_assert(cJSON_IsObject(mv), "%s", line);
            cr_assert_str_eq(cJSON_GetObjectItem(mv, "sku")->valuestring, "SKU-2");
            cr_assert_eq(cJSON_GetObjectItem(mv, "qty")->valuedouble, k, "%s", line);
        }
        cr_assert_lt(n, max);
        rows[n++] = (dumped){.worker = (uint32_t)w->valuedouble, .lsn = (uint64_t)lsn->valuedouble};
        cJSON_Delete(o);
    }
    return n;
}

// check_order asserts worker-by-worker, LSN-order rows: each worker's
// `from`..last, last as in want[] (0: worker absent).
static void
check_order(const dumped *rows, size_t n, uint64_t from, const uint64_t *want)
{
    size_t i = 0;
    for (uint32_t w = 0; w < WORKERS; w++) {
        for (uint64_t lsn = from; lsn <= want[w]; lsn++, i++) {
            cr_assert_lt(i, n, "worker %u: lsn %lu missing", w, (unsigned long)lsn);
            cr_assert(rows[i].worker == w && rows[i].lsn == lsn,
                      "row %zu: worker %u lsn %lu, expected worker %u lsn %lu", i, rows[i].worker,
                      (unsigned long)rows[i].lsn, w, (unsigned long)lsn);
        }
    }
    cr_assert_eq(i, n, "no more rows than entries");
}

// ---------------------------------------------------------------------------
// Tests

Test(integration_wal_cli, verify_counts_what_the_replies_said)
{
    uint64_t before = fingerprint();
    cr_assert_eq(cli("wal", "verify", data_, NULL), 0, "%s%s", out_, err_);
    for (uint32_t w = 0; w < WORKERS; w++) {
        char want[96];
        snprintf(want, sizeof want, "worker %u: %lu records, lsn 1..%lu,", w,
                 (unsigned long)worker_lsn_[w], (unsigned long)worker_lsn_[w]);
        cr_assert(strstr(out_, want) != NULL, "want \"%s\" in:\n%s", want, out_);
    }
    char want[64];
    snprintf(want, sizeof want, "ok: 2 logs, %lu records",
             (unsigned long)(worker_lsn_[0] + worker_lsn_[1]));
    cr_assert(strstr(out_, want) != NULL, "%s", out_);
    cr_assert(strstr(out_, "CORRUPT") == NULL && strstr(out_, "TORN") == NULL, "%s", out_);

    cr_assert_eq(cli("--json", "wal", "verify", data_, NULL), 0, "%s%s", out_, err_);
    cJSON *o = cJSON_Parse(out_);
    cr_assert_not_null(o, "%s", out_);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")));
    cJSON *ws = cJSON_GetObjectItem(o, "workers");
    cr_assert_eq(cJSON_GetArraySize(ws), WORKERS);
    uint32_t segments = 0;
    for (int w = 0; w < WORKERS; w++) {
        cJSON *x = cJSON_GetArrayItem(ws, w);
        cr_assert_str_eq(cJSON_GetObjectItem(x, "status")->valuestring, "ok");
        cr_assert_eq(cJSON_GetObjectItem(x, "worker")->valuedouble, w);
        cr_assert_eq(cJSON_GetObjectItem(x, "records")->valuedouble, (double)worker_lsn_[w]);
        cr_assert_eq(cJSON_GetObjectItem(x, "last_lsn")->valuedouble, (double)worker_lsn_[w]);
        segments += (uint32_t)cJSON_GetObjectItem(x, "segments")->valuedouble;
    }
    cr_assert_gt(segments, WORKERS, "small segments: some log spans several files");
    cJSON_Delete(o);

    cr_assert_eq(cli("wal", "verify", data_, "--worker", "1", NULL), 0, "%s%s", out_, err_);
    cr_assert(strstr(out_, "worker 1:") != NULL && strstr(out_, "worker 0:") == NULL, "%s", out_);
    cr_assert_eq(fingerprint(), before, "verify changed the logs");
}

Test(integration_wal_cli, dump_prints_every_entry_as_a_json_line)
{
    uint64_t before = fingerprint();
    cr_assert_eq(cli("wal", "dump", data_, NULL), 0, "%s", err_);
    static dumped rows[4096];
    bool seen[EVENTS + 1] = {false};
    size_t n = parse_dump(rows, 4096, seen);
    cr_assert_eq(n, worker_lsn_[0] + worker_lsn_[1]);
    check_order(rows, n, 1, worker_lsn_);
    for (int k = 1; k <= EVENTS; k++)
        cr_assert(seen[k], "event %d is in the dump", k);
    cr_assert_eq(fingerprint(), before, "dump changed the logs");
}

Test(integration_wal_cli, dump_from_and_worker)
{
    static dumped rows[4096];
    bool seen[EVENTS + 1] = {false};
    uint32_t w = busiest_worker();
    char worker[8];
    snprintf(worker, sizeof worker, "%u", w);
    cr_assert_eq(cli("wal", "dump", data_, "--from", "5", "--worker", worker, NULL), 0, "%s", err_);
    size_t n = parse_dump(rows, 4096, seen);
    cr_assert_eq(n, worker_lsn_[w] - 4);
    for (size_t i = 0; i < n; i++)
        cr_assert(rows[i].worker == w && rows[i].lsn == 5 + i, "row %zu", i);

    char past[24];
    snprintf(past, sizeof past, "%lu", (unsigned long)(worker_lsn_[w] + 1));
    cr_assert_eq(cli("wal", "dump", data_, "--from", past, "--worker", worker, NULL), 0);
    cr_assert_str_eq(out_, "", "nothing after the last entry");
}

// A flipped byte in a record in the middle of a segment, with valid records
// after it: corruption, named by file, offset and LSN.
Test(integration_wal_cli, flipped_byte_is_corruption)
{
    uint32_t w = busiest_worker();
    char paths[SEGS_MAX][512];
    cr_assert_gt(seg_paths(w, paths), 1);
    size_t size;
    uint8_t *img = read_all(paths[0], &size);
    uint64_t offs[512];
    uint32_t lens[512];
    size_t n = frames(img, size, offs, lens, 512);
    cr_assert_geq(n, 3, "%s holds %zu records", paths[0], n);
    size_t mid = n / 2;
    img[offs[mid] + 24 + lens[mid] / 2] ^= 0x40;
    write_all(paths[0], img, size);
    free(img);
    uint64_t lsn = 1 + mid; // the first segment starts at LSN 1
    uint64_t before = fingerprint();

    cr_assert_eq(cli("wal", "verify", data_, NULL), 1, "%s%s", out_, err_);
    char want[700];
    snprintf(want, sizeof want, "CORRUPT at %s offset %lu lsn %lu", paths[0],
             (unsigned long)offs[mid], (unsigned long)lsn);
    cr_assert(strstr(out_, want) != NULL, "want \"%s\" in:\n%s", want, out_);
    cr_assert(strstr(out_, "FAILED") != NULL, "%s", out_);

    cr_assert_eq(cli("--json", "wal", "verify", data_, NULL), 1);
    cJSON *o = cJSON_Parse(out_);
    cr_assert_not_null(o, "%s", out_);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(o, "ok")));
    cJSON *x = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "workers"), (int)w);
    cr_assert_str_eq(cJSON_GetObjectItem(x, "status")->valuestring, "corrupt");
    cr_assert_str_eq(cJSON_GetObjectItem(x, "cut_file")->valuestring, paths[0]);
    cr_assert_eq(cJSON_GetObjectItem(x, "cut_offset")->valuedouble, (double)offs[mid]);
    cr_assert_eq(cJSON_GetObjectItem(x, "cut_lsn")->valuedouble, (double)lsn);
    cJSON_Delete(o);

    // dump stops that worker's log at the bad record, with an error.
    cr_assert_eq(cli("wal", "dump", data_, NULL), 1, "%s", err_);
    cr_assert(strstr(err_, "corrupt") != NULL && strstr(err_, paths[0]) != NULL, "%s", err_);
    static dumped rows[4096];
    bool seen[EVENTS + 1] = {false};
    size_t rows_n = parse_dump(rows, 4096, seen);
    uint64_t want_lsn[WORKERS];
    memcpy(want_lsn, worker_lsn_, sizeof want_lsn);
    want_lsn[w] = lsn - 1;
    check_order(rows, rows_n, 1, want_lsn);
    cr_assert_eq(fingerprint(), before, "the CLI changed the corrupt log");
}

// The last record cut short, as a crash leaves it: a torn tail, reported
// with file and offset, exit 0, and exactly what the daemon then recovers.
Test(integration_wal_cli, truncated_tail_is_torn)
{
    uint32_t w = busiest_worker();
    char paths[SEGS_MAX][512];
    size_t segs = seg_paths(w, paths);
    const char *last = paths[segs - 1];
    size_t size;
    uint8_t *img = read_all(last, &size);
    uint64_t offs[512];
    uint32_t lens[512];
    size_t n = frames(img, size, offs, lens, 512);
    free(img);
    cr_assert_geq(n, 1);
    uint64_t cut = offs[n - 1] + 24 + lens[n - 1] / 2;
    cr_assert_eq(truncate(last, (off_t)cut), 0);
    uint64_t before = fingerprint();

    cr_assert_eq(cli("wal", "verify", data_, NULL), 0, "a torn tail is no error: %s%s", out_, err_);
    char want[700];
    snprintf(want, sizeof want, "TORN TAIL at %s:%lu (lsn %lu", last, (unsigned long)offs[n - 1],
             (unsigned long)worker_lsn_[w]);
    cr_assert(strstr(out_, want) != NULL, "want \"%s\" in:\n%s", want, out_);
    snprintf(want, sizeof want, "worker %u: %lu records,", w, (unsigned long)(worker_lsn_[w] - 1));
    cr_assert(strstr(out_, want) != NULL, "want \"%s\" in:\n%s", want, out_);

    cr_assert_eq(cli("wal", "dump", data_, NULL), 0, "%s", err_);
    cr_assert(strstr(err_, "torn tail") != NULL, "%s", err_);
    static dumped rows[4096];
    bool seen[EVENTS + 1] = {false};
    size_t rows_n = parse_dump(rows, 4096, seen);
    uint64_t want_lsn[WORKERS];
    memcpy(want_lsn, worker_lsn_, sizeof want_lsn);
    want_lsn[w] = worker_lsn_[w] - 1;
    check_order(rows, rows_n, 1, want_lsn);
    cr_assert_eq(fingerprint(), before, "the CLI cut the torn tail itself");

    // The daemon recovers exactly what verify counted.
    it_daemon d;
    it_daemon_start_data(&d, WORKERS, data_, "--segment-bytes=4096");
    st_client *c = it_client(&d);
    uint64_t lsns[WORKERS];
    worker_lsns(c, lsns);
    st_client_close(c);
    it_daemon_stop(&d);
    cr_assert_eq(lsns[w], worker_lsn_[w] - 1);
    cr_assert_eq(lsns[1 - w], worker_lsn_[1 - w]);
    cr_assert_eq(cli("wal", "verify", data_, NULL), 0, "%s%s", out_, err_);
    cr_assert(strstr(out_, "TORN") == NULL, "recovery cut it: %s", out_);
}

// A record whose frame is sound (its checksum recomputed) but whose payload
// is not a LogEntry: verify names its LSN, dump skips it; both exit 1.
Test(integration_wal_cli, undecodable_entry)
{
    uint32_t w = busiest_worker();
    char paths[SEGS_MAX][512];
    seg_paths(w, paths);
    size_t size;
    uint8_t *img = read_all(paths[0], &size);
    uint64_t offs[512];
    uint32_t lens[512];
    size_t n = frames(img, size, offs, lens, 512);
    cr_assert_geq(n, 3);
    size_t mid = n / 2;
    uint8_t *rec = img + offs[mid];
    memset(rec + 24, 0xff, lens[mid]); // an unterminated varint tag: not protobuf
    // The checksum covers header bytes 0..15, then the payload (docs/WAL.md).
    uint8_t *joined = malloc(16 + (size_t)lens[mid]);
    memcpy(joined, rec, 16);
    memcpy(joined + 16, rec + 24, lens[mid]);
    uint64_t sum = XXH3_64bits(joined, 16 + (size_t)lens[mid]);
    free(joined);
    memcpy(rec + 16, &sum, 8); // little-endian, as the host
    write_all(paths[0], img, size);
    free(img);
    uint64_t lsn = 1 + mid;

    cr_assert_eq(cli("wal", "verify", data_, NULL), 1, "%s%s", out_, err_);
    char want[64];
    snprintf(want, sizeof want, "UNDECODABLE at lsn %lu", (unsigned long)lsn);
    cr_assert(strstr(out_, want) != NULL, "want \"%s\" in:\n%s", want, out_);
    snprintf(want, sizeof want, "worker %u: %lu records,", w, (unsigned long)worker_lsn_[w]);
    cr_assert(strstr(out_, want) != NULL, "the framing is fine: %s", out_);

    cr_assert_eq(cli("wal", "dump", data_, NULL), 1, "%s", err_);
    cr_assert(strstr(err_, "undecodable") != NULL, "%s", err_);
    static dumped rows[4096];
    bool seen[EVENTS + 1] = {false};
    size_t rows_n = parse_dump(rows, 4096, seen);
    cr_assert_eq(rows_n, worker_lsn_[0] + worker_lsn_[1] - 1, "all but the bad entry");
}

Test(integration_wal_cli, not_a_data_directory_and_usage)
{
    // tmp_ holds the data directory, but is none itself.
    cr_assert_eq(cli("wal", "verify", tmp_, NULL), 2, "%s%s", out_, err_);
    cr_assert(strstr(err_, "not a stocktwin data directory") != NULL, "%s", err_);
    cr_assert_eq(cli("wal", "dump", "/nonexistent/stocktwin", NULL), 2);
    cr_assert(strstr(err_, "No such file") != NULL, "%s", err_);
    cr_assert_eq(cli("wal", "verify", NULL), 2);
    cr_assert_eq(cli("wal", "frobnicate", data_, NULL), 2);
    cr_assert_eq(cli("wal", "verify", data_, "--from", "3", NULL), 2, "--from is dump's");
    cr_assert_eq(cli("wal", "dump", data_, "--worker", "7", NULL), 2);
    cr_assert_eq(cli("wal", "dump", data_, "--from", "x", NULL), 2);
    cr_assert_eq(cli("wal", "--help", NULL), 0);
    cr_assert(strstr(out_, "stocktwin wal verify DIR") != NULL, "%s", out_);
    cr_assert_eq(cli("--help", NULL), 0);
    cr_assert(strstr(out_, "wal verify DIR") != NULL && strstr(out_, "wal dump DIR") != NULL);
}

// has_snapshot tells whether worker w published a snapshot in the data dir.
static bool
has_snapshot(unsigned w)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/snap-%u", data_, w);
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        found = found || strstr(e->d_name, ".snap") != NULL;
    closedir(d);
    return found;
}

// `stocktwin snapshot` makes every worker snapshot now; a restart after
// kill -9 starts from the snapshots (and the log after them) with the same
// digest, and the offline verify still accepts the trimmed logs. Without a
// log the command is refused with exit 1.
Test(integration_wal_cli, snapshot_on_demand_then_restart_from_it)
{
    it_daemon d;
    it_daemon_start_data(&d, WORKERS, data_, NULL);
    st_client *c = it_client(&d);
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_digest(c, &r), 0, "%s", st_client_last_error(c));
    uint64_t want = r->digest->digest;
    st_client_response_free(r);
    st_client_close(c);
    cr_assert_eq(cli("--url", d.rpc, "snapshot", NULL), 0, "%s%s", out_, err_);
    cr_assert(strstr(out_, "snapshot requested") != NULL, "%s", out_);
    for (int i = 0; i < 500 && !(has_snapshot(0) && has_snapshot(1)); i++)
        usleep(10 * 1000);
    cr_assert(has_snapshot(0) && has_snapshot(1), "both workers published a snapshot");
    it_daemon_kill9(&d);

    it_daemon_start_data(&d, WORKERS, data_, NULL);
    c = it_client(&d);
    cr_assert_eq(st_client_digest(c, &r), 0, "%s", st_client_last_error(c));
    cr_assert_eq(r->digest->digest, want, "the state after the snapshot restart is the same");
    st_client_response_free(r);
    st_client_close(c);
    static char log[16384];
    it_daemon_log(&d, log, sizeof log);
    cr_assert(strstr(log, "loaded its snapshot") != NULL, "%s", log);
    it_daemon_stop(&d);
    cr_assert_eq(cli("wal", "verify", data_, NULL), 0, "%s%s", out_, err_);

    it_daemon_start(&d, WORKERS); // memory only
    cr_assert_eq(cli("--url", d.rpc, "snapshot", NULL), 1, "%s%s", out_, err_);
    cr_assert(strstr(out_, "--data") != NULL || strstr(err_, "--data") != NULL, "%s%s", out_, err_);
    it_daemon_stop(&d);
}
