/* Retention; see retention.h. */
#include "retention.h"

#include "store.h"
#include "util.h"

int dagd_retention_prune_batch(struct dagd_store *s, uint64_t older_than_usec, uint64_t now_usec,
                               size_t batch)
{
    if (now_usec == 0) {
        now_usec = dagd_now_wall_usec();
    }
    if (older_than_usec > now_usec) {
        return 0; /* the cutoff is before the epoch: nothing is that old */
    }
    return dagd_store_prune(s, dagd_usec_to_msec(now_usec - older_than_usec),
                            batch ? batch : DAGD_RETENTION_BATCH);
}

int dagd_retention_prune(struct dagd_store *s, uint64_t older_than_usec, uint64_t now_usec,
                         size_t batch, uint64_t *ret_deleted)
{
    uint64_t total = 0;
    int r;

    /* Fix the cutoff once, so runs ending while we prune are not chased. */
    if (now_usec == 0) {
        now_usec = dagd_now_wall_usec();
    }
    do {
        r = dagd_retention_prune_batch(s, older_than_usec, now_usec, batch);
        if (r < 0) {
            return r;
        }
        total += (uint64_t)r;
    } while (r > 0);
    if (ret_deleted) {
        *ret_deleted = total;
    }
    return 0;
}
