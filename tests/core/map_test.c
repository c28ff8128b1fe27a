// map_test.c - the open-addressing map and the interning arena against
// simple reference models.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/intern.h"
#include "core/map.h"

Test(map, matches_a_reference_under_random_puts_and_deletes)
{
    enum { N = 4096 };
    static int64_t ref[N]; // -1 = absent
    for (int i = 0; i < N; i++)
        ref[i] = -1;
    st_map m;
    st_map_init(&m);
    uint64_t x = 12345;
    for (int step = 0; step < 200000; step++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t k = (uint32_t)(x >> 33) % N;
        uint32_t op = (uint32_t)(x >> 20) % 3;
        uint64_t key = st_map_key2(k % 7, k);
        if (op < 2) {
            st_map_put(&m, key, (uint32_t)step);
            ref[k] = step;
        } else {
            cr_assert_eq(st_map_del(&m, key), ref[k] >= 0);
            ref[k] = -1;
        }
        if (step % 1000 == 0) {
            uint32_t count = 0;
            for (int i = 0; i < N; i++) {
                uint32_t v;
                bool has = st_map_get(&m, st_map_key2((uint32_t)i % 7, (uint32_t)i), &v);
                cr_assert_eq(has, ref[i] >= 0, "key %d", i);
                if (has) {
                    cr_assert_eq(v, (uint32_t)ref[i]);
                    count++;
                }
            }
            cr_assert_eq(count, m.count);
        }
    }
    st_map_deinit(&m);
    st_map_deinit(NULL);
}

// Lookups answered from the memo of recent ones (many strings share a
// memo entry: same length, same last byte) agree with the table, for
// strings interned and not, in any order, whatever was looked up before.
Test(intern, recent_lookups_agree_with_the_table)
{
    st_intern in;
    st_intern_init(&in);
    char buf[32];
    enum { N = 2000 };
    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "sku-%04d", i); // 8 bytes: 10 last bytes for 2,000 ids
        cr_assert_eq(st_intern_add(&in, buf, strlen(buf)), (uint32_t)i + 1);
    }
    uint64_t r = 88172645463325252ull;
    for (int k = 0; k < 200000; k++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        int i = (int)(r % (2 * N)); // half of them never interned
        snprintf(buf, sizeof buf, "sku-%04d", i);
        uint32_t want = i < N ? (uint32_t)i + 1 : 0;
        if (k % 3 == 0 && i < N)
            cr_assert_eq(st_intern_add(&in, buf, strlen(buf)), want, "add %s", buf);
        else
            cr_assert_eq(st_intern_find(&in, buf, strlen(buf)), want, "find %s", buf);
        // A prefix of an interned string, of another length, is not found.
        cr_assert_eq(st_intern_find(&in, buf, 7), 0);
    }
    cr_assert_eq(in.count, (uint32_t)N + 1, "nothing was interned twice");
    st_intern_deinit(&in);
}

Test(intern, strings_are_stable_and_unique)
{
    st_intern in;
    st_intern_init(&in);
    cr_assert_eq(st_intern_add(&in, "", 0), 0);
    cr_assert_str_eq(st_intern_str(&in, 0), "");
    char buf[32];
    const char *first = NULL;
    for (int i = 0; i < 50000; i++) {
        snprintf(buf, sizeof buf, "id-%d", i);
        uint32_t id = st_intern_add(&in, buf, strlen(buf));
        cr_assert_eq(id, (uint32_t)i + 1);
        if (i == 0)
            first = st_intern_str(&in, id);
    }
    cr_assert_str_eq(first, "id-0", "pointers survive growth");
    cr_assert_eq(st_intern_find(&in, "id-49999", 8), 50000);
    cr_assert_eq(st_intern_find(&in, "id-50000", 8), 0);
    cr_assert_eq(st_intern_add(&in, "id-7", 4), 8);
    cr_assert_eq(st_intern_len(&in, 8), 4);
    char big[100000];
    memset(big, 'b', sizeof big);
    uint32_t id = st_intern_add(&in, big, sizeof big);
    cr_assert_eq(st_intern_len(&in, id), sizeof big);
    st_intern_deinit(&in);
}
