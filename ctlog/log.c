/*
 * DESIGN: one log's pool, sequencer and storage, in the shape of Sunlight.
 *
 * Submissions are validated on libuv's thread pool (signature checks are
 * the expensive part), then deduplicated (against the pool, the batch in
 * flight and the ct_dedup table) and pooled. Every `period_ms` the pool
 * becomes one batch, at most one in flight per log (a tick missed while
 * one is in flight is made up for when it commits):
 *
 *   loop:        seal the pool, assign indices and one timestamp
 *   thread pool: encode TileLeafs, hash leaves, sign SCTs, advance a copy
 *                of the tree's right edge (new full tiles + partial tiles),
 *                compute the root, sign the tree head and the checkpoint
 *   writer:      ONE store job: entries, tiles, issuers, dedup rows and the
 *                checkpoint, committed together (synchronous=FULL)
 *   loop:        after the commit only, publish the new tree in memory and
 *                answer every waiting submitter with its SCT
 *
 * A crash anywhere before the commit loses only entries nobody got an SCT
 * for; after it, everything an SCT promises is on disk. On start the tree
 * is rebuilt from the stored checkpoint and tiles, and the root recomputed
 * from the tiles must equal the signed one, or the log refuses to start.
 *
 * Every SQL statement is in db.c; reads (tiles, entries, issuers) use the
 * loop thread's read connection there.
 */
#include "ctlog/ctlog_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"
#include "ctlog/metrics.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	tb_time_now_ts(&ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pending_free(struct ct_pending *p)
{
	if (!p)
		return;
	ct_validated_free(&p->v);
	ct_chain_free(&p->chain);
	tb_bytes_free(&p->ext);
	tb_bytes_free(&p->tile_leaf);
	tb_bytes_free(&p->sct);
	tb_bytes_free(&p->sct_sig);
	free(p);
}

/* Completes a list of waiters with an SCT (status 0) or an error, and frees it. */
static void complete_all(struct ct_waiter *w, int status, struct tb_buf sct, const char *why)
{
	struct ct_result res = { status, status ? TB_BUF(NULL, 0) : sct, status ? why : NULL };
	while (w) {
		struct ct_waiter *next = w->next;
		tb_metric_inc(&ct_m_submissions, w->log_name, w->precert ? "add-pre-chain" : "add-chain",
			ct_metrics_result(status));
		w->done(w->ctx, &res);
		free(w);
		w = next;
	}
}

static void answer_all(struct ct_pending *p, int status, const char *why)
{
	struct ct_waiter *w = p->waiters;
	p->waiters = NULL;
	complete_all(w, status, tb_bytes_buf(&p->sct), why);
}

/* ---- opening: key and tree state --------------------------------------- */

static int load_key(struct ct_log *log)
{
	struct tb_bytes der = { 0 };
	int err = ct_db_load_key(log, &der);
	if (!err)
		err = tb_pkey_parse_private(tb_bytes_buf(&der), &log->key);
	tb_crypto_wipe(der.p, der.len);
	tb_bytes_free(&der);
	if (err != TB_ERR_NOT_FOUND)
		return err;
	/* first start: a new P-256 key, kept in the store */
	err = tb_pkey_generate_ec(TB_CURVE_P256, &log->key);
	if (!err)
		err = tb_pkey_write_private_der(log->key, &der);
	if (!err)
		err = ct_db_put_key(log, tb_bytes_buf(&der));
	tb_crypto_wipe(der.p, der.len);
	tb_bytes_free(&der);
	if (!err)
		TB_INFO("ctlog", "log %s: generated a new ECDSA P-256 key", log->name);
	return err;
}

static int make_note(struct ct_log *log)
{
	struct ct_checkpoint c = { .size = log->size, .timestamp = log->sth_timestamp,
		.signature = tb_bytes_buf(&log->sth_sig) };
	memcpy(c.root, log->root, CT_HASH_LEN);
	struct tb_bytes note = { 0 };
	int err = ct_checkpoint_write(&note, log->origin, log->log_id, &c);
	if (err) {
		tb_bytes_free(&note);
		return err;
	}
	tb_bytes_free(&log->checkpoint);
	log->checkpoint = note;
	return 0;
}

static int load_tree(struct ct_log *log)
{
	int found = 0;
	int err = ct_db_load_checkpoint(log, &found);
	if (err)
		return err;
	if (!found) {
		/* the empty tree, signed once */
		log->size = 0;
		ct_empty_root(log->root);
		log->sth_timestamp = now_ms();
		err = ct_tree_head_sign(log->key, log->sth_timestamp, 0, log->root, &log->sth_sig);
		if (!err)
			err = ct_db_put_checkpoint(log);
		if (err)
			return err;
	}
	if ((err = ct_tree_head_verify(log->key, log->sth_timestamp, log->size, log->root,
		tb_bytes_buf(&log->sth_sig)))) {
		TB_ERROR("ctlog", "log %s: stored tree head does not verify with the log key", log->name);
		return err;
	}
	log->edge = calloc(1, sizeof *log->edge);
	if (!log->edge)
		return TB_ERR_NOMEM;
	if ((err = ct_edge_load(log->edge, log->size, ct_db_read_tile, log))) {
		TB_ERROR("ctlog", "log %s: tiles of tree size %llu missing: %s", log->name,
			(unsigned long long)log->size, tb_strerror(err));
		return err;
	}
	uint8_t root[CT_HASH_LEN];
	if ((err = ct_edge_root(log->edge, root)))
		return err;
	if (memcmp(root, log->root, CT_HASH_LEN) != 0) {
		TB_ERROR("ctlog", "log %s: tiles do not hash to the signed root of size %llu",
			log->name, (unsigned long long)log->size);
		return TB_ERR_STATE;
	}
	log->last_timestamp = log->sth_timestamp;
	return make_note(log);
}

int ct_log_open(struct ct_log *log)
{
	if (ct_db_open(log) != 0)
		return TB_ERR_STORE;
	int err = load_key(log);
	if (!err)
		err = ct_log_id(log->key, log->log_id);
	if (!err)
		err = tb_pkey_write_spki_der(log->key, &log->spki);
	if (!err)
		err = load_tree(log);
	log->pool = calloc(log->svc->pool_size, sizeof *log->pool);
	if (!err && !log->pool)
		err = TB_ERR_NOMEM;
	return err;
}

void ct_log_close(struct ct_log *log)
{
	ct_db_close(log);
	for (size_t i = 0; i < log->n_pool; i++)
		pending_free(log->pool[i]);
	log->n_pool = 0;
	free(log->pool);
	log->pool = NULL;
	free(log->edge);
	log->edge = NULL;
	for (size_t i = 0; i < CT_TILE_CACHE; i++)
		tb_bytes_free(&log->cache[i].data);
	log->cache_bytes = 0;
	tb_pkey_free(log->key);
	log->key = NULL;
	tb_bytes_free(&log->spki);
	tb_bytes_free(&log->sth_sig);
	tb_bytes_free(&log->checkpoint);
	ct_roots_free(log->roots);
	log->roots = NULL;
}

/* ---- sequencing -------------------------------------------------------- */

static void batch_free(struct ct_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		pending_free(b->items[i]);
	free(b->items);
	for (size_t i = 0; i < b->n_tiles; i++)
		free(b->tiles[i].data);
	free(b->tiles);
	free(b->edge);
	tb_bytes_free(&b->sth_sig);
	tb_bytes_free(&b->note);
	free(b);
}

static int collect_tile(void *arg, int level, uint64_t index, unsigned width, const uint8_t *data)
{
	struct ct_batch *b = arg;
	if (b->n_tiles == b->cap_tiles) {
		size_t cap = b->cap_tiles ? 2 * b->cap_tiles : 16;
		struct ct_tile_out *t = realloc(b->tiles, cap * sizeof *t);
		if (!t)
			return TB_ERR_NOMEM;
		b->tiles = t;
		b->cap_tiles = cap;
	}
	struct ct_tile_out *t = &b->tiles[b->n_tiles];
	t->data = malloc((size_t)width * CT_HASH_LEN);
	if (!t->data)
		return TB_ERR_NOMEM;
	memcpy(t->data, data, (size_t)width * CT_HASH_LEN);
	t->level = level;
	t->index = index;
	t->width = width;
	b->n_tiles++;
	return 0;
}

/* Thread pool: everything CPU-bound about a batch. Touches only the batch and the immutable key. */
static void batch_work(uv_work_t *w)
{
	struct ct_batch *b = w->data;
	struct ct_log *log = b->log;
	int err = 0;
	for (size_t i = 0; i < b->n && !err; i++) {
		struct ct_pending *p = b->items[i];
		struct ct_entry e;
		struct ct_sct sct;
		err = ct_extensions_leaf_index(&p->ext, p->index);
		ct_validated_entry(&p->v, &e);
		e.timestamp = p->timestamp;
		e.extensions = tb_bytes_buf(&p->ext);
		if (!err)
			err = ct_tile_leaf_write(&p->tile_leaf, &e);
		if (!err)
			err = ct_entry_leaf_hash(&e, p->leaf_hash);
		if (!err)
			err = ct_sct_sign(log->key, log->log_id, &e, &sct, &p->sct_sig);
		if (!err)
			err = ct_sct_write(&p->sct, &sct);
		if (!err)
			err = ct_edge_append(b->edge, p->leaf_hash, collect_tile, b);
	}
	if (!err)
		err = ct_edge_partials(b->edge, collect_tile, b);
	if (!err)
		err = ct_edge_root(b->edge, b->root);
	if (!err)
		err = ct_tree_head_sign(log->key, b->timestamp, b->new_size, b->root, &b->sth_sig);
	if (!err) {
		struct ct_checkpoint c = { .size = b->new_size, .timestamp = b->timestamp,
			.signature = tb_bytes_buf(&b->sth_sig) };
		memcpy(c.root, b->root, CT_HASH_LEN);
		err = ct_checkpoint_write(&b->note, log->origin, log->log_id, &c);
	}
	b->err = err;
}

static void sequence(uv_timer_t *t);

static void batch_done(int status, void *arg)
{
	struct ct_batch *b = arg;
	struct ct_log *log = b->log;
	log->inflight = NULL;
	if (status == 0) {
		/* durable: publish, then promise */
		log->size = b->new_size;
		memcpy(log->edge, b->edge, sizeof *log->edge);
		memcpy(log->root, b->root, CT_HASH_LEN);
		log->sth_timestamp = b->timestamp;
		tb_bytes_free(&log->sth_sig);
		log->sth_sig = b->sth_sig;
		b->sth_sig = (struct tb_bytes){ 0 };
		tb_bytes_free(&log->checkpoint);
		log->checkpoint = b->note;
		b->note = (struct tb_bytes){ 0 };
		log->n_sequenced += b->n;
		tb_metric_add(&ct_m_entries, (double)b->n, log->name);
		tb_metric_observe(&ct_m_batch_size, (double)b->n, log->name);
		tb_metric_observe(&ct_m_batch_secs, tb_metrics_now() - b->sealed, log->name);
		for (size_t i = 0; i < b->n; i++)
			answer_all(b->items[i], 0, NULL);
		TB_DEBUG("ctlog", "log %s: sequenced %zu entries, tree size %llu", log->name, b->n,
			(unsigned long long)log->size);
	} else {
		TB_ERROR("ctlog", "log %s: batch of %zu entries not committed: %s", log->name, b->n,
			tb_strerror(status));
		for (size_t i = 0; i < b->n; i++)
			answer_all(b->items[i], TB_ERR_STORE, "the log could not store the entry");
	}
	batch_free(b);
	/* a tick skipped while this batch was in flight is made up for at once */
	if (!log->svc->stopping && log->n_pool > 0 &&
		uv_now(log->svc->core->loop) - log->last_seal >= log->svc->period_ms)
		sequence(&log->timer);
	ct_service_check_stopped(log->svc);
}

static void batch_after_work(uv_work_t *w, int status)
{
	struct ct_batch *b = w->data;
	if (status == 0 && b->err == 0)
		status = ct_db_write_batch(b, batch_done);
	else if (status == 0)
		status = b->err;
	if (status)
		batch_done(status, b);
}

static void sequence(uv_timer_t *t)
{
	struct ct_log *log = t->data;
	if (log->inflight || log->n_pool == 0 || log->svc->stopping)
		return;
	struct ct_batch *b = calloc(1, sizeof *b);
	struct ct_pending **fresh = calloc(log->svc->pool_size, sizeof *fresh);
	if (b)
		b->edge = malloc(sizeof *b->edge);
	if (!b || !fresh || !b->edge) {
		if (b)
			free(b->edge);
		free(b);
		free(fresh);
		return; /* try again next period */
	}
	log->last_seal = uv_now(log->svc->core->loop);
	b->sealed = tb_metrics_now();
	b->log = log;
	b->items = log->pool;
	b->n = log->n_pool;
	log->pool = fresh;
	log->n_pool = 0;
	uint64_t ts = now_ms();
	if (ts < log->last_timestamp)
		ts = log->last_timestamp;
	log->last_timestamp = ts;
	b->timestamp = ts;
	b->old_size = log->size;
	b->new_size = log->size + b->n;
	for (size_t i = 0; i < b->n; i++) {
		b->items[i]->index = log->size + i;
		b->items[i]->timestamp = ts;
	}
	memcpy(b->edge, log->edge, sizeof *b->edge);
	b->work.data = b;
	log->inflight = b;
	int err = uv_queue_work(log->svc->core->loop, &b->work, batch_work, batch_after_work);
	if (err) {
		log->inflight = NULL;
		for (size_t i = 0; i < b->n; i++)
			answer_all(b->items[i], TB_ERR_STATE, "the log is overloaded");
		batch_free(b);
	}
}

void ct_log_cancel_pool(struct ct_log *log)
{
	for (size_t k = 0; k < log->n_pool; k++) {
		answer_all(log->pool[k], TB_ERR_CANCELED, "the log is shutting down");
		pending_free(log->pool[k]);
	}
	log->n_pool = 0;
}

int ct_log_start(struct ct_log *log)
{
	uv_timer_init(log->svc->core->loop, &log->timer);
	log->timer.data = log;
	return uv_timer_start(&log->timer, sequence, log->svc->period_ms, log->svc->period_ms);
}

/* ---- submissions ------------------------------------------------------- */

struct submission {
	uv_work_t work;
	struct ct_log *log;
	struct ct_pending *p;
	int precert;
	int err;
	char why[160];
};

static void validate_work(uv_work_t *w)
{
	struct submission *s = w->data;
	s->err = ct_validate_chain(s->log->roots, &s->log->policy, &s->p->chain, s->precert,
		&s->p->v, s->why, sizeof s->why);
}

static struct ct_pending *find_pending(struct ct_log *log, const uint8_t key[CT_HASH_LEN])
{
	for (size_t i = 0; i < log->n_pool; i++)
		if (memcmp(log->pool[i]->dedup_key, key, CT_HASH_LEN) == 0)
			return log->pool[i];
	if (log->inflight)
		for (size_t i = 0; i < log->inflight->n; i++)
			if (memcmp(log->inflight->items[i]->dedup_key, key, CT_HASH_LEN) == 0)
				return log->inflight->items[i];
	return NULL;
}

static void validate_after(uv_work_t *w, int status)
{
	struct submission *s = w->data;
	struct ct_log *log = s->log;
	struct ct_pending *p = s->p;
	log->validating--;
	if (status || log->svc->stopping) {
		answer_all(p, TB_ERR_CANCELED, "the log is shutting down");
	} else if (s->err) {
		log->n_rejected++;
		answer_all(p, s->err, s->why);
	} else {
		memcpy(p->dedup_key, p->v.dedup_key, CT_HASH_LEN);
		struct ct_pending *same = find_pending(log, p->dedup_key);
		struct tb_bytes sct = { 0 };
		if (same) {
			/* join the pending entry: everyone gets the same SCT */
			struct ct_waiter **tail = &same->waiters;
			while (*tail)
				tail = &(*tail)->next;
			*tail = p->waiters;
			p->waiters = NULL;
			log->n_dedup++;
		} else if (ct_db_read_dedup(log, p->dedup_key, &sct) == 0) {
			struct ct_waiter *wt = p->waiters;
			p->waiters = NULL;
			complete_all(wt, 0, tb_bytes_buf(&sct), NULL);
			log->n_dedup++;
		} else if (log->n_pool >= log->svc->pool_size) {
			log->n_full++;
			answer_all(p, TB_ERR_STATE, "the pool is full, retry later");
		} else {
			log->pool[log->n_pool++] = p;
			p = NULL;
		}
		tb_bytes_free(&sct);
	}
	pending_free(p);
	free(s);
	ct_service_check_stopped(log->svc);
}

int ct_log_submit(struct ct_log *log, struct ct_chain *chain, int precert, ct_done_cb done,
	void *ctx)
{
	const char *endpoint = precert ? "add-pre-chain" : "add-chain";
	if (log->svc->stopping) {
		tb_metric_inc(&ct_m_submissions, log->name, endpoint, "error");
		return TB_ERR_CANCELED;
	}
	/* submissions still being validated count against the pool too */
	if (log->n_pool + log->validating >= log->svc->pool_size) {
		log->n_full++;
		tb_metric_inc(&ct_m_submissions, log->name, endpoint, "error");
		return TB_ERR_STATE;
	}
	struct ct_pending *p = calloc(1, sizeof *p);
	struct submission *s = calloc(1, sizeof *s);
	struct ct_waiter *w = calloc(1, sizeof *w);
	if (!p || !s || !w) {
		free(p);
		free(s);
		free(w);
		return TB_ERR_NOMEM;
	}
	w->done = done;
	w->ctx = ctx;
	w->log_name = log->name;
	w->precert = precert;
	log->n_submitted++;
	p->chain = *chain;
	memset(chain, 0, sizeof *chain);
	s->log = log;
	s->p = p;
	s->precert = precert;
	s->work.data = s;
	int err = uv_queue_work(log->svc->core->loop, &s->work, validate_work, validate_after);
	if (err) {
		pending_free(p); /* not taken: the caller answers */
		free(s);
		free(w);
		tb_metric_inc(&ct_m_submissions, log->name, endpoint, "error");
		return TB_ERR_STATE;
	}
	/* from here on the waiter is completed exactly once, from validate_after or a batch */
	p->waiters = w;
	log->validating++;
	return 0;
}
