/* See history_sessions.h: the standbys and the leader of a PostgreSQL run
 * history, kept for a second so that `status` answers from memory. */
#include "history_sessions.h"

#include <stdlib.h>

#include "standby.h"
#include "util.h"

struct dagd_history_sessions {
    struct dagd_store *store;
    struct dagd_history_listing listing;
    bool valid;
    uint64_t read_usec; /* when the listing was read (monotonic) */
};

struct dagd_history_sessions *dagd_history_sessions_new(struct dagd_store *store)
{
    struct dagd_history_sessions *h = dagd_xcalloc(1, sizeof(*h));
    h->store = store;
    return h;
}

void dagd_history_sessions_forget(struct dagd_history_sessions *h)
{
    free(h->listing.standbys);
    h->listing = (struct dagd_history_listing){0};
    h->valid = false;
}

struct dagd_history_sessions *dagd_history_sessions_free(struct dagd_history_sessions *h)
{
    if (h) {
        dagd_history_sessions_forget(h);
        free(h);
    }
    return NULL;
}

const struct dagd_history_listing *dagd_history_sessions_get(struct dagd_history_sessions *h,
                                                             bool with_leader, uint64_t now_usec)
{
    if (h->valid && now_usec - h->read_usec < DAGD_HISTORY_SESSIONS_MAX_AGE_USEC &&
        (h->listing.has_leader || !with_leader)) {
        return &h->listing;
    }
    dagd_history_sessions_forget(h);
    struct dagd_history_listing *l = &h->listing;
    l->standbys_r = dagd_store_history_standbys(h->store, DAGD_STANDBY_APP_PREFIX, &l->standbys,
                                                &l->n_standbys);
    if (with_leader) {
        l->has_leader = true;
        l->leader_r = dagd_store_history_leader(h->store, &l->leader);
    }
    /* A failure is kept for the second too: while the server is away a
     * `status` a second does not ask it again each time. */
    h->valid = true;
    h->read_usec = now_usec;
    return l;
}
