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
	size_t max_upload_bytes;
	int demo_task;
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
/* Decodes base64url into exactly n bytes. */
int dap_unb64url_exact(const char *s, uint8_t *out, size_t n);

/* ---- db.c ---- */

extern const struct tb_migration dap_migrations[];
/* HPKE keys of an aggregator: loaded, or generated (one X25519 key) on first start. */
int dap_db_load_keys(struct dap_aggregator *agg);
/* Writes a task record for an aggregator (replacing one with the same id). Start-up/CLI. */
int dap_db_put_task_sync(struct tb_store *st, const char *agg, const struct dap_task *t);
/* Reads a task record from the store (loop thread): 0, TB_ERR_NOT_FOUND or an error. */
int dap_db_get_task(struct tb_store *st, const char *agg, const uint8_t id[DAP_TASK_ID_LEN],
		    struct dap_task *t);
/* Key/value state of the service (the demo task). */
int dap_db_kv_get(struct tb_store *st, const char *key, struct tb_bytes *out);
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

/* ---- service.c ---- */

/* The task id on this aggregator: cache, then store. NULL when unknown. */
struct dap_task *dap_find_task(struct dap_aggregator *agg, const uint8_t id[DAP_TASK_ID_LEN]);
/* The key for an HPKE config id, or NULL. */
const struct dap_hpke_key *dap_find_key(const struct dap_aggregator *agg, uint8_t config_id);

/* Completes a pending stop once no store job is in flight. */
void dap_service_check_stopped(struct dap_service *svc);

/* ---- upload.c ---- */

#define DAP_PENDING (-1)
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

/* ---- api.c ---- */

int dap_api_mount(struct dap_aggregator *agg);

#endif
