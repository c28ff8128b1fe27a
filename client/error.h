// error.h - the per-thread "last error" sentence of libstocktwin and the
// mapping of nng errors to stocktwin statuses. Private to client/.
// Thread: any; every thread has its own sentence (thread-local storage).
#ifndef ST_CLIENT_ERROR_H
#define ST_CLIENT_ERROR_H

#include <stdarg.h>

// The longest sentence kept; longer ones are cut.
#define ST_ERROR_BYTES_MAX 512

// st_error_set - sets this thread's sentence (printf format) and returns
// `status`, so a failing path reads `return st_error_set(STATUS, "...")`.
int st_error_set(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// st_error_clear - an empty sentence; called when a public call starts.
void st_error_clear(void);

// st_error_get - this thread's sentence, valid until the next set/clear.
const char *st_error_get(void);

// st_error_nng - maps an nng error `rv` of operation `what` on `url` to a
// status (ETIMEDOUT, ECONNREFUSED, ECLOSED... -> UNAVAILABLE; EADDRINVAL,
// ENOTSUP -> INVALID_ARGUMENT; EMSGSIZE -> TOO_LARGE; ENOMEM -> INTERNAL),
// sets the sentence and returns the status.
int st_error_nng(int rv, const char *what, const char *url);

#endif // ST_CLIENT_ERROR_H
