/*
 * DESIGN: the HTTP face of the DAP aggregators. Each aggregator of the
 * process mounts its own route table under its prefix (/dap/leader/,
 * /dap/helper/) on the HTTPS listener, with itself as state, so the two
 * never see each other's tasks or keys.
 *
 * Both: GET hpke_config[?task_id=] -> HpkeConfigList of the active keys.
 * Leader: PUT tasks/{task_id}/reports -> the upload pipeline (upload.c),
 * answered 200 after the store commit.
 *
 * Errors are DAP problem documents (application/problem+json with the
 * draft's type URN, title, status and, where the request named a task, its
 * id as "taskid"), which is also how @divviup/dap reads them. A request
 * body with another media type than the route's gets 415 (invalidMessage);
 * core's 404 and 405 are worded the same way by the table's renderer.
 */
#include "dap/dap_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
		if (dap_unb64url_exact(q, id, DAP_TASK_ID_LEN))
			return respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 0, NULL,
					       "task_id is not 32 bytes of base64url");
		if (!dap_find_task(agg, id))
			return respond_problem(req, DAP_PROBLEM_UNRECOGNIZED_TASK, 0, id, NULL);
	}
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
		respond_doc(u->req, 500, "about:blank", "Internal Server Error", u->task_id, detail);
}

static int put_report(struct tb_http_request *req, void *arg)
{
	struct dap_aggregator *agg = arg;
	uint8_t id[DAP_TASK_ID_LEN];
	if (path_task_id(req, id))
		return respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 0, NULL,
				       "the task id in the path is not 32 bytes of base64url");
	if (!media_type_is(req, DAP_MT_REPORT))
		return respond_problem(req, DAP_PROBLEM_INVALID_MESSAGE, 415, id,
				       "expected Content-Type: " DAP_MT_REPORT);
	struct dap_task *task = dap_find_task(agg, id);
	if (!task || task->role != DAP_AGG_LEADER)
		return respond_problem(req, DAP_PROBLEM_UNRECOGNIZED_TASK, 0, id, NULL);
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
	int rc = dap_leader_upload(agg, task, req->body, (uint64_t)time(NULL), upload_done, u, &detail);
	if (rc == DAP_PENDING)
		return TB_HTTP_LATER;
	if (rc >= 0)
		return respond_problem(req, (enum dap_problem)rc, 0, id, detail);
	TB_WARN("dap", "%s: upload failed: %s", agg->name, tb_strerror(rc));
	return respond_doc(req, 500, "about:blank", "Internal Server Error", id, NULL);
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
	if (agg->kind == DAP_AGG_LEADER)
		agg->routes[n++] = (struct tb_http_route_def){ "PUT", "/tasks/{task_id}/reports",
							       put_report, svc->max_upload_bytes };
	agg->table = (struct tb_http_table){ agg->routes, n, render_error };
	return tb_http_mount(svc->core->http, svc->listener, agg->prefix, &agg->table, agg);
}
