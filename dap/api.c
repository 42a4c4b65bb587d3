/*
 * DESIGN: the HTTP face of the DAP aggregators. Each aggregator of the
 * process mounts its own route table under its prefix (/dap/leader/,
 * /dap/helper/) on the HTTPS listener, with itself as state, so the two
 * never see each other's tasks or keys.
 *
 * Both: GET hpke_config[?task_id=] -> HpkeConfigList of the active keys.
 * Leader: PUT tasks/{task_id}/reports -> the upload pipeline (upload.c),
 * answered 200 after the store commit; collection jobs (leader.c).
 * Helper: aggregation jobs (init, continue, delete) and aggregate shares
 * (helper.c).
 *
 * Errors are DAP problem documents (application/problem+json with the
 * draft's type URN, title, status and, where the request named a task, its
 * id as "taskid"), which is also how @divviup/dap reads them. A request
 * body with another media type than the route's gets 415 (invalidMessage);
 * core's 404 and 405 are worded the same way by the table's renderer.
 */
#include "dap/dap_internal.h"
#include "dap/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/http.h"
#include "core/log.h"

/* ---- problem documents ---------------------------------------------------- */

static int respond_doc(struct tb_http_request *req, int status, const char *type, const char *title,
		       const uint8_t *task_id, const char *detail)
{
	cJSON *j = cJSON_CreateObject();
	char tid[64];
	cJSON_AddStringToObject(j, "type", type);
	cJSON_AddStringToObject(j, "title", title);
	cJSON_AddNumberToObject(j, "status", status);
	if (detail)
		cJSON_AddStringToObject(j, "detail", detail);
	if (task_id && dap_b64url(task_id, DAP_TASK_ID_LEN, tid, sizeof tid) == 0)
		cJSON_AddStringToObject(j, "taskid", tid);
	char *body = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!body)
		return tb_http_respond(req, 500, NULL, NULL, 0);
	int rc = tb_http_respond(req, status, "application/problem+json", body, strlen(body));
	free(body);
	return rc;
}

/*
 * A request that failed on the server's side: err is a store status, a
 * TB_ERR_* or DAP_STORE_FAILED. A store that did not commit (disk full, an
 * I/O error) or a service shutting down answers 503 with Retry-After, since
 * the same request succeeds once the store writes again; anything else 500.
 */
static int respond_failure(struct tb_http_request *req, int err, const uint8_t *task_id, const char *detail)
{
	if (err == DAP_STORE_FAILED || err == TB_ERR_STORE || err == TB_ERR_IO || err == TB_ERR_CANCELED) {
		tb_http_set_header(req, "Retry-After", "1");
		return respond_doc(req, 503, "about:blank", "Service Unavailable", task_id, detail);
	}
	return respond_doc(req, 500, "about:blank", "Internal Server Error", task_id, detail);
}

/* A DAP problem; status 0 means the problem's own. */
static int respond_problem(struct tb_http_request *req, enum dap_problem p, int status,
			   const uint8_t *task_id, const char *detail)
{
	return respond_doc(req, status ? status : dap_problem_status(p), dap_problem_urn(p),
			   dap_problem_title(p), task_id, detail);
}

/* The {task_id} parameter, decoded; 0 or TB_ERR_INVALID. */
static int path_task_id(const struct tb_http_request *req, uint8_t id[DAP_TASK_ID_LEN])
{
	return dap_unb64url_exact(tb_http_path_param(req, "task_id"), id, DAP_TASK_ID_LEN) ?
		       TB_ERR_INVALID : 0;
}

static int render_error(struct tb_http_request *req, int status, void *state)
{
	(void)state;
	uint8_t id[DAP_TASK_ID_LEN];
	int have = path_task_id(req, id) == 0;
	return respond_doc(req, status, "about:blank", tb_http_reason(status), have ? id : NULL, NULL);
}

/*
 * The body's media type must be the route's: compared on the type itself
 * (case-insensitive, parameters after ';' ignored, as RFC 9110 8.3.1 has it),
 * never by prefix.
 */
static int media_type_is(const struct tb_http_request *req, const char *want)
{
	const char *ct = tb_http_header(req, "Content-Type");
	if (!ct)
		return 0;
	size_t n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == strlen(want) && strncasecmp(ct, want, n) == 0;
}

/* ---- hpke_config ---------------------------------------------------------- */

static int get_hpke_config(struct tb_http_request *req, void *arg)
{
	struct dap_aggregator *agg = arg;
	const char *q = tb_http_query_param(req, "task_id");
	if (q) {
		uint8_t id[DAP_TASK_ID_LEN];
		if (!*q) /* `task_id=` names no task */
			return respond_problem(req, DAP_PROBLEM_MISSING_TASK_ID, 0, NULL,
					       "task_id is empty: name the task, or leave the parameter out");
		if (dap_unb64url_exact(q, id, DAP_TASK_ID_LEN))
			return respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 0, NULL,
					       "task_id is not 32 bytes of base64url");
		const struct dap_task *t = dap_find_task(agg, id);
		if (!t)
			return respond_problem(req, DAP_PROBLEM_UNRECOGNIZED_TASK, 0, id, NULL);
		if (t->has_own_key) {
			/* The task's own config (as Janus 0.7 answers a task with its own keys). */
			struct dap_hpke_key k;
			struct tb_bytes list = { 0 };
			dap_task_own_key(t, &k);
			int rc = dap_hpke_config_list_encode(&k.config, 1, &list);
			tb_crypto_wipe(&k, sizeof k);
			if (!rc) {
				tb_http_set_header(req, "Cache-Control", "max-age=3600");
				rc = tb_http_respond(req, 200, DAP_MT_HPKE_CONFIG_LIST, list.p, list.len);
			}
			tb_bytes_free(&list);
			return rc;
		}
	}
	dap_keys_refresh(agg);
	/* Keys rotate: let clients cache the list for an hour, not longer. */
	tb_http_set_header(req, "Cache-Control", "max-age=3600");
	return tb_http_respond(req, 200, DAP_MT_HPKE_CONFIG_LIST, agg->config_list.p,
			       agg->config_list.len);
}

/* ---- upload --------------------------------------------------------------- */

struct upload_req {
	struct tb_http_request *req;
	uint8_t task_id[DAP_TASK_ID_LEN];
};

static void upload_done(void *ctx, int problem, const char *detail)
{
	struct upload_req *u = ctx;
	if (problem == DAP_PENDING)
		tb_http_respond(u->req, 200, NULL, NULL, 0);
	else if (problem >= 0)
		respond_problem(u->req, (enum dap_problem)problem, 0, u->task_id, detail);
	else
		respond_failure(u->req, problem, u->task_id, detail);
}

static int put_report(struct tb_http_request *req, void *arg)
{
	struct dap_aggregator *agg = arg;
	uint8_t id[DAP_TASK_ID_LEN];
	if (path_task_id(req, id)) {
		dap_metrics_upload(NULL, "invalid_message");
		return respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 0, NULL,
				       "the task id in the path is not 32 bytes of base64url");
	}
	if (!media_type_is(req, DAP_MT_REPORT)) {
		dap_metrics_upload(NULL, "invalid_message");
		return respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 415, id,
				       "expected Content-Type: " DAP_MT_REPORT);
	}
	struct dap_task *task = dap_find_task(agg, id);
	if (!task || task->role != DAP_AGG_LEADER) {
		dap_metrics_upload(NULL, "unrecognized_task"); /* no task label: the id is the client's */
		return respond_problem(req, DAP_PROBLEM_UNRECOGNIZED_TASK, 0, id, NULL);
	}
	if (agg->svc->stopping) {
		tb_http_set_header(req, "Retry-After", "1");
		return respond_doc(req, 503, "about:blank", "Service Unavailable", id, NULL);
	}
	struct upload_req *u = tb_arena_calloc(req->arena, sizeof *u);
	if (!u)
		return TB_ERR_NOMEM;
	u->req = req;
	memcpy(u->task_id, id, sizeof id);
	const char *detail = NULL;
	int rc = dap_leader_upload(agg, task, req->body, (uint64_t)tb_time_now(), upload_done, u, &detail);
	if (rc == DAP_PENDING)
		return TB_HTTP_LATER;
	if (rc >= 0)
		return respond_problem(req, (enum dap_problem)rc, 0, id, detail);
	TB_WARN("dap", "%s: upload failed: %s", agg->name, tb_strerror(rc));
	return respond_failure(req, rc, id, NULL);
}

/* ---- authentication -------------------------------------------------------- */

/*
 * DAP-Auth-Token or Authorization: Bearer, compared in constant time with
 * the task's token. A task without a token refuses every request.
 */
static int authorized(const struct tb_http_request *req, const char *token)
{
	const char *h = tb_http_header(req, "DAP-Auth-Token");
	const char *a = tb_http_header(req, "Authorization");
	size_t n = strlen(token);
	if (!h && a && strncasecmp(a, "Bearer ", 7) == 0)
		h = a + 7;
	if (!h || n == 0 || strlen(h) != n)
		return 0;
	return tb_memeq_ct(h, token, n) == 0;
}

/* The task and the checks every aggregator-to-aggregator or collector route shares. */
static struct dap_task *task_for(struct tb_http_request *req, struct dap_aggregator *agg,
				 uint8_t id[DAP_TASK_ID_LEN], const char *media_type, int collector)
{
	if (path_task_id(req, id)) {
		respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 0, NULL,
				"the task id in the path is not 32 bytes of base64url");
		return NULL;
	}
	struct dap_task *task = dap_find_task(agg, id);
	if (!task || task->role != agg->kind) {
		respond_problem(req, DAP_PROBLEM_UNRECOGNIZED_TASK, 0, id, NULL);
		return NULL;
	}
	if (!authorized(req, collector ? task->collector_auth_token : task->aggregator_auth_token)) {
		respond_problem(req, DAP_PROBLEM_UNAUTHORIZED_REQUEST, 0, id, NULL);
		return NULL;
	}
	if (media_type && !media_type_is(req, media_type)) {
		respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 415, id,
				tb_arena_printf(req->arena, "expected Content-Type: %s", media_type));
		return NULL;
	}
	if (agg->svc->stopping) {
		tb_http_set_header(req, "Retry-After", "1");
		respond_doc(req, 503, "about:blank", "Service Unavailable", id, NULL);
		return NULL;
	}
	return task;
}

static int id_param(const struct tb_http_request *req, const char *name, uint8_t *out, size_t n)
{
	return dap_unb64url_exact(tb_http_path_param(req, name), out, n);
}

static void free_bytes(void *arg)
{
	tb_bytes_free(arg);
}

/* ---- helper: aggregation jobs ---------------------------------------------------- */

static void agg_job_done(int status, struct dap_flow *f)
{
	struct tb_http_request *req = f->req;
	struct dap_service *svc = f->svc;
	if (status)
		respond_failure(req, status, f->task.id, NULL);
	else if (f->conflict)
		respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 409, f->task.id,
				"this aggregation job id was used for another request");
	else
		tb_http_respond(req, 200, DAP_MT_AGG_JOB_RESP, f->response.p, f->response.len);
	tb_metric_inc(&dap_m_agg_jobs, "helper", status || f->conflict ? "error" : "ok");
	svc->inflight--;
	dap_flow_free(f);
	dap_service_check_stopped(svc);
}

static int put_agg_job(struct tb_http_request *req, void *arg)
{
	struct dap_aggregator *agg = arg;
	uint8_t id[DAP_TASK_ID_LEN], job[DAP_AGG_JOB_ID_LEN];
	struct dap_task *task = task_for(req, agg, id, DAP_MT_AGG_JOB_INIT_REQ, 0);
	if (!task)
		return 0;
	if (id_param(req, "job_id", job, sizeof job))
		return respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 0, id,
				       "the aggregation job id is not 16 bytes of base64url");
	const char *detail = NULL;
	struct tb_bytes *stored = tb_arena_calloc(req->arena, sizeof *stored);
	if (!stored || tb_arena_add_cleanup(req->arena, free_bytes, stored))
		return TB_ERR_NOMEM;
	int rc = dap_helper_init_job(agg, task, job, req->body, (uint64_t)tb_time_now(), agg_job_done, req,
				     stored, &detail);
	if (rc == DAP_PENDING)
		return TB_HTTP_LATER;
	if (rc == DAP_PROBLEM_COUNT)
		return tb_http_respond(req, 200, DAP_MT_AGG_JOB_RESP, stored->p, stored->len);
	if (rc == DAP_CONFLICT)
		return respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 409, id,
				       "this aggregation job id was used for another request");
	if (rc >= 0)
		return respond_problem(req, (enum dap_problem)rc, 0, id, detail);
	TB_WARN("dap", "helper: aggregation job failed: %s", tb_strerror(rc));
	return respond_failure(req, rc, id, NULL);
}

static void continue_free(void *arg)
{
	struct dap_continue *c = arg;
	tb_bytes_free(&c->init_response);
	tb_bytes_free(&c->last_hash);
	tb_bytes_free(&c->last_response);
	tb_bytes_free(&c->response);
}

static void agg_job_continued(int status, struct dap_continue *c)
{
	/* c lives in the request's arena (freed with it): read what is needed first. */
	struct dap_service *svc = c->svc;
	struct tb_http_request *req = c->http_req;
	int ok = 0;
	svc->inflight--;
	if (status)
		respond_failure(req, status, c->task_id, NULL);
	else if (c->problem == DAP_CONFLICT)
		respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 409, c->task_id,
				"this step of the aggregation job was processed for another request");
	else if (c->problem >= 0)
		respond_problem(req, (enum dap_problem)c->problem, 0, c->task_id, c->detail);
	else {
		ok = 1;
		tb_http_respond(req, 200, DAP_MT_AGG_JOB_RESP, c->response.p, c->response.len);
	}
	tb_metric_inc(&dap_m_agg_jobs, "helper", ok ? "ok" : "error");
	dap_service_check_stopped(svc);
}

/* AggregationJobContinueReq (DAP-09 4.5.2): the step machine is helper.c's continue_decide. */
static int post_agg_job(struct tb_http_request *req, void *arg)
{
	struct dap_aggregator *agg = arg;
	uint8_t id[DAP_TASK_ID_LEN], job[DAP_AGG_JOB_ID_LEN];
	struct dap_task *task = task_for(req, agg, id, DAP_MT_AGG_JOB_CONTINUE_REQ, 0);
	if (!task)
		return 0;
	if (id_param(req, "job_id", job, sizeof job))
		return respond_problem(req, DAP_PROBLEM_UNRECOGNIZED_AGGREGATION_JOB, 0, id, NULL);
	struct dap_continue *c = tb_arena_calloc(req->arena, sizeof *c);
	if (!c || tb_arena_add_cleanup(req->arena, continue_free, c))
		return TB_ERR_NOMEM;
	c->http_req = req;
	c->done = agg_job_continued;
	const char *detail = NULL;
	int rc = dap_helper_continue_job(agg, task, job, req->body, c, &detail);
	if (rc == DAP_PENDING)
		return TB_HTTP_LATER;
	if (rc >= 0)
		return respond_problem(req, (enum dap_problem)rc, 0, id, detail);
	TB_WARN("dap", "helper: aggregation job continue failed: %s", tb_strerror(rc));
	return respond_failure(req, rc, id, NULL);
}

struct coll_req {
	struct tb_http_request *req;
	struct dap_service *svc;
	uint8_t task_id[DAP_TASK_ID_LEN];
	int status;           /* what success answers: 201 (created), 204 (deleted) */
};

static void agg_job_deleted(int status, int conflict, void *arg)
{
	struct coll_req *c = arg;
	/* c lives in the request's arena: nothing of it is read after the response. */
	struct dap_service *svc = c->svc;
	(void)conflict;
	svc->inflight--;
	if (status == TB_ERR_NOT_FOUND)
		respond_problem(c->req, DAP_PROBLEM_UNRECOGNIZED_AGGREGATION_JOB, 0, c->task_id, NULL);
	else if (status)
		respond_failure(c->req, status, c->task_id, NULL);
	else
		tb_http_respond(c->req, 204, NULL, NULL, 0);
	dap_service_check_stopped(svc);
}

static int delete_agg_job(struct tb_http_request *req, void *arg)
{
	struct dap_aggregator *agg = arg;
	uint8_t id[DAP_TASK_ID_LEN], job[DAP_AGG_JOB_ID_LEN];
	if (!task_for(req, agg, id, NULL, 0))
		return 0;
	if (id_param(req, "job_id", job, sizeof job))
		return respond_problem(req, DAP_PROBLEM_UNRECOGNIZED_AGGREGATION_JOB, 0, id, NULL);
	struct coll_req *c = tb_arena_calloc(req->arena, sizeof *c);
	if (!c)
		return TB_ERR_NOMEM;
	c->req = req;
	c->svc = agg->svc;
	memcpy(c->task_id, id, sizeof id);
	int rc = dap_db_helper_delete_job(agg->svc->core->store, id, job, agg_job_deleted, c);
	if (rc)
		return rc;
	agg->svc->inflight++;
	return TB_HTTP_LATER;
}

/* ---- helper: aggregate shares ------------------------------------------------------ */

struct share_req {
	struct tb_http_request *req;
	struct dap_service *svc;
	uint8_t task_id[DAP_TASK_ID_LEN];
	struct tb_bytes response;
};

static void share_done(int status, int conflict, void *arg)
{
	struct share_req *s = arg;
	/* s lives in the request's arena: nothing of it is read after the response. */
	struct dap_service *svc = s->svc;
	struct tb_bytes response = s->response;
	(void)conflict;
	svc->inflight--;
	tb_metric_inc(&dap_m_collections, "helper", status ? "error" : "ok");
	if (status)
		respond_failure(s->req, status, s->task_id, NULL);
	else
		tb_http_respond(s->req, 200, DAP_MT_AGG_SHARE, response.p, response.len);
	tb_bytes_free(&response);
	dap_service_check_stopped(svc);
}

static int post_agg_share(struct tb_http_request *req, void *arg)
{
	struct dap_aggregator *agg = arg;
	uint8_t id[DAP_TASK_ID_LEN];
	struct dap_task *task = task_for(req, agg, id, DAP_MT_AGG_SHARE_REQ, 0);
	if (!task)
		return 0;
	struct share_req *s = tb_arena_calloc(req->arena, sizeof *s);
	if (!s)
		return TB_ERR_NOMEM;
	s->req = req;
	s->svc = agg->svc;
	memcpy(s->task_id, id, sizeof id);
	const char *detail = NULL;
	int rc = dap_helper_agg_share(agg, task, req->body, share_done, s, &s->response, &detail);
	if (rc == DAP_PENDING)
		return TB_HTTP_LATER;
	if (rc == DAP_PROBLEM_COUNT) {
		rc = tb_http_respond(req, 200, DAP_MT_AGG_SHARE, s->response.p, s->response.len);
		tb_bytes_free(&s->response);
		return rc;
	}
	tb_bytes_free(&s->response);
	if (rc >= 0)
		return respond_problem(req, (enum dap_problem)rc, 0, id, detail);
	TB_WARN("dap", "helper: aggregate share failed: %s", tb_strerror(rc));
	return respond_failure(req, rc, id, NULL);
}

/* ---- leader: collection jobs ----------------------------------------------------- */


static void coll_put_done(int status, int conflict, void *arg)
{
	struct coll_req *c = arg;
	/* c lives in the request's arena: nothing of it is read after the response. */
	struct dap_service *svc = c->svc;
	svc->inflight--;
	if (status)
		respond_failure(c->req, status, c->task_id, NULL);
	else if (conflict)
		respond_problem(c->req, DAP_PROBLEM_INVALID_MESSAGE, 409, c->task_id,
				"this collection job id was used for another query");
	else
		tb_http_respond(c->req, c->status, NULL, NULL, 0);
	dap_service_check_stopped(svc);
}

static int put_collection_job(struct tb_http_request *req, void *arg)
{
	struct dap_aggregator *agg = arg;
	uint8_t id[DAP_TASK_ID_LEN], job[DAP_COLLECTION_JOB_ID_LEN];
	struct dap_task *task = task_for(req, agg, id, DAP_MT_COLLECT_REQ, 1);
	if (!task)
		return 0;
	if (id_param(req, "job_id", job, sizeof job))
		return respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 0, id,
				       "the collection job id is not 16 bytes of base64url");
	struct dap_collection_req cr;
	if (dap_collection_req_decode(req->body, &cr))
		return respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 0, id,
				       "the body is not a DAP-09 CollectionReq");
	if (cr.query.query_type != task->query_type)
		return respond_problem(req, DAP_PROBLEM_BATCH_INVALID, 0, id,
				       "the query type is not the task's");
	if (cr.agg_param.len)
		return respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 0, id,
				       "Prio3 takes no aggregation parameter");
	const struct dap_interval *iv = &cr.query.interval;
	if (task->query_type == DAP_QUERY_TIME_INTERVAL && !dap_interval_valid(task, iv))
		return respond_problem(req, DAP_PROBLEM_BATCH_INVALID, 0, id,
				       "the batch interval is not aligned to the task's time precision");
	uint64_t same = 0, overlap = 0;
	int rc = task->query_type != DAP_QUERY_TIME_INTERVAL ? 0 :
		 dap_db_collected_intervals(agg->svc->core->store, id, iv->start,
					    iv->start + iv->duration, &same, &overlap);
	if (rc)
		return rc;
	if (overlap)
		return respond_problem(req, DAP_PROBLEM_BATCH_OVERLAP, 0, id,
				       "the interval overlaps a batch collected before");
	if (same >= task->max_batch_query_count)
		return respond_problem(req, DAP_PROBLEM_BATCH_QUERIED_TOO_MANY_TIMES, 0, id, NULL);
	struct coll_req *c = tb_arena_calloc(req->arena, sizeof *c);
	if (!c)
		return TB_ERR_NOMEM;
	c->req = req;
	c->svc = agg->svc;
	c->status = 201;
	memcpy(c->task_id, id, sizeof id);
	rc = dap_db_put_collection_job(agg->svc->core->store, id, job, req->body, 0, TB_BUF(NULL, 0), 0, 0,
				       coll_put_done, c);
	if (rc)
		return rc;
	agg->svc->inflight++;
	dap_leader_kick(agg->svc);
	return TB_HTTP_LATER;
}

static void collected(void *ctx, int problem, const char *detail, struct tb_buf collection)
{
	struct coll_req *c = ctx;
	if (problem == DAP_PENDING)
		tb_http_respond(c->req, 200, DAP_MT_COLLECTION, collection.p, collection.len);
	else if (problem >= 0)
		respond_problem(c->req, (enum dap_problem)problem, 0, c->task_id, detail);
	else
		respond_failure(c->req, problem, c->task_id, detail);
}

static int post_collection_job(struct tb_http_request *req, void *arg)
{
	struct dap_aggregator *agg = arg;
	uint8_t id[DAP_TASK_ID_LEN], job[DAP_COLLECTION_JOB_ID_LEN];
	struct dap_task *task = task_for(req, agg, id, NULL, 1);
	if (!task)
		return 0;
	if (id_param(req, "job_id", job, sizeof job))
		return respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 0, id,
				       "the collection job id is not 16 bytes of base64url");
	struct coll_req *c = tb_arena_calloc(req->arena, sizeof *c);
	struct tb_bytes *result = tb_arena_calloc(req->arena, sizeof *result);
	if (!c || !result || tb_arena_add_cleanup(req->arena, free_bytes, result))
		return TB_ERR_NOMEM;
	c->req = req;
	c->svc = agg->svc;
	memcpy(c->task_id, id, sizeof id);
	const char *detail = NULL;
	int rc = dap_leader_collect(agg, task, job, collected, c, result, &detail);
	switch (rc) {
	case DAP_PENDING:
		return TB_HTTP_LATER;
	case DAP_PROBLEM_COUNT:
		return tb_http_respond(req, 200, DAP_MT_COLLECTION, result->p, result->len);
	case DAP_NOT_READY:
		tb_http_set_header(req, "Retry-After", "1");
		return tb_http_respond(req, 202, NULL, NULL, 0);
	case DAP_NOT_FOUND:
		return respond_doc(req, 404, "about:blank", "Not Found", id, "no such collection job");
	default:
		if (rc >= 0)
			return respond_problem(req, (enum dap_problem)rc, 0, id, detail);
		TB_WARN("dap", "leader: collection failed: %s", tb_strerror(rc));
		return respond_failure(req, rc, id, NULL);
	}
}

static int delete_collection_job(struct tb_http_request *req, void *arg)
{
	struct dap_aggregator *agg = arg;
	uint8_t id[DAP_TASK_ID_LEN], job[DAP_COLLECTION_JOB_ID_LEN];
	struct tb_bytes request = { 0 };
	int state = 0;
	if (!task_for(req, agg, id, NULL, 1))
		return 0;
	if (id_param(req, "job_id", job, sizeof job) ||
	    dap_db_get_collection_job(agg->svc->core->store, id, job, &request, NULL, &state)) {
		tb_bytes_free(&request);
		return respond_doc(req, 404, "about:blank", "Not Found", id, "no such collection job");
	}
	struct coll_req *c = tb_arena_calloc(req->arena, sizeof *c);
	int rc = c ? 0 : TB_ERR_NOMEM;
	if (c) {
		c->req = req;
		c->svc = agg->svc;
		c->status = 204;
		memcpy(c->task_id, id, sizeof id);
		/* A finished job keeps its state (the batch stays collected); others are deleted. */
		rc = dap_db_put_collection_job(agg->svc->core->store, id, job, tb_bytes_buf(&request),
					       state == 2 ? 2 : 3, TB_BUF(NULL, 0), 1, 0, coll_put_done, c);
	}
	tb_bytes_free(&request);
	if (rc)
		return rc;
	agg->svc->inflight++;
	return TB_HTTP_LATER;
}

/* ---- tables --------------------------------------------------------------- */

/*
 * The tables are built per aggregator because a route's body limit comes
 * from the configuration (dap.max_upload_bytes); they live in the service,
 * which outlives the HTTP server.
 */
int dap_api_mount(struct dap_aggregator *agg)
{
	struct dap_service *svc = agg->svc;
	size_t n = 0;
	agg->routes[n++] = (struct tb_http_route_def){ "GET", "/hpke_config", get_hpke_config, 0 };
	if (agg->kind == DAP_AGG_LEADER) {
		agg->routes[n++] = (struct tb_http_route_def){ "PUT", "/tasks/{task_id}/reports",
							       put_report, svc->max_upload_bytes };
		agg->routes[n++] = (struct tb_http_route_def){ "PUT", "/tasks/{task_id}/collection_jobs/{job_id}",
							       put_collection_job, 0 };
		agg->routes[n++] = (struct tb_http_route_def){ "POST", "/tasks/{task_id}/collection_jobs/{job_id}",
							       post_collection_job, 0 };
		agg->routes[n++] = (struct tb_http_route_def){ "DELETE", "/tasks/{task_id}/collection_jobs/{job_id}",
							       delete_collection_job, 0 };
	} else {
		agg->routes[n++] = (struct tb_http_route_def){ "PUT", "/tasks/{task_id}/aggregation_jobs/{job_id}",
							       put_agg_job, DAP_MAX_AGG_JOB_BODY };
		agg->routes[n++] = (struct tb_http_route_def){ "POST", "/tasks/{task_id}/aggregation_jobs/{job_id}",
							       post_agg_job, 0 };
		agg->routes[n++] = (struct tb_http_route_def){ "DELETE", "/tasks/{task_id}/aggregation_jobs/{job_id}",
							       delete_agg_job, 0 };
		agg->routes[n++] = (struct tb_http_route_def){ "POST", "/tasks/{task_id}/aggregate_shares",
							       post_agg_share, 0 };
	}
	agg->table = (struct tb_http_table){ agg->routes, n, render_error };
	return tb_http_mount(svc->core->http, svc->listener, agg->prefix, &agg->table, agg);
}
