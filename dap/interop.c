/*
 * DESIGN: the aggregator side of the DAP interop test API
 * (draft-dcook-ppm-dap-interop-test-design, the DAP-09 revision that Janus
 * 0.7's interop binaries implement), served under /internal/test/ on the
 * DAP listener when dap.interop_api is on: a test runner provisions tasks
 * with add_task and asks where a role is served with endpoint_for_task.
 * Bodies are JSON; VDAF parameters may come as strings (the draft's
 * "numbers as strings") or as numbers. Unknown /internal/test/ paths are
 * core's 404. Anyone who reaches these endpoints can add tasks: the option
 * is for test deployments only and is off by default.
 */
#include "dap/dap_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/http.h"
#include "core/log.h"

#define INTEROP_MAX_BODY (64u * 1024)

static int reply(struct tb_http_request *req, const char *status, const char *error,
		 const char *key, const char *value)
{
	cJSON *j = cJSON_CreateObject();
	if (status)
		cJSON_AddStringToObject(j, "status", status);
	if (error)
		cJSON_AddStringToObject(j, "error", error);
	if (key)
		cJSON_AddStringToObject(j, key, value);
	int rc = tb_http_respond_json(req, 200, j);
	cJSON_Delete(j);
	return rc;
}

static int ready(struct tb_http_request *req, void *arg)
{
	(void)arg;
	return reply(req, NULL, NULL, NULL, NULL);
}

static cJSON *body_json(const struct tb_http_request *req)
{
	return cJSON_ParseWithLength((const char *)req->body.p, req->body.len);
}

static int endpoint_for_task(struct tb_http_request *req, void *arg)
{
	struct dap_service *svc = arg;
	cJSON *j = body_json(req);
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(j, "role");
	const char *r = cJSON_IsString(role) ? role->valuestring : "";
	int k = !strcmp(r, "leader") ? DAP_AGG_LEADER : !strcmp(r, "helper") ? DAP_AGG_HELPER : -1;
	int rc;
	if (k < 0 || (k == DAP_AGG_LEADER && !svc->run_leader) || (k == DAP_AGG_HELPER && !svc->run_helper))
		rc = reply(req, "error", "this instance does not serve that role", NULL, NULL);
	else
		rc = reply(req, "success", NULL, "endpoint", svc->agg[k].prefix);
	cJSON_Delete(j);
	return rc;
}

/* A number given as a JSON number or as a string of digits; def when absent or null. */
static int num(const cJSON *o, const char *name, double def, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	char *end;
	if (!v || cJSON_IsNull(v)) {
		*out = def;
		return 0;
	}
	if (cJSON_IsNumber(v)) {
		*out = v->valuedouble;
		return 0;
	}
	if (cJSON_IsString(v) && *v->valuestring) {
		*out = strtod(v->valuestring, &end);
		return *end ? TB_ERR_INVALID : 0;
	}
	return TB_ERR_INVALID;
}

/* The AggregatorAddTaskRequest as a task record (dap/task.c's JSON). */
cJSON *dap_interop_task_record(const cJSON *j, char *err, size_t errlen)
{
	static const struct {
		const char *draft, *ours;
	} vdafs[] = {
		{ "Prio3Count", "count" },
		{ "Prio3Sum", "sum" },
		{ "Prio3SumVec", "sumvec" },
		{ "Prio3Histogram", "histogram" },
	};
	static const struct {
		const char *from, *to;
	} strs[] = {
		{ "task_id", "id" },
		{ "role", "role" },
		{ "leader", "leader_url" },
		{ "helper", "helper_url" },
		{ "vdaf_verify_key", "verify_key" },
		{ "leader_authentication_token", "aggregator_auth_token" },
		{ "collector_authentication_token", "collector_auth_token" },
		{ "collector_hpke_config", "collector_hpke_config" },
	};
	static const struct {
		const char *from, *to;
		double def;
	} nums[] = {
		{ "max_batch_query_count", "max_batch_query_count", 1 },
		{ "min_batch_size", "min_batch_size", 1 },
		{ "max_batch_size", "max_batch_size", 0 },
		{ "time_precision", "time_precision", 3600 },
		{ "task_expiration", "task_expiration", 0 },
	};
	cJSON *rec = cJSON_CreateObject();
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, strs[i].from);
		if (cJSON_IsString(v))
			cJSON_AddStringToObject(rec, strs[i].to, v->valuestring);
	}
	double d, qt;
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		if (num(j, nums[i].from, nums[i].def, &d)) {
			snprintf(err, errlen, "%s: expected a number", nums[i].from);
			cJSON_Delete(rec);
			return NULL;
		}
		cJSON_AddNumberToObject(rec, nums[i].to, d);
	}
	if (num(j, "query_type", 1, &qt) || (qt != 1 && qt != 2)) {
		snprintf(err, errlen, "query_type: expected 1 (time_interval) or 2 (fixed_size)");
		cJSON_Delete(rec);
		return NULL;
	}
	cJSON_AddStringToObject(rec, "query", qt == 2 ? "fixed_size" : "time_interval");
	const cJSON *vd = cJSON_GetObjectItemCaseSensitive(j, "vdaf");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(vd, "type");
	const char *ours = NULL;
	for (size_t i = 0; cJSON_IsString(type) && i < sizeof vdafs / sizeof vdafs[0]; i++)
		if (!strcmp(type->valuestring, vdafs[i].draft))
			ours = vdafs[i].ours;
	if (!ours) {
		snprintf(err, errlen, "vdaf.type: expected Prio3Count, Prio3Sum, Prio3SumVec or Prio3Histogram");
		cJSON_Delete(rec);
		return NULL;
	}
	cJSON_AddStringToObject(rec, "vdaf", ours);
	static const char *const params[] = { "bits", "length", "chunk_length" };
	for (size_t i = 0; i < 3; i++) {
		if (num(vd, params[i], 0, &d)) {
			snprintf(err, errlen, "vdaf.%s: expected a number", params[i]);
			cJSON_Delete(rec);
			return NULL;
		}
		cJSON_AddNumberToObject(rec, params[i], d);
	}
	return rec;
}

struct add_ctx {
	struct tb_http_request *req;
	struct dap_aggregator *agg;
	struct dap_task task;
};

static void added(int status, void *arg)
{
	struct add_ctx *a = arg;
	struct dap_service *svc = a->agg->svc;
	svc->inflight--;
	if (!status)
		status = dap_cache_task(a->agg, &a->task);
	if (status)
		reply(a->req, "error", tb_strerror(status), NULL, NULL);
	else
		reply(a->req, "success", NULL, NULL, NULL);
	memset(&a->task, 0, sizeof a->task);
	free(a);
	dap_service_check_stopped(svc);
}

static int add_task(struct tb_http_request *req, void *arg)
{
	struct dap_service *svc = arg;
	char err[256] = "";
	cJSON *j = body_json(req);
	cJSON *rec = j ? dap_interop_task_record(j, err, sizeof err) : NULL;
	cJSON_Delete(j);
	if (!rec)
		return reply(req, "error", *err ? err : "the body is not JSON", NULL, NULL);
	struct add_ctx *a = calloc(1, sizeof *a);
	if (!a) {
		cJSON_Delete(rec);
		return TB_ERR_NOMEM;
	}
	int rc = dap_task_from_json(rec, &a->task, err, sizeof err);
	cJSON_Delete(rec);
	int k = a->task.role;
	if (!rc && ((k == DAP_AGG_LEADER && !svc->run_leader) || (k == DAP_AGG_HELPER && !svc->run_helper))) {
		snprintf(err, sizeof err, "role: this instance does not serve it");
		rc = TB_ERR_INVALID;
	}
	if (rc) {
		free(a);
		return reply(req, "error", err, NULL, NULL);
	}
	a->req = req;
	a->agg = &svc->agg[k];
	if ((rc = dap_db_put_task(svc->core->store, a->agg->name, &a->task, added, a))) {
		free(a);
		return reply(req, "error", tb_strerror(rc), NULL, NULL);
	}
	svc->inflight++;
	return TB_HTTP_LATER;
}

int dap_interop_mount(struct dap_service *svc)
{
	svc->interop_routes[0] = (struct tb_http_route_def){ "POST", "/ready", ready, 0 };
	svc->interop_routes[1] = (struct tb_http_route_def){ "POST", "/endpoint_for_task", endpoint_for_task,
							     INTEROP_MAX_BODY };
	svc->interop_routes[2] = (struct tb_http_route_def){ "POST", "/add_task", add_task, INTEROP_MAX_BODY };
	svc->interop_table = (struct tb_http_table){ svc->interop_routes, 3, NULL };
	return tb_http_mount(svc->core->http, svc->listener, "/internal/test/", &svc->interop_table, svc);
}
