// lookahead.c - prefetching the records of the next events (see lookahead.h).
#include <string.h>

#include "core/lookahead.h"
#include "core/model.h"

void
st_lookahead_reset(st_lookahead *la)
{
    memset(la, 0, sizeof *la);
}

// The levels of a movement's (or count's) walk; each reads what the one
// before prefetched.
enum {
    LA_SLOT,     // hash the sku, prefetch its intern slot
    LA_ID,       // guess the id from the slot; prefetch its index entry
    LA_PRODUCT,  // the product from the index; prefetch stock_of[product] and the product
    LA_STOCK,    // the record's number; prefetch the record
    LA_BIN,      // the record's first bin; prefetch it
    LA_NEXT_BIN, // the second bin (a move touches two); prefetch it
    LA_DONE,
};

static void
walk_step(const st_state *s, st_lookahead_walk *w)
{
    // Tables only grow while events apply, but every index is checked again
    // at each level all the same: a walk never reads outside a table.
    const st_wh *wh = w->wh < s->whs_n ? s->whs[w->wh] : NULL;
    if (wh == NULL && w->level > LA_ID) {
        w->level = LA_DONE;
        return;
    }
    switch (w->level) {
    case LA_SLOT:
        st_intern_prefetch(&s->intern, w->hash);
        break;
    case LA_ID: {
        w->id = st_intern_peek(&s->intern, w->hash);
        uint32_t whi = w->id != 0 ? st_find_in(s, &s->wh_index, w->ev->warehouse) : ST_NONE;
        if (whi >= s->whs_n) {
            w->level = LA_DONE;
            return;
        }
        w->wh = whi;
        st_map_prefetch(&s->product_index, w->id);
        break;
    }
    case LA_PRODUCT: {
        __builtin_prefetch(st_intern_str(&s->intern, w->id)); // the compare's bytes
        uint32_t p;
        if (!st_map_get(&s->product_index, w->id, &p) || p >= wh->stock_of_n) {
            w->level = LA_DONE;
            return;
        }
        w->product = p;
        __builtin_prefetch(&wh->stock_of[p]);
        if (p < s->products_n) // the change names the product's sku
            __builtin_prefetch(&s->products[p]);
        break;
    }
    case LA_STOCK:
        if (w->product >= wh->stock_of_n) {
            w->level = LA_DONE;
            return;
        }
        w->stock = wh->stock_of[w->product];
        if (w->stock >= wh->stocks_n) {
            w->level = LA_DONE;
            return;
        }
        __builtin_prefetch(&wh->stocks[w->stock]);
        break;
    case LA_BIN:
        if (w->stock >= wh->stocks_n) {
            w->level = LA_DONE;
            return;
        }
        w->bin = wh->stocks[w->stock].first_bin;
        if (w->bin >= wh->bins_n) {
            w->level = LA_DONE;
            return;
        }
        __builtin_prefetch(&wh->bins[w->bin]);
        break;
    case LA_NEXT_BIN: {
        uint32_t next = w->bin < wh->bins_n ? wh->bins[w->bin].next : ST_NONE;
        if (next < wh->bins_n)
            __builtin_prefetch(&wh->bins[next]);
        break;
    }
    default:
        return;
    }
    w->level++;
}

void
st_lookahead_push(const st_state *s, st_lookahead *la, const st_event *ev)
{
    for (uint32_t k = 0; k < ST_LOOKAHEAD; k++) {
        st_lookahead_walk *w = &la->walk[k];
        if (k != la->next && w->ev != NULL && w->level < LA_DONE)
            walk_step(s, w);
    }
    st_lookahead_walk *w = &la->walk[la->next];
    la->next = (la->next + 1) % ST_LOOKAHEAD;
    *w = (st_lookahead_walk){.ev = ev, .wh = ST_NONE, .level = LA_DONE};
    if (ev == NULL)
        return;
    const char *sku = ev->kind == ST_EV_MOVEMENT ? ev->u.movement.sku
                      : ev->kind == ST_EV_COUNT  ? ev->u.count.sku
                                                 : NULL;
    size_t len = sku != NULL ? strnlen(sku, ST_ID_LEN_MAX + 1) : 0;
    if (len == 0 || len > ST_ID_LEN_MAX)
        return;
    w->hash = st_intern_hash_of(sku, len);
    w->level = LA_SLOT;
    walk_step(s, w);
}
