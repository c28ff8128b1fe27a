// shards.c - the public face of the runtime (see shards.h): creating and
// stopping the workers, routing warehouses to workers, and handing requests
// over as one job per worker.
//
// A request's life: the submitter routes every event (route[i] = a worker,
// ST_SHARDS_ROUTE_ALL for catalog events, ST_SHARDS_ROUTE_NONE for events
// refused on the spot), then pushes jobs[w] into the ring of each worker with
// something to do. req->pending counts the jobs not yet released plus one
// guard the submitter holds until it has pushed them all, so the done
// callback cannot run while the submitter still touches the request. Whoever
// drops pending to zero finishes the request (st_shards_req_release).
//
// Ownership: the caller owns st_shards and every request; see shards.h.
// Thread: create/destroy on one thread; route/submit/query on any thread.
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "shards/reshard.h"
#include "shards/worker.h"

static uint32_t
shards_worker_count(uint32_t asked)
{
    if (asked != 0)
        return asked;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    return cpus > (long)ST_SHARDS_WORKERS_MAX ? ST_SHARDS_WORKERS_MAX : (uint32_t)cpus;
}

__attribute__((format(printf, 2, 3))) static void
data_error(const st_shards_config *config, const char *fmt, ...)
{
    if (config->error == NULL || config->error_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(config->error, config->error_len, fmt, ap);
    va_end(ap);
}

// data_meta_write records, atomically (temporary file, fsync, rename, fsync
// of the directory), how many workers write the data directory's logs.
static st_err
data_meta_write(const st_shards_config *config, const char *path, uint32_t workers)
{
    char tmp[4200], text[64];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int len = snprintf(text, sizeof text, "stocktwin data 1\nworkers %u\n", workers);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, (size_t)len) != len || fsync(fd) != 0 || close(fd) != 0 ||
        rename(tmp, path) != 0) {
        data_error(config, "cannot write %s: %s", path, strerror(errno));
        return ST_IO;
    }
    int dfd = open(config->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return ST_OK;
}

// st_shards_data_check creates the data directory, or checks that it was
// written with this many workers: each worker replays only its own log, so
// a different count would route warehouses to workers whose logs lack them.
// A different count reshards the directory first (reshard.c); a follower's
// must equal its leader's, so it refuses.
st_err
st_shards_data_check(st_shards *shards, const st_shards_config *config)
{
    ST_ASSERT(config->data_dir != NULL);
    if (mkdir(config->data_dir, 0755) != 0 && errno != EEXIST) {
        data_error(config, "cannot create data directory %s: %s", config->data_dir,
                   strerror(errno));
        return ST_IO;
    }
    char path[4096];
    char why[1024] = "";
    st_err rerr = st_reshard_recover(config->data_dir, why, sizeof why);
    if (rerr != ST_OK) {
        data_error(config, "%s", why);
        return rerr;
    }
    snprintf(path, sizeof path, "%s/stocktwin.meta", config->data_dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno != ENOENT) {
            data_error(config, "cannot read %s: %s", path, strerror(errno));
            return ST_IO;
        }
        return data_meta_write(config, path, shards->worker_count);
    }
    unsigned version = 0, workers = 0;
    int got = fscanf(f, "stocktwin data %u workers %u", &version, &workers);
    fclose(f);
    if (got != 2 || version != 1 || workers == 0 || workers > ST_SHARDS_WORKERS_MAX) {
        data_error(config, "%s is not a stocktwin data directory record (version 1)", path);
        return ST_MALFORMED;
    }
    if (workers != shards->worker_count && config->follower) {
        data_error(config,
                   "%s was written by %u workers; a follower runs its leader's count: start it "
                   "with --workers %u",
                   config->data_dir, workers, workers);
        return ST_INVALID_ARGUMENT;
    }
    if (workers != shards->worker_count) {
        rerr = st_reshard(config, workers, shards->worker_count, why, sizeof why);
        if (rerr != ST_OK) {
            data_error(config, "resharding %s from %u to %u workers: %s", config->data_dir, workers,
                       shards->worker_count, why);
            return rerr;
        }
    }
    return ST_OK;
}

// st_shards_req_lsn raises req->lsn to `lsn` (workers race to set it).
void
st_shards_req_lsn(st_shards_req *req, uint64_t lsn)
{
    uint_fast64_t seen = atomic_load_explicit(&req->lsn, memory_order_relaxed);
    while (seen < lsn && !atomic_compare_exchange_weak_explicit(
                             &req->lsn, &seen, lsn, memory_order_relaxed, memory_order_relaxed)) {
    }
}

typedef struct init_job {
    st_shards *shards;
    const st_shards_config *config;
    uint32_t worker;
    st_err err;
} init_job;

static void *
init_main(void *arg)
{
    init_job *job = arg;
    job->err =
        st_worker_init(&job->shards->workers[job->worker], job->shards, job->worker, job->config);
    return NULL;
}

// shards_init_workers initializes every worker, each on its own thread, so
// that replaying the workers' logs at start runs in parallel (each replay
// touches only its worker's state, outbox and, under its lock, the
// directory). The first failing worker's reason goes to config->error.
static st_err
shards_init_workers(st_shards *shards, const st_shards_config *config)
{
    uint32_t n = shards->worker_count;
    init_job *jobs = st_calloc(n, sizeof(*jobs));
    pthread_t *threads = st_calloc(n, sizeof(*threads));
    bool *started = st_calloc(n, sizeof(*started));
    for (uint32_t i = 0; i < n; i++) {
        jobs[i] = (init_job){.shards = shards, .config = config, .worker = i};
        started[i] = pthread_create(&threads[i], NULL, init_main, &jobs[i]) == 0;
        if (!started[i])
            init_main(&jobs[i]); // no thread to spare: replay this one here
    }
    st_err err = ST_OK;
    for (uint32_t i = 0; i < n; i++) {
        if (started[i])
            pthread_join(threads[i], NULL);
        if (jobs[i].err != ST_OK && err == ST_OK) {
            err = jobs[i].err;
            data_error(config, "%s",
                       shards->workers[i].error[0] ? shards->workers[i].error : st_err_str(err));
        }
    }
    st_free(started);
    st_free(threads);
    st_free(jobs);
    return err;
}

st_err
st_shards_create(const st_shards_config *config, st_shards **shards_out)
{
    ST_ASSERT(config != NULL && shards_out != NULL);
    *shards_out = NULL;
    uint32_t ring = config->ring_capacity != 0 ? config->ring_capacity : ST_SHARDS_RING_DEFAULT;
    if (config->workers > ST_SHARDS_WORKERS_MAX || ring < 2 || (ring & (ring - 1)) != 0 ||
        ring > (1u << 24))
        return ST_INVALID_ARGUMENT;
    st_err err = ST_OK;
    st_shards *shards = st_calloc(1, sizeof(*shards));
    shards->worker_count = shards_worker_count(config->workers);
    shards->ring_size = ring;
    shards->feed_cb = config->feed_cb;
    shards->feed_arg = config->feed_arg;
    shards->sync = config->data_dir == NULL ? ST_SHARDS_SYNC_NONE : config->sync;
    shards->sync_interval_ms = config->sync_interval_ms;
    shards->snapshot_bytes = config->snapshot_bytes ? config->snapshot_bytes : 256ull << 20;
    shards->snapshot_interval_ms =
        config->snapshot_interval_ms ? config->snapshot_interval_ms : 10u * 60u * 1000u;
    shards->retain_entries = config->retain_entries;
    shards->data_dir = config->data_dir;
    shards->state_config = config->state;
    shards->segment_bytes = config->segment_bytes;
    shards->fault_control = config->fault_control;
    shards->truncate_corrupt = config->truncate_corrupt;
    shards->follower = config->follower;
    shards->tick_ms = config->tick_ms;
    shards->device_silent_ms = config->device_silent_ms;
    shards->quorum = config->quorum;
    shards->epoch = config->epoch ? config->epoch : 1;
    atomic_init(&shards->stop, false);
    shards->directory = st_directory_create(1024);
    shards->workers = st_calloc(shards->worker_count, sizeof(*shards->workers));
    if (config->data_dir != NULL) {
        err = st_shards_data_check(shards, config);
        if (err == ST_OK)
            err = st_wal_janitor_create(&shards->janitor);
        if (err != ST_OK)
            goto fail;
    }
    err = shards_init_workers(shards, config);
    if (err != ST_OK)
        goto fail;
    if (config->data_dir != NULL && !shards->follower)
        st_outbox_resend(shards); // what a promoted follower never had in flight
    for (uint32_t i = 0; i < shards->worker_count; i++) {
        st_worker *w = &shards->workers[i];
        if (pthread_create(&w->thread, NULL, st_worker_main, w) != 0) {
            err = ST_INTERNAL;
            goto fail;
        }
        w->started = true;
    }
    *shards_out = shards;
    return ST_OK;
fail:
    st_shards_destroy(shards);
    return err;
}

// Sets the stop flag, wakes every worker and waits for them: each completes
// what its ring still holds with ST_UNAVAILABLE before it exits.
static void
shards_stop(st_shards *shards)
{
    atomic_store(&shards->stop, true);
    for (uint32_t i = 0; i < shards->worker_count; i++) {
        if (shards->workers[i].started)
            st_worker_wake(&shards->workers[i]);
    }
    for (uint32_t i = 0; i < shards->worker_count; i++) {
        st_worker *w = &shards->workers[i];
        if (w->started) {
            int rc = pthread_join(w->thread, NULL);
            ST_ASSERT(rc == 0);
            w->started = false;
        }
    }
}

void
st_shards_destroy(st_shards *shards)
{
    if (shards == NULL)
        return;
    shards_stop(shards);
    // Undelivered outbox messages may sit in any inbox; only heap ones need
    // freeing, pool ones go with their owner's pool below.
    for (uint32_t i = 0; i < shards->worker_count; i++) {
        st_worker *w = &shards->workers[i];
        st_outbox_msg *msg;
        while (w->state != NULL && (msg = st_ring_pop(&w->inbox)) != NULL)
            st_outbox_free_heap(msg);
    }
    for (uint32_t i = 0; i < shards->worker_count; i++)
        st_worker_deinit(&shards->workers[i]);
    st_wal_janitor_destroy(shards->janitor); // after the logs: it owns their old descriptors
    st_free(shards->workers);
    st_directory_destroy(shards->directory);
    st_free(shards);
}

st_shards_sync
st_shards_sync_mode(const st_shards *shards)
{
    ST_ASSERT(shards != NULL);
    return shards->sync;
}

uint32_t
st_shards_workers(const st_shards *shards)
{
    ST_ASSERT(shards != NULL);
    return shards->worker_count;
}

uint32_t
st_shards_route(const st_shards *shards, const char *warehouse)
{
    ST_ASSERT(shards != NULL && shards->worker_count != 0);
    if (warehouse == NULL)
        warehouse = "";
    return (uint32_t)(XXH3_64bits(warehouse, strlen(warehouse)) % shards->worker_count);
}

// st_shards_req_message records the sentence explaining event `index`'s
// status. Slots are claimed atomically (workers write concurrently);
// messages beyond ST_SHARDS_MESSAGES_MAX are dropped and the count is
// clamped when the request finishes.
void
st_shards_req_message(st_shards_req *req, uint32_t index, const char *text)
{
    ST_ASSERT(index < ST_SHARDS_BATCH_MAX);
    unsigned slot = atomic_fetch_add_explicit(&req->message_count, 1, memory_order_relaxed);
    if (slot >= ST_SHARDS_MESSAGES_MAX)
        return;
    st_shards_message *m = &req->messages[slot];
    m->index = index;
    size_t len = strnlen(text, sizeof(m->text) - 1);
    memcpy(m->text, text, len);
    m->text[len] = '\0';
}

// Runs once, on whichever thread released the request last: every write of
// every worker to the request happened before (acq_rel on pending).
static void
req_finish(st_shards_req *req)
{
    st_err fail = (st_err)atomic_load_explicit(&req->fail, memory_order_relaxed);
    if (req->query_cb != NULL || req->op != ST_SHARDS_OP_EVENTS) {
        req->status = fail;
    } else if (fail != ST_OK) {
        for (uint32_t i = 0; i < req->event_count; i++) {
            if (req->route[i] == ST_SHARDS_ROUTE_ALL)
                req->statuses[i] = fail;
        }
    }
    if (atomic_load_explicit(&req->message_count, memory_order_relaxed) > ST_SHARDS_MESSAGES_MAX)
        atomic_store_explicit(&req->message_count, ST_SHARDS_MESSAGES_MAX, memory_order_relaxed);
    ST_ASSERT(req->done_cb != NULL);
    req->done_cb(req->done_arg);
}

// st_shards_req_release drops one job (or the submitter's guard); the last
// one finishes the request. The request may be gone when this returns.
void
st_shards_req_release(st_shards_req *req)
{
    unsigned before = atomic_fetch_sub_explicit(&req->pending, 1, memory_order_acq_rel);
    ST_ASSERT(before >= 1);
    if (before == 1)
        req_finish(req);
}

static void
req_start(st_shards_req *req, st_shards_done_cb done_cb, void *done_arg)
{
    ST_ASSERT(req != NULL && done_cb != NULL);
    req->status = ST_OK;
    atomic_store_explicit(&req->message_count, 0, memory_order_relaxed);
    atomic_store_explicit(&req->fail, 0, memory_order_relaxed);
    atomic_store_explicit(&req->lsn, 0, memory_order_relaxed);
    atomic_store_explicit(&req->pending, 1, memory_order_relaxed); // the submitter's guard
    req->events = NULL;
    req->statuses = NULL;
    req->event_count = 0;
    req->query_cb = NULL;
    req->query_arg = NULL;
    req->op = ST_SHARDS_OP_EVENTS;
    req->frames = NULL;
    req->frames_len = 0;
    req->done_cb = done_cb;
    req->done_arg = done_arg;
}

// st_shards_req_fail records why the request's shared results failed (a
// query's status, every catalog event's status); the first reason wins.
void
st_shards_req_fail(st_shards_req *req, st_err err)
{
    int none = 0;
    ST_ASSERT(err != ST_OK);
    atomic_compare_exchange_strong(&req->fail, &none, (int)err);
}

// A full ring refuses the whole job: the worker's events become ST_BUSY
// (catalog events and queries through req->fail, which workers share).
static void
req_mark_busy(st_shards_req *req, uint32_t worker)
{
    ST_ASSERT(worker < ST_SHARDS_WORKERS_MAX);
    if (req->query_cb != NULL || req->op != ST_SHARDS_OP_EVENTS) {
        st_shards_req_fail(req, ST_BUSY);
        return;
    }
    for (uint32_t i = 0; i < req->event_count; i++) {
        if (req->route[i] == worker)
            req->statuses[i] = ST_BUSY;
        else if (req->route[i] == ST_SHARDS_ROUTE_ALL)
            st_shards_req_fail(req, ST_BUSY);
    }
}

// Pushes jobs[w] for every worker in `targets`, then drops the guard.
// events[w]: how many events worker w's job applies (NULL: none).
static void
req_enqueue(st_shards *shards, st_shards_req *req, uint64_t targets, const uint32_t *events)
{
    for (uint32_t w = 0; w < shards->worker_count; w++) {
        if ((targets & (1ull << w)) == 0)
            continue;
        st_worker *worker = &shards->workers[w];
        req->jobs[w].req = req;
        req->jobs[w].worker = w;
        req->jobs[w].events = events != NULL ? events[w] : 0;
        atomic_fetch_add_explicit(&req->pending, 1, memory_order_relaxed);
        if (st_ring_push(&worker->jobs, &req->jobs[w])) {
            st_worker_wake(worker);
            continue;
        }
        atomic_fetch_sub_explicit(&req->pending, 1, memory_order_relaxed); // guard keeps it > 0
        atomic_fetch_add_explicit(&worker->busy_rejections, 1, memory_order_relaxed);
        req_mark_busy(req, w);
    }
    st_shards_req_release(req);
}

static uint64_t
shards_all_workers(const st_shards *shards)
{
    return shards->worker_count == 64 ? ~0ull : (1ull << shards->worker_count) - 1;
}

// Decides where event i goes, or refuses it on the spot.
static uint64_t
route_event(st_shards *shards, st_shards_req *req, uint32_t i)
{
    const st_event *event = &req->events[i];
    req->route[i] = ST_SHARDS_ROUTE_NONE;
    if (st_event_is_internal(event->kind)) {
        req->statuses[i] = ST_INVALID_ARGUMENT;
        st_shards_req_message(req, i, "internal event kinds are not accepted from clients");
        return 0;
    }
    if (st_event_is_catalog(event->kind)) {
        req->route[i] = ST_SHARDS_ROUTE_ALL;
        req->statuses[i] = ST_INTERNAL; // worker 0 overwrites it
        return shards_all_workers(shards);
    }
    if (event->warehouse == NULL || event->warehouse[0] == '\0') {
        req->statuses[i] = ST_UNKNOWN_WAREHOUSE;
        st_shards_req_message(req, i, "the event names no warehouse");
        return 0;
    }
    uint32_t w = st_shards_route(shards, event->warehouse);
    req->route[i] = (uint16_t)w;
    req->statuses[i] = ST_INTERNAL; // worker w overwrites it
    return 1ull << w;
}

void
st_shards_submit(st_shards *shards, st_shards_req *req, const st_event *events, st_err *statuses,
                 uint32_t count, st_shards_done_cb done_cb, void *done_arg)
{
    ST_ASSERT(shards != NULL && events != NULL && statuses != NULL);
    ST_ASSERT(count >= 1 && count <= ST_SHARDS_BATCH_MAX);
    req_start(req, done_cb, done_arg);
    req->events = events;
    req->statuses = statuses;
    req->event_count = count;
    uint64_t targets = 0;
    uint32_t per_worker[ST_SHARDS_WORKERS_MAX] = {0}, all = 0;
    for (uint32_t i = 0; i < count; i++) {
        targets |= route_event(shards, req, i);
        if (req->route[i] == ST_SHARDS_ROUTE_ALL)
            all++;
        else if (req->route[i] < ST_SHARDS_WORKERS_MAX)
            per_worker[req->route[i]]++;
    }
    for (uint32_t w = 0; all != 0 && w < shards->worker_count; w++)
        per_worker[w] += all;
    req_enqueue(shards, req, targets, per_worker);
}

void
st_shards_query(st_shards *shards, st_shards_req *req, const char *warehouse,
                st_shards_query_cb query_cb, void *query_arg, st_shards_done_cb done_cb,
                void *done_arg)
{
    ST_ASSERT(shards != NULL && query_cb != NULL);
    req_start(req, done_cb, done_arg);
    req->query_cb = query_cb;
    req->query_arg = query_arg;
    uint64_t targets =
        warehouse != NULL ? 1ull << st_shards_route(shards, warehouse) : shards_all_workers(shards);
    req_enqueue(shards, req, targets, NULL);
}

st_err
st_shards_snapshot_request(st_shards *shards)
{
    ST_ASSERT(shards != NULL);
    if (shards->sync == ST_SHARDS_SYNC_NONE)
        return ST_INVALID_ARGUMENT;
    for (uint32_t i = 0; i < shards->worker_count; i++) {
        atomic_store(&shards->workers[i].snap_requested, true);
        st_worker_wake(&shards->workers[i]);
    }
    return ST_OK;
}

void
st_shards_replicate(st_shards *shards, st_shards_req *req, uint32_t worker, const uint8_t *frames,
                    uint32_t len, st_shards_done_cb done_cb, void *done_arg)
{
    ST_ASSERT(shards != NULL && shards->follower && worker < shards->worker_count);
    ST_ASSERT(frames != NULL || len == 0);
    req_start(req, done_cb, done_arg);
    req->op = ST_SHARDS_OP_REPLICATE;
    req->frames = frames;
    req->frames_len = len;
    req_enqueue(shards, req, 1ull << worker, NULL);
}

void
st_shards_reset(st_shards *shards, st_shards_req *req, uint32_t worker, uint64_t lsn,
                st_shards_done_cb done_cb, void *done_arg)
{
    ST_ASSERT(shards != NULL && shards->follower && worker < shards->worker_count);
    ST_ASSERT(shards->sync != ST_SHARDS_SYNC_NONE);
    req_start(req, done_cb, done_arg);
    req->op = ST_SHARDS_OP_RESET;
    req->reset_lsn = lsn;
    req_enqueue(shards, req, 1ull << worker, NULL);
}

uint64_t
st_shards_image_lsn(const st_shards *shards, uint32_t worker)
{
    ST_ASSERT(worker < shards->worker_count);
    return atomic_load_explicit(&shards->workers[worker].pub_image_lsn, memory_order_acquire);
}

uint64_t
st_shards_durable_lsn(const st_shards *shards, uint32_t worker)
{
    ST_ASSERT(worker < shards->worker_count);
    return atomic_load_explicit(&shards->workers[worker].pub_durable_lsn, memory_order_acquire);
}

uint64_t
st_shards_last_epoch(const st_shards *shards, uint32_t worker)
{
    ST_ASSERT(worker < shards->worker_count);
    return atomic_load_explicit(&shards->workers[worker].pub_epoch, memory_order_relaxed);
}

void
st_shards_quorum_set(st_shards *shards, uint32_t worker, uint64_t lsn)
{
    ST_ASSERT(worker < shards->worker_count);
    st_worker *w = &shards->workers[worker];
    uint_fast64_t seen = atomic_load_explicit(&w->quorum_lsn, memory_order_relaxed);
    while (seen < lsn &&
           !atomic_compare_exchange_weak_explicit(&w->quorum_lsn, &seen, lsn, memory_order_release,
                                                  memory_order_relaxed)) {
    }
    if (seen < lsn)
        st_worker_wake(w); // it may be parked waiting for this (worker_park_quorum)
}

uint32_t
st_shards_quorum(const st_shards *shards)
{
    return shards->quorum;
}

uint64_t
st_shards_epoch(const st_shards *shards)
{
    return shards->epoch;
}

bool
st_shards_follower(const st_shards *shards)
{
    return shards->follower;
}
