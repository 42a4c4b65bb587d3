/*
 * Internals shared by the log service files: ctlog.c (subsystem, config,
 * in-process submitter, log list), log.c (keys and tree state, pool,
 * sequencer), db.c (every SQL statement) and api.c (HTTP routes, JSON).
 */
#ifndef CT_CTLOG_INTERNAL_H
#define CT_CTLOG_INTERNAL_H

#include <uv.h>

#include "core/services.h"
#include "core/subsystem.h"
#include "ctlog/ctlog.h"

#define CT_MAX_LOGS 8
/* Entries returned by one get-entries call. */
#define CT_MAX_GET_ENTRIES 256

struct ct_service;
struct tb_http_request;

/* What a submission came to, handed to its submitter's callback. */
struct ct_result {
	int status;                  /* 0, or TB_ERR_STATE (pool full, overloaded), TB_ERR_CANCELED
					(stopping), TB_ERR_STORE, a validation error... */
	struct tb_buf sct;           /* the serialized SCT when status is 0; valid during the call */
	const char *why;             /* a one-line reason for an error, or NULL */
};

/*
 * Completes a submission; called exactly once, on the loop thread. The
 * sequencer knows nothing of who is waiting (an HTTP client in api.c, the
 * CA in ctlog.c): it only calls this.
 */
typedef void (*ct_done_cb)(void *ctx, const struct ct_result *result);

/* Someone waiting for the SCT of a pending entry. */
struct ct_waiter {
	ct_done_cb done;
	void *ctx;
	struct ct_waiter *next;
};

/* A validated submission waiting in the pool, then in a batch. */
struct ct_pending {
	uint8_t dedup_key[CT_HASH_LEN];
	struct ct_validated v;        /* borrows from chain */
	struct ct_chain chain;        /* owns the submitted DER */
	struct ct_waiter *waiters;
	/* set when sequenced (on the thread pool) */
	uint64_t index;
	uint64_t timestamp;
	struct tb_bytes ext;          /* CtExtensions with leaf_index */
	struct tb_bytes tile_leaf;    /* TileLeaf */
	uint8_t leaf_hash[CT_HASH_LEN];
	struct tb_bytes sct;          /* serialized SCT */
	struct tb_bytes sct_sig;      /* DER signature inside it */
};

/* A tile written by a batch. */
struct ct_tile_out {
	int level;
	uint64_t index;
	unsigned width;
	uint8_t *data;
};

/* One sequenced batch: sealed on the loop, computed on the thread pool, committed as one store job. */
struct ct_batch {
	uv_work_t work;
	struct ct_log *log;
	struct ct_pending **items;
	size_t n;
	uint64_t old_size, new_size, timestamp;
	struct ct_edge *edge;             /* the tree's right edge after the batch */
	struct ct_tile_out *tiles;        /* tiles the batch completes or extends */
	size_t n_tiles, cap_tiles;
	uint8_t root[CT_HASH_LEN];
	struct tb_bytes sth_sig, note;    /* signed tree head (DER) and checkpoint */
	int err;
};

struct ct_db;

/* Full tiles never change: the most requested ones are kept in memory. */
#define CT_TILE_CACHE 64
#define CT_TILE_CACHE_BYTES (32u << 20)

struct ct_cached_tile {
	int level;          /* CT_TILE_DATA for data tiles */
	uint64_t index;
	struct tb_bytes data; /* len 0: free slot */
	uint64_t used;      /* LRU clock */
};

struct ct_log {
	struct ct_service *svc;
	char name[64];
	char origin[CT_MAX_ORIGIN + 1];
	char sub_url[512], mon_url[512];  /* with trailing slash */
	char sub_path[256], mon_path[256]; /* URL paths, with trailing slash */
	int mmd;
	struct ct_policy policy;
	struct ct_roots *roots;
	const cJSON *cfg;

	struct tb_pkey *key;
	uint8_t log_id[CT_HASH_LEN];
	struct tb_bytes spki;

	/* the published tree */
	uint64_t size;
	uint8_t root[CT_HASH_LEN];
	uint64_t sth_timestamp;
	struct tb_bytes sth_sig;          /* DER */
	struct tb_bytes checkpoint;       /* signed note */
	struct ct_edge *edge;

	/* submissions */
	struct ct_pending **pool;
	size_t n_pool;
	struct ct_batch *inflight;
	uv_timer_t timer;
	uint64_t last_timestamp;
	uint64_t last_seal;               /* loop time (ms) the last batch was sealed */
	size_t validating;                /* submissions on the thread pool */

	struct ct_db *db;                 /* reader statements (db.c; loop thread) */

	struct tb_ct_submitter submitter;

	struct ct_cached_tile cache[CT_TILE_CACHE];
	size_t cache_bytes;
	uint64_t cache_clock;

	/* counters for metrics and the benchmark */
	uint64_t n_submitted, n_sequenced, n_dedup, n_rejected, n_full;
};

struct ct_service {
	struct tb_core *core;
	int enabled;
	uint64_t period_ms;
	size_t pool_size;
	struct ct_log logs[CT_MAX_LOGS];
	size_t n_logs;
	struct ct_external *external[CT_MAX_LOGS]; /* remote logs (external.c) */
	size_t n_external;
	int stopping;
	tb_done_cb stop_done;
	void *stop_arg;
	int closing_timers;
};

/* log.c: keys and tree state at open, the pool and the sequencer */
int ct_log_open(struct ct_log *log);          /* statements, key, tree state, pool */
void ct_log_close(struct ct_log *log);        /* statements and memory */
int ct_log_start(struct ct_log *log);         /* the sequencing timer */
/* Stopping: entries not yet sequenced got no SCT; their submitters are told to retry (TB_ERR_CANCELED). */
void ct_log_cancel_pool(struct ct_log *log);
/*
 * Takes the chain (always) and validates it on the thread pool, then pools
 * it or answers from dedup. On 0, done(ctx, result) will run exactly once,
 * later; on an error (pool full: TB_ERR_STATE, stopping: TB_ERR_CANCELED)
 * it never runs and the caller answers.
 */
int ct_log_submit(struct ct_log *log, struct ct_chain *chain, int precert, ct_done_cb done,
	void *ctx);

/* db.c: every SQL statement of the log */
extern const struct tb_migration ct_migrations[];
int ct_db_open(struct ct_log *log);           /* prepares the reader statements */
void ct_db_close(struct ct_log *log);
/* Reads hash tiles from the store (ct_tile_read_fn; arg is the ct_log). */
int ct_db_read_tile(void *log, int level, uint64_t index, unsigned width, uint8_t *out);
/* Appends the TileLeafs [start, start+count) to out (TB_ERR_NOT_FOUND if one is missing). */
int ct_db_read_leaves(struct ct_log *log, uint64_t start, uint64_t count, struct tb_bytes *out);
/* Index of the first entry with that leaf hash (TB_ERR_NOT_FOUND). */
int ct_db_find_hash(struct ct_log *log, const uint8_t hash[CT_HASH_LEN], uint64_t *index);
/* Issuer DER by fingerprint (TB_ERR_NOT_FOUND). */
int ct_db_read_issuer(struct ct_log *log, const uint8_t fp[CT_HASH_LEN], struct tb_bytes *out);
/* The SCT already issued for this dedup key (TB_ERR_NOT_FOUND). */
int ct_db_read_dedup(struct ct_log *log, const uint8_t key[CT_HASH_LEN], struct tb_bytes *sct);
/* The log's private key DER (TB_ERR_NOT_FOUND on first start), and storing a new one (synchronous). */
int ct_db_load_key(struct ct_log *log, struct tb_bytes *der);
int ct_db_put_key(struct ct_log *log, struct tb_buf der);
/* The stored tree head into log->size, root, sth_timestamp, sth_sig; *found 0 when none. */
int ct_db_load_checkpoint(struct ct_log *log, int *found);
/* Stores log's current tree head (synchronous; the empty tree at first start). */
int ct_db_put_checkpoint(struct ct_log *log);
/* Queues the batch as one store job (entries, issuers, dedup rows, tiles, checkpoint); done on the loop. */
int ct_db_write_batch(struct ct_batch *b, void (*done)(int status, void *batch));

/* ctlog.c: the subsystem (config, start and stop), the in-process submitter, the log list */
void ct_service_check_stopped(struct ct_service *svc);
/* The v3 log list of every log served. */
cJSON *ct_loglist_json(struct ct_service *svc);

/* admin.c: the admin API's /api/v1/ct routes (once for the service, every listener) */
int ct_admin_register(struct ct_service *svc);

/* api.c */
int ct_api_register(struct ct_log *log);
/* Base64 of bytes as a JSON string (never NULL unless out of memory), and added under a name. */
cJSON *ct_json_b64(const void *p, size_t n);
void ct_json_add_b64(cJSON *o, const char *name, const void *p, size_t n);

#endif
