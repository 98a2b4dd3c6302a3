/* ixmem.c -- index memory budget and LRU (ixmem.h).
 *
 * A doubly linked list, most recently used at the head, and a running
 * total, under one mutex.  ixmem_enforce picks the victim under the mutex,
 * takes a reference (ops->ref) so the owner cannot be freed, drops the
 * mutex and calls ops->evict: eviction may write a snapshot, which must
 * not stall every other partition's bookkeeping.  An entry that declines
 * is stamped with the round number and skipped for the rest of the round,
 * so a round ends after at most one attempt per entry.
 */
#include "ixmem.h"

#include <pthread.h>
#include <stdlib.h>

#include "log.h"
#include "util.h"

struct ixmem {
	pthread_mutex_t mu;
	pthread_mutex_t enforce_mu; /* one enforcer at a time */
	ixmem_ent *head, *tail;
	uint64_t budget, bytes, peak, loaded, loads, evictions, round;
	bool warned_single;
};

ixmem *
ixmem_create(uint64_t budget)
{
	ixmem *m = xcalloc(1, sizeof *m);

	m->budget = budget;
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->enforce_mu, NULL);
	return m;
}

void
ixmem_destroy(ixmem *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->enforce_mu);
	free(m);
}

/* Caller holds mu. */
static void
unlink_ent(ixmem *m, ixmem_ent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		m->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		m->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
push_front(ixmem *m, ixmem_ent *e)
{
	e->prev = NULL;
	e->next = m->head;
	if (m->head)
		m->head->prev = e;
	m->head = e;
	if (m->tail == NULL)
		m->tail = e;
}

void
ixmem_loaded(ixmem *m, ixmem_ent *e, uint64_t bytes)
{
	pthread_mutex_lock(&m->mu);
	if (e->linked) { /* replaced (a rebuild): not a new load */
		m->bytes -= e->bytes;
		unlink_ent(m, e);
	} else {
		m->loaded++;
		m->loads++;
	}
	e->linked = true;
	e->bytes = bytes;
	m->bytes += bytes;
	if (m->bytes > m->peak)
		m->peak = m->bytes;
	push_front(m, e);
	pthread_mutex_unlock(&m->mu);
}

void
ixmem_touch(ixmem *m, ixmem_ent *e)
{
	pthread_mutex_lock(&m->mu);
	if (e->linked && m->head != e) {
		unlink_ent(m, e);
		push_front(m, e);
	}
	pthread_mutex_unlock(&m->mu);
}

void
ixmem_resize(ixmem *m, ixmem_ent *e, uint64_t bytes)
{
	pthread_mutex_lock(&m->mu);
	if (e->linked) {
		m->bytes = m->bytes - e->bytes + bytes;
		e->bytes = bytes;
		if (m->bytes > m->peak)
			m->peak = m->bytes;
	}
	pthread_mutex_unlock(&m->mu);
}

void
ixmem_unloaded(ixmem *m, ixmem_ent *e, bool evicted)
{
	pthread_mutex_lock(&m->mu);
	if (e->linked) {
		unlink_ent(m, e);
		m->bytes -= e->bytes;
		m->loaded--;
		e->linked = false;
		e->bytes = 0;
		if (evicted)
			m->evictions++;
	}
	pthread_mutex_unlock(&m->mu);
}

bool
ixmem_over(ixmem *m)
{
	bool over;

	pthread_mutex_lock(&m->mu);
	over = m->budget > 0 && m->bytes > m->budget;
	pthread_mutex_unlock(&m->mu);
	return over;
}

/* Evicts until bytes + extra <= budget.  keep_head: never the MRU entry. */
static unsigned
evict_until(ixmem *m, uint64_t extra, bool keep_head)
{
	unsigned evicted = 0;
	uint64_t round;

	if (m->budget == 0)
		return 0;
	pthread_mutex_lock(&m->enforce_mu);
	pthread_mutex_lock(&m->mu);
	round = ++m->round;
	for (;;) {
		ixmem_ent *v = NULL;

		if (m->bytes + extra <= m->budget || m->loaded == 0)
			break;
		if (keep_head && m->loaded <= 1) {
			if (!m->warned_single)
				log_warn("index memory: one partition of %llu bytes exceeds the budget "
					 "of %llu bytes; keeping it loaded",
				    (unsigned long long)m->bytes, (unsigned long long)m->budget);
			m->warned_single = true;
			break;
		}
		for (ixmem_ent *e = m->tail; e != NULL; e = e->prev)
			if (e->round != round && (!keep_head || e != m->head)) {
				v = e;
				break;
			}
		if (v == NULL)
			break; /* every candidate declined this round */
		v->round = round;
		v->ops->ref(v);
		pthread_mutex_unlock(&m->mu);
		bool ok = v->ops->evict(v); /* calls ixmem_unloaded */
		v->ops->unref(v);
		pthread_mutex_lock(&m->mu);
		if (ok)
			evicted++;
	}
	pthread_mutex_unlock(&m->mu);
	pthread_mutex_unlock(&m->enforce_mu);
	return evicted;
}

unsigned
ixmem_enforce(ixmem *m)
{
	return evict_until(m, 0, true);
}

unsigned
ixmem_make_room(ixmem *m, uint64_t bytes)
{
	return evict_until(m, bytes, false);
}

void
ixmem_get_stats(ixmem *m, ixmem_stats *out)
{
	pthread_mutex_lock(&m->mu);
	out->budget = m->budget;
	out->bytes = m->bytes;
	out->peak_bytes = m->peak;
	out->loaded = m->loaded;
	out->loads = m->loads;
	out->evictions = m->evictions;
	pthread_mutex_unlock(&m->mu);
}
