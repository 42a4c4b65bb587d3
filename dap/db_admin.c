/*
 * DESIGN: the admin API's queries on the DAP store: uploads the leader
 * refused before storing them (counted per task and reason), and the
 * read-only views of a task (its counts, aggregation jobs, batches and
 * collection jobs). Cut from db.c, which holds the protocol's transactions;
 * nothing here shares a transaction with them. SQL of dap/ lives only in
 * db.c and this file.
 */
#include "dap/dap_internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ---- the admin API ------------------------------------------------------------ */

struct reject_row {
	char agg[16];
	uint8_t task_id[DAP_TASK_ID_LEN];
	char reason[48];
};

static int reject_run(sqlite3 *db, void *arg)
{
	struct reject_row *r = arg;
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO dap_rejections (aggregator, task_id, reason, count)"
				    " VALUES (?, ?, ?, 1) ON CONFLICT (aggregator, task_id, reason)"
				    " DO UPDATE SET count = count + 1", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, r->agg, -1, SQLITE_STATIC);
		sqlite3_bind_blob(s, 2, r->task_id, DAP_TASK_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, r->reason, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
}

static void reject_done(int status, void *arg)
{
	(void)status;
	free(arg);
}

int dap_db_count_rejection(struct tb_store *st, const char *agg, const uint8_t *task_id, const char *reason)
{
	struct reject_row *r = calloc(1, sizeof *r);
	if (!r)
		return TB_ERR_NOMEM;
	snprintf(r->agg, sizeof r->agg, "%s", agg);
	memcpy(r->task_id, task_id, DAP_TASK_ID_LEN);
	snprintf(r->reason, sizeof r->reason, "%s", reason);
	int rc = tb_store_write(st, reject_run, reject_done, r);
	if (rc)
		free(r);
	return rc;
}

/* One integer from a query bound to (aggregator?, task_id). */
static int one_int(sqlite3 *db, const char *sql, const char *agg, const uint8_t *task_id, uint64_t *out)
{
	sqlite3_stmt *s = NULL;
	*out = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	int i = 1;
	if (agg)
		sqlite3_bind_text(s, i++, agg, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, i, task_id, DAP_TASK_ID_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
}

static void add_reason(cJSON *rejected, const char *reason, uint64_t n)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(rejected, reason);
	if (v)
		cJSON_SetNumberValue(v, v->valuedouble + (double)n);
	else
		cJSON_AddNumberToObject(rejected, reason, (double)n);
}

int dap_db_task_counts(struct tb_store *st, const char *agg, const uint8_t *task_id, uint64_t *received,
		       uint64_t *aggregated, uint64_t *collected, cJSON *rejected)
{
	sqlite3 *db = tb_store_reader(st);
	int leader = !strcmp(agg, "leader");
	int rc = leader ? one_int(db, "SELECT COUNT(*) FROM dap_reports WHERE task_id=?", NULL, task_id, received)
			: one_int(db, "SELECT COUNT(*) FROM dap_helper_reports WHERE task_id=?", NULL, task_id,
				  received);
	if (!rc)
		rc = one_int(db, "SELECT COALESCE(SUM(report_count), 0) FROM dap_batch_aggs WHERE aggregator=?"
			     " AND task_id=?", agg, task_id, aggregated);
	if (!rc)
		rc = one_int(db, "SELECT COALESCE(SUM(report_count), 0) FROM dap_batch_aggs WHERE aggregator=?"
			     " AND task_id=? AND query_count>0", agg, task_id, collected);
	if (rc)
		return rc;
	sqlite3_stmt *s = NULL;
	/* refused at upload (counted then), and failed in aggregation (the report's PrepareError) */
	if (sqlite3_prepare_v2(db, "SELECT reason, count FROM dap_rejections WHERE aggregator=? AND task_id=?",
			       -1, &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, agg, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, task_id, DAP_TASK_ID_LEN, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		add_reason(rejected, (const char *)sqlite3_column_text(s, 0), (uint64_t)sqlite3_column_int64(s, 1));
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return TB_ERR_STORE;
	if (!leader)
		return 0;
	if (sqlite3_prepare_v2(db, "SELECT prep_error, COUNT(*) FROM dap_reports WHERE task_id=? AND state=3"
			       " GROUP BY prep_error", -1, &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_blob(s, 1, task_id, DAP_TASK_ID_LEN, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = sqlite3_column_type(s, 0) == SQLITE_NULL ? NULL :
				   dap_prepare_error_name(sqlite3_column_int(s, 0));
		add_reason(rejected, name ? name : "unknown", (uint64_t)sqlite3_column_int64(s, 1));
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
}

int dap_db_task_detail(struct tb_store *st, const char *agg, const struct dap_task *t, cJSON *jobs,
		       cJSON *batches, cJSON *collections)
{
	sqlite3 *db = tb_store_reader(st);
	static const char *const job_states[] = { "created", "in_flight", "finished" };
	int leader = !strcmp(agg, "leader");
	sqlite3_stmt *s = NULL;
	char b64[128];
	int rc;
	if (sqlite3_prepare_v2(db, leader ?
			       "SELECT j.job_id, j.state, (SELECT COUNT(*) FROM dap_reports r WHERE"
			       " r.task_id=j.task_id AND r.job_id=j.job_id) FROM dap_agg_jobs j"
			       " WHERE j.aggregator=?1 AND j.task_id=?2 LIMIT 500" :
			       "SELECT job_id, state, NULL FROM dap_agg_jobs WHERE aggregator=?1 AND task_id=?2"
			       " LIMIT 500", -1, &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, agg, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, t->id, DAP_TASK_ID_LEN, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		cJSON *o = cJSON_CreateObject();
		dap_b64url(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0), b64, sizeof b64);
		cJSON_AddStringToObject(o, "id", b64);
		int state = sqlite3_column_int(s, 1);
		cJSON_AddStringToObject(o, "state", state >= 0 && state <= 2 ? job_states[state] : "unknown");
		if (sqlite3_column_type(s, 2) == SQLITE_NULL)
			cJSON_AddNullToObject(o, "reports");
		else
			cJSON_AddNumberToObject(o, "reports", (double)sqlite3_column_int64(s, 2));
		cJSON_AddNullToObject(o, "created"); /* not recorded */
		cJSON_AddItemToArray(jobs, o);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return TB_ERR_STORE;
	/* batches: time buckets (time_interval) or batch ids (fixed_size) */
	if (sqlite3_prepare_v2(db, "SELECT a.bucket, a.report_count, a.query_count, b.batch_id FROM"
			       " dap_batch_aggs a LEFT JOIN dap_batches b ON b.aggregator=a.aggregator AND"
			       " b.task_id=a.task_id AND b.bucket=a.bucket WHERE a.aggregator=?1 AND"
			       " a.task_id=?2 ORDER BY a.bucket LIMIT 500", -1, &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, agg, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, t->id, DAP_TASK_ID_LEN, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		cJSON *o = cJSON_CreateObject();
		if (t->query_type == DAP_QUERY_FIXED_SIZE && sqlite3_column_type(s, 3) != SQLITE_NULL) {
			dap_b64url(sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3), b64, sizeof b64);
			cJSON_AddStringToObject(o, "identifier", b64);
		} else {
			/* the bucket's start; its duration is the task's time precision */
			snprintf(b64, sizeof b64, "%lld", (long long)sqlite3_column_int64(s, 0));
			cJSON_AddStringToObject(o, "identifier", b64);
		}
		cJSON_AddNumberToObject(o, "reports", (double)sqlite3_column_int64(s, 1));
		cJSON_AddNumberToObject(o, "collected", (double)sqlite3_column_int64(s, 2));
		cJSON_AddItemToArray(batches, o);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return TB_ERR_STORE;
	if (!leader)
		return 0;
	static const char *const coll_states[] = { "pending", "pending", "finished", "deleted" };
	if (sqlite3_prepare_v2(db, "SELECT job_id, state, request, result FROM dap_collection_jobs WHERE"
			       " task_id=? LIMIT 500", -1, &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_blob(s, 1, t->id, DAP_TASK_ID_LEN, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		cJSON *o = cJSON_CreateObject();
		dap_b64url(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0), b64, sizeof b64);
		cJSON_AddStringToObject(o, "id", b64);
		int state = sqlite3_column_int(s, 1);
		cJSON_AddStringToObject(o, "state", state >= 0 && state <= 3 ? coll_states[state] : "unknown");
		struct dap_collection_req cr;
		struct dap_collection col;
		struct tb_buf rq = TB_BUF(sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2));
		struct tb_buf rs = TB_BUF(sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3));
		cJSON *batch = cJSON_AddObjectToObject(o, "batch");
		if (!dap_collection_req_decode(rq, &cr)) {
			if (cr.query.query_type == DAP_QUERY_TIME_INTERVAL) {
				cJSON_AddNumberToObject(batch, "start", (double)cr.query.interval.start);
				cJSON_AddNumberToObject(batch, "duration", (double)cr.query.interval.duration);
			} else if (cr.query.fixed_size_type == DAP_FIXED_SIZE_CURRENT_BATCH) {
				cJSON_AddStringToObject(batch, "batch_id", "current");
			} else {
				dap_b64url(cr.query.batch_id, DAP_BATCH_ID_LEN, b64, sizeof b64);
				cJSON_AddStringToObject(batch, "batch_id", b64);
			}
		}
		if (rs.len && !dap_collection_decode(rs, &col))
			cJSON_AddNumberToObject(o, "report_count", (double)col.report_count);
		else
			cJSON_AddNullToObject(o, "report_count");
		cJSON_AddNullToObject(o, "created"); /* not recorded */
		cJSON_AddItemToArray(collections, o);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : TB_ERR_STORE;
}
