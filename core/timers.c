// timers.c - what happens because time passed: reservations expire, devices
// fall silent, shipments run late. Time enters core only as a tick entry
// (ST_EV_TICK) that a worker accepting writes puts in its own log when
// st_state_tick_due says one of a warehouse's timers is due; applying the
// tick does what is due at its event_time_ms. Being in the log, a replica,
// a replay and a what-if simulation see the same expiries and alerts.
//
// Each alert fires once: a mark on the twin (st_device.flags, st_po.flags,
// st_xfer.delayed) says it was raised, and is cleared when the device
// reports again or the purchase order gets a new eta. A tick does at most
// what one apply's output holds; what is left stays due, and the next tick
// takes it.
//
// Thread: the state's owner.
#include "core/apply.h"
#include "core/assert.h"

// Room a tick leaves for the LOW_STOCK re-evaluation of the records it
// touched (st_state_finish); an expiry only raises available, but the room
// is kept all the same.
#define TICK_ALERTS_MAX (ST_APPLY_ALERTS_MAX - ST_APPLY_CHANGES_MAX)

void
st_device_heard(st_device *d, int64_t at)
{
    if (at > d->last_seen_ms) {
        d->last_seen_ms = at;
        d->flags &= ~(uint32_t)ST_DEV_SILENT;
    }
}

static bool
resv_due(const st_resv *r, int64_t now)
{
    return r->expires_at_ms > 0 && r->expires_at_ms <= now;
}

// dev_heard: when a device last reported; one never heard from counts from
// its registration.
static int64_t
dev_heard(const st_device *d)
{
    return d->last_seen_ms != ST_TIME_NONE ? d->last_seen_ms : d->last_event_ms;
}

static bool
dev_due(const st_device *d, int64_t now, int64_t silent_ms)
{
    int64_t heard = dev_heard(d);
    return silent_ms > 0 && !(d->flags & ST_DEV_SILENT) && heard != ST_TIME_NONE && heard >= 0 &&
           now - heard >= silent_ms;
}

static bool
po_due(const st_po *p, int64_t now)
{
    return !(p->flags & ST_PO_DELAYED) && p->eta_ms > 0 && p->eta_ms <= now && p->received < p->qty;
}

// Only the destination's record raises: that is where the goods are awaited.
static bool
xfer_due(const st_xfer *x, int64_t now)
{
    return x->inbound && !x->done && !x->delayed && x->eta_ms > 0 && x->eta_ms <= now;
}

bool
st_state_tick_due(const st_state *s, uint32_t i, int64_t now_ms, int64_t device_silent_ms)
{
    ST_ASSERT(s != NULL);
    if (i >= s->whs_n)
        return false;
    const st_wh *wh = s->whs[i];
    for (uint32_t k = 0; k < wh->resvs_n; k++)
        if (resv_due(&wh->resvs[k], now_ms))
            return true;
    for (uint32_t k = 0; k < wh->devs_n; k++)
        if (dev_due(&wh->devs[k], now_ms, device_silent_ms))
            return true;
    for (uint32_t k = 0; k < wh->pos_n; k++)
        if (po_due(&wh->pos[k], now_ms))
            return true;
    for (uint32_t k = 0; k < wh->xfers_n; k++)
        if (xfer_due(&wh->xfers[k], now_ms))
            return true;
    return false;
}

// expire_reservations gives back what every reservation past its expiry
// holds. Backwards, because removing one moves the last into its place.
static void
expire_reservations(st_state *s, int64_t now)
{
    st_wh *wh = s->wh;
    for (uint32_t k = wh->resvs_n; k-- > 0 && s->touched_n < ST_APPLY_CHANGES_MAX;) {
        st_resv *r = &wh->resvs[k];
        if (!resv_due(r, now))
            continue;
        uint32_t stock = r->stock;
        st_ext_get(wh, stock)->reserved -= r->qty;
        st_resv_remove(s, k);
        st_touch(s, stock);
    }
}

st_err
st_apply_tick(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_TICK && s->wh != NULL);
    const st_event *ev = s->ev;
    int64_t now = ev->event_time_ms, silent_ms = ev->u.tick.device_silent_ms;
    st_err err = st_check_range(s, "device_silent_ms", silent_ms, 0, ST_SILENT_MS_MAX);
    if (err)
        return err;
    // Accepted from here on.
    st_wh *wh = s->wh;
    expire_reservations(s, now);
    for (uint32_t k = 0; k < wh->devs_n && s->out->alert_count < TICK_ALERTS_MAX; k++) {
        st_device *d = &wh->devs[k];
        if (!dev_due(d, now, silent_ms))
            continue;
        d->flags |= ST_DEV_SILENT;
        st_alert_raise(s, ST_ALERT_DEVICE_SILENT, ST_NONE, d->bound, k, silent_ms,
                       now - dev_heard(d));
    }
    for (uint32_t k = 0; k < wh->pos_n && s->out->alert_count < TICK_ALERTS_MAX; k++) {
        st_po *p = &wh->pos[k];
        if (!po_due(p, now))
            continue;
        p->flags |= ST_PO_DELAYED;
        st_alert_raise_order(s, ST_ALERT_SHIPMENT_DELAYED, wh->stocks[p->stock].product, p->id,
                             p->qty, p->received);
    }
    for (uint32_t k = 0; k < wh->xfers_n && s->out->alert_count < TICK_ALERTS_MAX; k++) {
        st_xfer *x = &wh->xfers[k];
        if (!xfer_due(x, now))
            continue;
        x->delayed = 1;
        st_alert_raise_order(s, ST_ALERT_SHIPMENT_DELAYED, wh->stocks[x->stock].product, x->id,
                             x->qty, 0);
    }
    return ST_OK;
}
