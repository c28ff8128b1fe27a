// free_port.h - a loopback TCP port for a test's server, shared by every
// test that starts one. Ports come from 20000..31999, below Linux's
// ephemeral range (32768..60999), so an outgoing connection of another test
// cannot take the port between this check and the server's bind; the start
// is random per process and call, so concurrent tests rarely pick the same.
// Header-only: the tests that need it link no common library.
// Thread: any.
#ifndef ST_TESTS_SUPPORT_FREE_PORT_H
#define ST_TESTS_SUPPORT_FREE_PORT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// st_test_free_port returns a port nobody listened on a moment ago, or 0.
static inline unsigned
st_test_free_port(void)
{
    static atomic_uint calls;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned seed = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec ^
                    (atomic_fetch_add(&calls, 1) * 40503u);
    for (int attempt = 0; attempt < 200; attempt++) {
        unsigned port = 20000u + rand_r(&seed) % 12000u;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return 0;
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return 0;
}

#endif
