/*
 * The DAP service's internals, shared by its files:
 *   service.c  the subsystem: configuration, the demo task, lifecycle
 *   task.c     task records: JSON <-> struct dap_task, checks, the VDAF
 *   db.c       storage: the only file with SQL (tasks, HPKE keys, reports)
 *   upload.c   the leader's upload pipeline (no HTTP: completes a callback)
 *   api.c      the HTTP face: route tables, media types, problem documents
 *
 * One process holds one or two aggregators (struct dap_aggregator): the
 * leader under /dap/leader/ and the helper under /dap/helper/, each with its
 * own task records and HPKE keys, as if they were two organisations.
 */
#ifndef DAP_INTERNAL_H
#define DAP_INTERNAL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/http.h"
#include "core/store.h"
#include "core/subsystem.h"
#include "dap/hpke.h"
#include "dap/messages.h"
#include "dap/vdaf.h"

#define DAP_MAX_URL 512
#define DAP_MAX_TOKEN 256          /* an auth token's length */
#define DAP_MAX_HPKE_KEYS 16       /* HPKE configs per aggregator (rotation) */
#define DAP_MAX_TASK_CACHE 4096    /* task records kept in memory per aggregator */
#define DAP_MAX_COLLECTOR_CONFIG 512
/*
 * An AggregationJobInitReq body at the helper. Bodies are read before the
 * token is checked, so this bounds what an unauthenticated peer can make the
 * helper buffer; a Prio3 PrepareInit is a few hundred bytes to a few KiB
 * (the helper's share is seeds), so max_aggregation_job_size jobs fit.
 */
#define DAP_MAX_AGG_JOB_BODY (16u << 20)

/* Which of the two aggregators of this process. */
enum dap_agg_kind {
	DAP_AGG_LEADER = 0,
	DAP_AGG_HELPER = 1,
};

/* A task as one aggregator knows it. Secrets (verify key, tokens) stay out of logs. */
struct dap_task {
	uint8_t id[DAP_TASK_ID_LEN];
	enum dap_agg_kind role;           /* this aggregator's role in the task */
	const char *vdaf_name;            /* "count", "sum", "sumvec", "histogram" */
	enum dap_vdaf_type vdaf_type;
	struct dap_vdaf_params params;
	struct dap_vdaf vdaf;
	uint8_t query_type;               /* DAP_QUERY_TIME_INTERVAL or _FIXED_SIZE */
	uint64_t max_batch_size;          /* fixed_size; 0 = none */
	uint64_t min_batch_size;
	uint64_t max_batch_query_count;
	uint64_t time_precision;          /* seconds */
	uint64_t task_expiration;         /* Unix seconds; 0 = never */
	uint64_t tolerable_clock_skew;    /* seconds */
	uint64_t report_expiry_age;       /* seconds; 0 = reports never expire */
	uint8_t verify_key[DAP_PRIO3_VERIFY_KEY_SIZE];
	char leader_url[DAP_MAX_URL];
	char helper_url[DAP_MAX_URL];
	char aggregator_auth_token[DAP_MAX_TOKEN];
	char collector_auth_token[DAP_MAX_TOKEN];
	uint8_t collector_config[DAP_MAX_COLLECTOR_CONFIG]; /* encoded HpkeConfig; len 0 = none */
	size_t collector_config_len;
	double dp_epsilon;                /* 0 = no noise */
	/* The task's own HPKE key (DAP-09 4.3.1: hpke_config?task_id= answers it), plain
	 * data so that a task copies by value; the aggregator's keys still decrypt. */
	int own_hpke_key;                 /* the record asks for one (made at provisioning) */
	int has_own_key;                  /* own_kp and own_config_id hold it */
	uint8_t own_config_id;
	struct dap_hpke_keypair own_kp;   /* X25519 */
	/* cache state (service.c), not task parameters */
	uint64_t checked_ms;              /* loop time the store last confirmed the task */
	int deleted;                      /* gone from the store (deleted by another process) */
};

/* One HPKE key of an aggregator. */
struct dap_hpke_key {
	struct dap_hpke_config config;    /* public_key borrows pk below */
	struct dap_hpke_keypair kp;
	uint8_t pk[DAP_HPKE_MAX_PK_LEN];
	int active;                       /* announced in hpke_config; inactive keys still open */
};

struct dap_service;

struct dap_aggregator {
	struct dap_service *svc;
	enum dap_agg_kind kind;
	const char *name;                 /* "leader" or "helper": store key and URL segment */
	char base_url[DAP_MAX_URL];       /* https://host:port/dap/<name>/ */
	char prefix[64];                  /* /dap/<name>/ */
	struct dap_hpke_key keys[DAP_MAX_HPKE_KEYS];
	size_t n_keys;
	struct tb_bytes config_list;      /* encoded HpkeConfigList of the active keys */
	uint64_t keys_read_ms;            /* uv_now of the last read of the keys */
	struct dap_task **tasks;          /* known tasks (cache of the store) */
	size_t n_tasks;
	struct tb_http_route_def routes[8]; /* this aggregator's route table (api.c) */
	struct tb_http_table table;
};

struct dap_service {
	struct tb_core *core;
	const cJSON *cfg;                 /* the dap section */
	int run_leader, run_helper;
	struct dap_aggregator agg[2];
	const char *listener;             /* HTTPS listener the routes are mounted on */
	char public_base[DAP_MAX_URL];    /* https://host:port the aggregators' URLs start with */
	const cJSON *listener_cfg;        /* its listen entry */
	int ephemeral_base;               /* port 0, no public_url: the base waits for the bound port */
	size_t max_upload_bytes;
	size_t max_job_size;              /* reports per aggregation job */
	uint64_t aggregation_period_ms;   /* leader: how often pending reports are grouped */
	char *helper_ca_pem;              /* leader: roots the helper's certificate must chain to */
	uv_timer_t timer;                 /* leader: the aggregation job driver */
	int timer_on;
	struct dap_flow *job;             /* leader: the job in flight, or NULL */
	unsigned backoff;                 /* leader: failed attempts in a row */
	uint8_t backoff_task[DAP_TASK_ID_LEN]; /* leader: the task whose job failed last */
	uint64_t backoff_until;           /* leader: uv_now before which that task waits */
	int demo_task;
	int interop_api;                  /* serve /internal/test/ (draft-dcook-ppm-dap-interop-test-design) */
	enum { DAP_INTEROP_AGGREGATOR, DAP_INTEROP_CLIENT, DAP_INTEROP_COLLECTOR } interop_role; /* dap.role */
	struct tb_http_route_def interop_routes[4];
	struct tb_http_table interop_table;
	int stopping;
	unsigned inflight;                /* store jobs not yet done */
	tb_done_cb stop_done;
	void *stop_arg;
};

/* ---- task.c ---- */

/* The option table of one task (shared by the Lua config and the store's JSON). */
extern const struct tb_option dap_task_options[];
/*
 * Fills t from a task record (the Lua table's cJSON or the stored JSON):
 * every field checked, the VDAF initialised. err names the field.
 */
int dap_task_from_json(const cJSON *j, struct dap_task *t, char *err, size_t errlen);
/* The record as JSON (secrets included: for the store and `task show` only). */
cJSON *dap_task_to_json(const struct dap_task *t);
/* base64url (no padding) of n bytes into out (a NUL-terminated string). */
int dap_b64url(const uint8_t *p, size_t n, char *out, size_t outlen);
/* Gives t a fresh X25519 key of its own, with a config id none of agg's keys has. */
int dap_task_make_key(struct dap_task *t, const struct dap_aggregator *agg);
/* The task's own key as a dap_hpke_key in *out (its config borrows out->pk). */
void dap_task_own_key(const struct dap_task *t, struct dap_hpke_key *out);
/* Decodes base64url into exactly n bytes. */
int dap_unb64url_exact(const char *s, uint8_t *out, size_t n);

/* ---- db.c ---- */

extern const struct tb_migration dap_migrations[];
/* HPKE keys of an aggregator: loaded, or generated (one X25519 key) on first start. */
int dap_db_load_keys(struct dap_aggregator *agg);
/* Reads the keys again (loop thread): another process may have rotated them. */
int dap_db_reload_keys(struct dap_aggregator *agg);
/* Commands: a new key becomes the only announced one (*id its config id); an
 * inactive key is deleted (TB_ERR_NOT_FOUND for an active or unknown one). */
int dap_db_rotate_key(struct dap_aggregator *agg, uint8_t *id);
int dap_db_retire_key(struct dap_aggregator *agg, uint8_t id);
/* Writes a task record for an aggregator (replacing one with the same id). Start-up/CLI. */
int dap_db_put_task_sync(struct tb_store *st, const char *agg, const struct dap_task *t);
/* The same, queued (loop thread): done(status, arg) after the commit. */
int dap_db_put_task(struct tb_store *st, const char *agg, const struct dap_task *t,
		    void (*done)(int status, void *arg), void *arg);
/* Reads a task record from the store (loop thread): 0, TB_ERR_NOT_FOUND or an error. */
int dap_db_get_task(struct tb_store *st, const char *agg, const uint8_t id[DAP_TASK_ID_LEN],
		    struct dap_task *t);
/* Key/value state of the service (the demo task). */
int dap_db_kv_get(struct tb_store *st, const char *key, struct tb_bytes *out);
/* dap_kv key: the public base a running instance bound its port-0 listener to. */
#define DAP_KV_BOUND_BASE "bound_public_base"
void dap_set_public_base(struct dap_service *svc, const char *base);

/*
 * The dap commands' flags: one table per command, parsed by dap_parse_flags.
 * An integer flag takes decimal digits only, within [min, max]; a number
 * flag a finite decimal within [min, max]; a switch takes no value.
 */
enum dap_flag_kind { DAP_FLAG_STRING, DAP_FLAG_INT, DAP_FLAG_NUMBER, DAP_FLAG_SWITCH };
struct dap_flag {
	const char *name;                 /* "--bits" */
	enum dap_flag_kind kind;
	void *dest;                       /* const char **, long long *, double * or int * */
	double min, max;                  /* DAP_FLAG_INT, DAP_FLAG_NUMBER */
};
/* 0; 1 (unknown flag or missing value: the caller shows its usage); 2 (a bad
 * value). Both print a line naming the flag on stderr. */
int dap_parse_flags(const char *cmd, const struct dap_flag *flags, size_t n, int argc, char **argv);
#define DAP_NFLAGS(a) (sizeof(a) / sizeof((a)[0]))
int dap_resolve_public_base(struct dap_service *svc);
int dap_db_kv_put_sync(struct tb_store *st, const char *key, struct tb_buf val);

/* A report as the leader stores it after decrypting its share. */
struct dap_stored_report {
	uint8_t task_id[DAP_TASK_ID_LEN];
	struct dap_report_metadata md;
	struct tb_bytes public_share;
	struct tb_bytes extensions;        /* the leader's PlaintextInputShare extensions list body */
	struct tb_bytes leader_share;      /* the leader's input share (plaintext payload) */
	struct tb_bytes helper_share;      /* the helper's HpkeCiphertext, encoded */
};
/*
 * Queues the insert; done(status) runs on the loop after the commit:
 * 0, TB_ERR_EXISTS for a report id already stored for the task (a replay),
 * or an error. The job owns r (freed after done).
 */
int dap_db_insert_report(struct tb_store *st, struct dap_stored_report *r,
			 void (*done)(int status, void *arg), void *arg);
void dap_stored_report_free(struct dap_stored_report *r);

/* ---- aggregation and collection state (db.c) ---- */

/* One report on its way through an aggregation job (leader or helper). */
struct dap_out_item {
	uint8_t report_id[DAP_REPORT_ID_LEN];
	uint64_t time;
	uint64_t bucket;                   /* batch bucket: time rounded down to time_precision */
	struct tb_bytes public_share;      /* leader: from the store */
	struct tb_bytes input_share;       /* leader: its plaintext input share */
	struct tb_bytes helper_share;      /* leader: the helper's HpkeCiphertext, encoded */
	uint8_t *prep_state;               /* leader: VDAF state between init and the answer */
	uint8_t *out_share;                /* the out share; NULL when the report failed earlier */
	struct tb_bytes outbound;          /* ping-pong message: leader init / helper finish */
	int result;                        /* -1 fine so far, else a PrepareError */
	int done;                          /* scratch of the aggregation */
};

struct dap_flow;
typedef void (*dap_flow_cb)(int status, struct dap_flow *f);

/* An aggregation job in flight, owned by whoever queued it. */
struct dap_flow {
	struct dap_service *svc;
	struct dap_task task;              /* a copy: the cache may change meanwhile */
	uint8_t job_id[DAP_AGG_JOB_ID_LEN];
	uint8_t request_hash[32];          /* SHA-256 of the AggregationJobInitReq */
	struct dap_out_item *items;
	size_t n_items;
	struct tb_bytes request;           /* leader: the encoded request */
	struct tb_bytes response;          /* helper: the encoded response */
	int conflict;                      /* helper: the job id is taken by another request */
	int fixed;                         /* fixed_size: every report goes to batch_id */
	uint8_t batch_id[DAP_BATCH_ID_LEN];
	void *req;                         /* helper: the HTTP request to answer */
	/* Preparation runs on libuv's thread pool: what the worker reads. */
	uv_work_t work;
	int work_rc;
	int resumed;                       /* leader: a job left in flight, sent again */
	struct dap_hpke_key *keys;         /* helper: a copy of its keys (the loop may reload them) */
	size_t n_keys;
	struct tb_buf body;                /* helper: the request body (the request outlives the job) */
	uint64_t now;                      /* helper: the clock at the request */
	size_t n_expected;                 /* helper: PrepareInits in the body */
	dap_flow_cb cb;                    /* helper: the caller's completion */
};
void dap_flow_free(struct dap_flow *f);

/* Sum of the batch buckets in [start, end) of a task on one aggregator. */
struct dap_batch_sum {
	uint8_t *agg_share;                /* v->agg_share_size bytes */
	uint64_t report_count;
	uint8_t checksum[DAP_CHECKSUM_LEN];
	uint64_t max_query_count;
	uint64_t first, last;              /* non-empty buckets: lowest and highest start */
};
void dap_checksum_add(uint8_t checksum[DAP_CHECKSUM_LEN], const uint8_t report_id[DAP_REPORT_ID_LEN]);
int dap_db_batch_read(struct tb_store *st, const char *agg, const struct dap_task *t,
		      uint64_t start, uint64_t end, struct dap_batch_sum *out);
void dap_batch_sum_free(struct dap_batch_sum *b);

int dap_db_get_agg_job(struct tb_store *st, const char *agg, const struct dap_flow *f,
		       struct tb_bytes *hash, struct tb_bytes *response, int *state);
int dap_db_helper_commit(struct tb_store *st, struct dap_flow *f, dap_flow_cb done);
int dap_db_leader_begin(struct tb_store *st, struct dap_flow *f, dap_flow_cb done);
int dap_db_leader_finish(struct tb_store *st, struct dap_flow *f, dap_flow_cb done);
/* Work for the driver, leaving out skip_task (a task in back-off) when not NULL. */
int dap_db_leader_pending_job(struct tb_store *st, const uint8_t *skip_task,
			      uint8_t task_id[DAP_TASK_ID_LEN], uint8_t job_id[DAP_AGG_JOB_ID_LEN],
			      uint8_t batch_id[DAP_BATCH_ID_LEN], int *fixed);
int dap_db_leader_drop_task(struct tb_store *st, const uint8_t task_id[DAP_TASK_ID_LEN]);
/* fixed_size batches (see db.c). */
int dap_db_batch_bucket(struct tb_store *st, const char *agg, const uint8_t *task_id,
			const uint8_t *batch_id, uint64_t *bucket);
int dap_db_open_batch(struct tb_store *st, const uint8_t *task_id, uint64_t max,
		      uint8_t batch_id[DAP_BATCH_ID_LEN], uint64_t *assigned);
int dap_db_current_batch(struct tb_store *st, const uint8_t *task_id, uint64_t min,
			 const uint8_t *busy, uint8_t batch_id[DAP_BATCH_ID_LEN]);
int dap_db_batch_times(struct tb_store *st, const uint8_t *task_id, uint64_t bucket, uint64_t *first,
		       uint64_t *last);
int dap_db_leader_pending_task(struct tb_store *st, const uint8_t *skip_task,
			       uint8_t task_id[DAP_TASK_ID_LEN]);
int dap_db_leader_reports(struct tb_store *st, struct dap_flow *f, int by_job, size_t max);
int dap_db_leader_unaggregated(struct tb_store *st, const uint8_t *task_id, uint64_t start,
			       uint64_t end, uint64_t *n);

int dap_db_bucket_queried(struct tb_store *st, const char *agg, const uint8_t *task_id, uint64_t bucket,
			  uint64_t *count);
typedef void (*dap_db_put_cb)(int status, int conflict, void *arg);
int dap_db_get_collection_job(struct tb_store *st, const uint8_t *task_id, const uint8_t *job_id,
			      struct tb_bytes *request, struct tb_bytes *result, int *state);
int dap_db_collected_intervals(struct tb_store *st, const uint8_t *task_id, uint64_t start,
			       uint64_t end, uint64_t *same, uint64_t *overlap);
/* state 0 creates (conflict reported), 2 stores the result and counts the query, 3 deletes. */
int dap_db_put_collection_job(struct tb_store *st, const uint8_t *task_id, const uint8_t *job_id,
			      struct tb_buf request, int state, struct tb_buf result, uint64_t start,
			      uint64_t end, dap_db_put_cb done, void *arg);
/*
 * A continued aggregation job at the helper (DAP-09 4.5.2): the store job
 * reads the job's row into the fields below, calls decide (helper.c, on the
 * writer thread, no I/O; c->response starts empty), and stores step, request hash and response when
 * decide asks; done runs on the loop after the commit.
 */
struct dap_continue {
	struct dap_service *svc;
	uint8_t task_id[DAP_TASK_ID_LEN];
	uint8_t job_id[DAP_AGG_JOB_ID_LEN];
	struct dap_agg_job_continue_req req;     /* borrows the request body */
	uint8_t request_hash[32];
	/* the stored job, filled before decide */
	int found;
	uint16_t job_step;                       /* the last step processed (0: init) */
	struct tb_bytes init_response;           /* the AggregationJobResp of the init */
	struct tb_bytes last_hash, last_response;/* of the last continue step, if any */
	/* decide's verdict */
	int problem;                             /* -1, a dap_problem, or DAP_CONFLICT */
	const char *detail;
	int store;                               /* write step, hash and response */
	struct tb_bytes response;                /* the answer (200) */
	int (*decide)(struct dap_continue *c);   /* 0, or an error that fails the job */
	void (*done)(int status, struct dap_continue *c);
	void *http_req;
};
int dap_db_helper_continue(struct tb_store *st, struct dap_continue *c);
/* DELETE of an aggregation job at the helper: done(0 or TB_ERR_NOT_FOUND, 0, arg). */
int dap_db_helper_delete_job(struct tb_store *st, const uint8_t *task_id, const uint8_t *job_id,
			     dap_db_put_cb done, void *arg);
int dap_db_get_agg_share_job(struct tb_store *st, const uint8_t *task_id, const uint8_t *hash,
			     struct tb_bytes *response);
int dap_db_put_agg_share_job(struct tb_store *st, const uint8_t *task_id, const uint8_t *hash,
			     struct tb_buf response, uint64_t start, uint64_t end, dap_db_put_cb done,
			     void *arg);

/* ---- the admin API's queries (db.c) ---- */
/* Counts one upload the leader refused before storing it (queued, not awaited). */
int dap_db_count_rejection(struct tb_store *st, const char *agg, const uint8_t *task_id, const char *reason);
/* A task's figures on one aggregator; rejected gets {reason: n} members added. */
int dap_db_task_counts(struct tb_store *st, const char *agg, const uint8_t *task_id, uint64_t *received,
		       uint64_t *aggregated, uint64_t *collected, cJSON *rejected);
/* Its aggregation jobs, batches and (leader) collection jobs, appended to the arrays (500 each at most). */
int dap_db_task_detail(struct tb_store *st, const char *agg, const struct dap_task *t, cJSON *jobs,
		       cJSON *batches, cJSON *collections);
/* Writes the leader's record, the helper's (when not NULL) and the collector credential
 * (when not NULL) in one job; done(status, arg) after the commit. */
int dap_db_create_task(struct tb_store *st, const struct dap_task *leader, const struct dap_task *helper,
		       const char *credential, void (*done)(int status, void *arg), void *arg);
/* Deletes a task's records and credential, queued: done(0 or TB_ERR_NOT_FOUND, arg). */
int dap_db_delete_task(struct tb_store *st, const uint8_t id[DAP_TASK_ID_LEN], void (*done)(int status, void *arg),
		       void *arg);
/* The stored collector credential (JSON) of a task created through the admin API. */
int dap_db_get_credential(struct tb_store *st, const uint8_t id[DAP_TASK_ID_LEN], struct tb_bytes *out);

/* ---- service.c ---- */

/* The task id on this aggregator: cache, then store. NULL when unknown. */
struct dap_task *dap_find_task(struct dap_aggregator *agg, const uint8_t id[DAP_TASK_ID_LEN]);
/* Forgets a task record (after it was deleted from the store). */
void dap_uncache_task(struct dap_aggregator *agg, const uint8_t id[DAP_TASK_ID_LEN]);
/* admin.c: mounts /api/v1/dap/ on every listener (start). */
int dap_admin_mount(struct dap_service *svc);
/* Puts t into agg's cache of task records (after it was stored). */
int dap_cache_task(struct dap_aggregator *agg, const struct dap_task *t);
/* Writes t to agg's records (its role set from agg; empty URLs get this instance's). */
int dap_provision(struct dap_aggregator *agg, struct dap_task *t);
/* The key for an HPKE config id, or NULL. */
const struct dap_hpke_key *dap_find_key(const struct dap_aggregator *agg, uint8_t config_id);
/* The same, after reading the keys again when the last read is older than a second. */
const struct dap_hpke_key *dap_find_key_fresh(struct dap_aggregator *agg, uint8_t config_id);
/*
 * The key that opens a share sealed to config_id for task t: the task's own
 * key (copied into *scratch), else one of the aggregator's (read again when
 * older than a second); NULL when none.
 */
const struct dap_hpke_key *dap_task_find_key(struct dap_aggregator *agg, const struct dap_task *t,
					     uint8_t config_id, struct dap_hpke_key *scratch);
/* Reads the keys again when the last read is older than a second (hpke_config). */
void dap_keys_refresh(struct dap_aggregator *agg);

/* Completes a pending stop once no store job is in flight. */
void dap_service_check_stopped(struct dap_service *svc);

/* ---- upload.c ---- */

#define DAP_PENDING (-1)
#define DAP_STORE_FAILED (-2) /* the store did not commit: 503 with Retry-After */
#define DAP_NOT_FOUND (-3)   /* no such job: 404 */
#define DAP_NOT_READY (-4)   /* a collection job still waits: 202 */
#define DAP_CONFLICT (-5)    /* a job id taken by another request: 409 */
typedef void (*dap_upload_cb)(void *ctx, int problem, const char *detail);
/*
 * The leader's upload of one Report (DAP-09 4.4.2). Returns DAP_PENDING when
 * the report passed every check and is being stored: cb(ctx, -1, NULL) runs
 * after the commit, or cb(ctx, problem, detail) when the store refused it (a
 * replay: reportRejected). Returns a problem (enum dap_problem, >= 0) with
 * *detail set when it is refused at once; cb is then not called. now: Unix
 * seconds.
 */
int dap_leader_upload(struct dap_aggregator *agg, const struct dap_task *task, struct tb_buf body,
		      uint64_t now, dap_upload_cb cb, void *ctx, const char **detail);

/* ---- helper.c ---- */

uint64_t dap_bucket_of(const struct dap_task *t, uint64_t time);
int dap_interval_valid(const struct dap_task *t, const struct dap_interval *iv);
/*
 * Helper: an AggregationJobInitReq. DAP_PENDING: cb(status, f) runs after
 * the commit with f->response (or f->conflict), f->req = req.
 * DAP_PROBLEM_COUNT: the job was answered before, stored holds that answer;
 * DAP_CONFLICT: the job id was used for another request; else a problem.
 */
int dap_helper_init_job(struct dap_aggregator *agg, const struct dap_task *t,
			const uint8_t job_id[DAP_AGG_JOB_ID_LEN], struct tb_buf body, uint64_t now,
			dap_flow_cb cb, void *req, struct tb_bytes *stored, const char **detail);
/*
 * Helper: an AggregationJobContinueReq (DAP-09 4.5.2). DAP_PENDING: done(status,
 * c) runs after the commit with c->problem and c->response (c is the
 * caller's, c->http_req set by it); else a problem with *detail.
 */
int dap_helper_continue_job(struct dap_aggregator *agg, const struct dap_task *t,
			    const uint8_t job_id[DAP_AGG_JOB_ID_LEN], struct tb_buf body,
			    struct dap_continue *c, const char **detail);
/*
 * Helper: an AggregateShareReq. DAP_PENDING: cb runs after the commit and
 * response holds the AggregateShare; DAP_PROBLEM_COUNT: response holds the
 * stored answer of the same request; else a problem or an error.
 */
int dap_helper_agg_share(struct dap_aggregator *agg, const struct dap_task *t, struct tb_buf body,
			 dap_db_put_cb cb, void *ctx, struct tb_bytes *response, const char **detail);
/* Noises (dp_epsilon) and seals an encoded aggregate share to the task's collector. */
int dap_seal_agg_share(const struct dap_task *t, uint8_t role, uint8_t *agg_share,
		       const struct dap_batch_selector *bs, struct tb_bytes *out);

/* ---- leader.c ---- */

void dap_leader_start(struct dap_service *svc);
void dap_leader_stop(struct dap_service *svc);
/* Runs the driver soon (reports arrived, a collection waits). */
void dap_leader_kick(struct dap_service *svc);
/*
 * Collection job poll: DAP_PENDING when cb(ctx, status, problem, collection)
 * will run; 202 when the batch is not ready yet; else a problem.
 */
typedef void (*dap_collect_cb)(void *ctx, int problem, const char *detail, struct tb_buf collection);
int dap_leader_collect(struct dap_aggregator *agg, const struct dap_task *t,
		       const uint8_t job_id[DAP_COLLECTION_JOB_ID_LEN], dap_collect_cb cb, void *ctx,
		       struct tb_bytes *result, const char **detail);

/* The task commands: every record (of agg, or all; of one task id, or all). */
int dap_db_list_tasks(struct tb_store *st, const char *agg, const uint8_t *only,
		      void (*fn)(const char *agg, const char *record, void *arg), void *arg);
int dap_db_delete_task_sync(struct tb_store *st, const uint8_t id[DAP_TASK_ID_LEN]);

/* ---- cli.c ---- */

int dap_task_command(struct dap_service *svc, int argc, char **argv);
/*
 * A new task, as `trustbox dap task create` and the admin API make it (cli.c):
 * fresh id, verify key, tokens and collector HPKE key; params holds the
 * record's other fields (vdaf, bits, query, time_precision...). helper:
 * another instance's helper URL (and helper_token its aggregator token), or
 * NULL for this instance's. Nothing is stored. err says what is wrong
 * (TB_ERR_INVALID: the caller's input).
 */
struct dap_new_task {
	char id[64];
	struct dap_task leader, helper;   /* both records, URLs filled */
	int local_helper;                 /* the helper half is this instance's */
	struct dap_hpke_config config;    /* the collector's */
	struct dap_hpke_keypair kp;
	char collector_token[64];
};
int dap_task_new(struct dap_service *svc, const cJSON *params, const char *helper, const char *helper_token,
		 struct dap_new_task *n, char *err, size_t errlen);
/* What `task create` prints of it (no secrets): id, URLs, VDAF, query, divviup_ts params. */
cJSON *dap_task_new_json(const struct dap_new_task *n);
/* The Task parameters of @divviup/dap's `new Task({...})` for t. */
cJSON *dap_divviup_ts_params(const struct dap_task *t);
/* divviup's collector_credential.json for a collector key and token (malloc'd; wipe and free). */
char *dap_credential_json(const struct dap_hpke_config *c, const struct dap_hpke_keypair *kp, const char *token);
int dap_key_command(struct dap_service *svc, int argc, char **argv);
/* Writes divviup's collector_credential.json for a key pair and token. */
int dap_write_credential(const char *path, const struct dap_hpke_config *c,
			 const struct dap_hpke_keypair *kp, const char *token);

/* ---- collector.c ---- */

int dap_collect_command(struct dap_service *svc, int argc, char **argv);
/* The collector credential: its HPKE config and key pair, and the bearer token. */
struct dap_collector_cred {
	struct dap_hpke_config config;
	struct dap_hpke_keypair kp;
	char token[DAP_MAX_TOKEN];
};
/* divviup's collector_credential.json -> cred (wipe it after use). */
int dap_credential_parse(const char *text, size_t len, struct dap_collector_cred *c);
/* The collection job's URL at the leader (PUT creates it, POST polls it). */
void dap_collect_url(const char *leader, const char *task_id, const char *job_id, struct tb_bytes *url);
/* Opens and unshards a Collection for the query cr; out gets the JSON `dap collect` prints. */
int dap_collect_open(const struct dap_task *t, const struct dap_collector_cred *cred,
		     const struct dap_collection_req *cr, const struct dap_collection *col, struct tb_bytes *out);
int dap_upload_command(struct dap_service *svc, int argc, char **argv);

/* ---- api.c ---- */

int dap_api_mount(struct dap_aggregator *agg);

/* ---- interop.c ---- */

/* The interop test API's aggregator endpoints under /internal/test/ (dap.interop_api). */
int dap_interop_mount(struct dap_service *svc);
void dap_interop_free(void);
void dap_interop_stop(void);
/* The client role's upload body as `trustbox dap upload` arguments (exposed for fuzzing). */
struct dap_interop_upload {
	char *args[32];
	int n;
	char flags[128], tbuf[32], pbuf[32], meas[1024];
};
const char *dap_interop_upload_argv(const cJSON *j, struct dap_interop_upload *u);
/* `trustbox dap collect`'s JSON output as the collector role's completed poll answer. */
cJSON *dap_interop_collection_json(const char *text, size_t len);
/* `trustbox dap interop ROLE ...`: the draft's container entry point. */
int dap_interop_command(int argc, char **argv);
/* An add_task request body (parsed) as a task record for dap_task_from_json, or NULL with err. */
cJSON *dap_interop_task_record(const cJSON *j, char *err, size_t errlen);

#endif
