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
 *
 * The client and collector roles (dap.role = "client" or "collector", as
 * `trustbox dap interop client|collector` runs them) serve the draft's
 * upload, add_task, collection_start and collection_poll. Each upload or
 * collection runs `trustbox dap upload|collect` as a child process of this
 * one: those commands are synchronous (they run their own requests to
 * completion) and are the tested client and collector, so the API only maps
 * the draft's JSON onto their flags and their output back onto the draft's
 * JSON, and the server's loop never blocks. A collector task's HPKE key is
 * generated at add_task and kept as a credential file in the data
 * directory (the process's working directory).
 */
#include "dap/dap_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crypto.h"
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
	/* Each task its own HPKE key, as Janus's interop aggregator gives it. */
	a->task.own_hpke_key = 1;
	if (!a->task.has_own_key && (rc = dap_task_make_key(&a->task, a->agg))) {
		free(a);
		return reply(req, "error", tb_strerror(rc), NULL, NULL);
	}
	if ((rc = dap_db_put_task(svc->core->store, a->agg->name, &a->task, added, a))) {
		free(a);
		return reply(req, "error", tb_strerror(rc), NULL, NULL);
	}
	svc->inflight++;
	return TB_HTTP_LATER;
}


/* ---- client and collector roles ------------------------------------------- */

#define INTEROP_MAX_ARGS 32
#define INTEROP_MAX_OUTPUT (1u << 20)

/* One child `trustbox dap ...`: its output, and who waits for it. */
struct child {
	uv_process_t proc;
	uv_pipe_t out;
	struct tb_bytes text;
	int exited, out_closed, code;
	int reaped; /* exit_cb ran: the pid is no longer ours to signal */
	struct dap_service *svc;
	struct tb_http_request *req; /* upload: answered at exit; NULL for a collection */
	struct child *next;          /* collections, kept for polling */
	char handle[48];
};

struct collector_task {
	char task_id[64];
	char leader[DAP_MAX_URL];
	char vdaf_flags[128]; /* --vdaf ... --bits ... */
	char cred_file[96];
	struct collector_task *next;
};

static struct collector_task *ctasks;
static struct child *collections;

static void child_done(struct child *c)
{
	if (!c->exited || !c->out_closed)
		return;
	struct dap_service *svc = c->svc;
	svc->inflight--;
	if (c->req) {
		if (c->code)
			reply(c->req, "error", "the upload failed", NULL, NULL);
		else
			reply(c->req, "success", NULL, NULL, NULL);
		tb_bytes_free(&c->text);
		free(c);
	}
	dap_service_check_stopped(svc);
}

static void closed_proc(uv_handle_t *h)
{
	struct child *c = h->data;
	c->exited = 1;
	child_done(c);
}

static void closed_pipe(uv_handle_t *h)
{
	struct child *c = h->data;
	c->out_closed = 1;
	child_done(c);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct child *c = p->data;
	c->code = sig ? 128 + sig : (int)status;
	c->reaped = 1;
	uv_close((uv_handle_t *)p, closed_proc);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	static char scratch[16384];
	buf->base = scratch;
	buf->len = sizeof scratch;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct child *c = s->data;
	if (n > 0 && c->text.len + (size_t)n <= INTEROP_MAX_OUTPUT)
		tb_bytes_append(&c->text, buf->base, (size_t)n);
	if (n < 0)
		uv_close((uv_handle_t *)s, closed_pipe);
}

static void free_closed(uv_handle_t *h)
{
	free(h->data);
}

static void failed_closed(uv_handle_t *h)
{
	struct child *c = h->data;
	uv_close((uv_handle_t *)&c->out, free_closed);
}

/* Runs this binary with args (argv[0] filled in); stdout is collected, stderr inherited. */
static int spawn_self(struct dap_service *svc, struct child *c, char **args)
{
	c->svc = svc;
	c->proc.data = c->out.data = c;
	uv_pipe_init(svc->core->loop, &c->out, 0);
	uv_stdio_container_t io[3] = {
		{ .flags = UV_IGNORE },
		{ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out },
		{ .flags = UV_INHERIT_FD, .data.fd = 2 },
	};
	uv_process_options_t o = { .file = "/proc/self/exe", .args = args, .exit_cb = on_exit_cb,
				   .stdio = io, .stdio_count = 3 };
	int rc = uv_spawn(svc->core->loop, &c->proc, &o);
	if (rc) {
		TB_ERROR("dap", "interop: cannot run %s: %s", args[1], uv_strerror(rc));
		/* uv_spawn initialised the process handle even so: both are closed, then c is
		 * freed; it is no longer the caller's. */
		uv_close((uv_handle_t *)&c->proc, failed_closed);
		return TB_ERR_IO;
	}
	uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read);
	svc->inflight++;
	return 0;
}

/* A string member, or a number member as its decimal text. */
static const char *text_of(const cJSON *o, const char *name, char *buf, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (cJSON_IsString(v))
		return v->valuestring;
	if (cJSON_IsNumber(v)) {
		snprintf(buf, len, "%.0f", v->valuedouble);
		return buf;
	}
	return NULL;
}

/* The draft's vdaf object as `dap upload|collect` flags. */
static int vdaf_flags(const cJSON *vd, char *out, size_t len)
{
	static const struct {
		const char *draft, *ours;
	} vdafs[] = { { "Prio3Count", "count" }, { "Prio3Sum", "sum" }, { "Prio3SumVec", "sumvec" },
		      { "Prio3Histogram", "histogram" } };
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(vd, "type");
	const char *ours = NULL;
	for (size_t i = 0; cJSON_IsString(type) && i < sizeof vdafs / sizeof vdafs[0]; i++)
		if (!strcmp(type->valuestring, vdafs[i].draft))
			ours = vdafs[i].ours;
	if (!ours)
		return TB_ERR_INVALID;
	char b[3][24];
	const char *bits = text_of(vd, "bits", b[0], sizeof b[0]);
	const char *length = text_of(vd, "length", b[1], sizeof b[1]);
	const char *chunk = text_of(vd, "chunk_length", b[2], sizeof b[2]);
	int n = snprintf(out, len, "%s %s %s %s", ours, bits && *bits ? bits : "0",
			 length && *length ? length : "0", chunk && *chunk ? chunk : "0");
	for (const char *p = bits; p && *p; p++)
		if (*p < '0' || *p > '9')
			return TB_ERR_INVALID;
	for (const char *p = length; p && *p; p++)
		if (*p < '0' || *p > '9')
			return TB_ERR_INVALID;
	for (const char *p = chunk; p && *p; p++)
		if (*p < '0' || *p > '9')
			return TB_ERR_INVALID;
	return n < 0 || (size_t)n >= len ? TB_ERR_INVALID : 0;
}

/* Splits "vdaf bits length chunk" into the four flags' values. */
static void flag_args(char *flags, char **args, int *n)
{
	static const char *const names[] = { "--vdaf", "--bits", "--length", "--chunk-length" };
	char *save = NULL, *tok = strtok_r(flags, " ", &save);
	for (int i = 0; i < 4 && tok; i++, tok = strtok_r(NULL, " ", &save)) {
		args[(*n)++] = (char *)names[i];
		args[(*n)++] = tok;
	}
}

static int plain(const char *s)
{
	/* Values passed as arguments: no option look-alikes. */
	return s && *s && *s != '-' && strlen(s) < DAP_MAX_URL;
}

/*
 * A task or batch id in base64url, which may begin with '-' (one id in 64
 * does). Safe as an argument all the same: the dap commands take the word
 * after a flag as its value, whatever it looks like.
 */
static int b64id(const char *s)
{
	if (!s || !*s || strlen(s) >= DAP_MAX_URL)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
			*s == '_'))
			return 0;
	return 1;
}

/*
 * The client's UploadRequest as `trustbox dap upload` arguments (u->args,
 * pointing into j and u). NULL, or what is wrong with it.
 */
const char *dap_interop_upload_argv(const cJSON *j, struct dap_interop_upload *u)
{
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(j, "task_id");
	const cJSON *leader = cJSON_GetObjectItemCaseSensitive(j, "leader");
	const cJSON *helper = cJSON_GetObjectItemCaseSensitive(j, "helper");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "measurement"), *it;
	const char *when = text_of(j, "time", u->tbuf, sizeof u->tbuf);
	const char *prec = text_of(j, "time_precision", u->pbuf, sizeof u->pbuf);
	u->n = 0;
	u->meas[0] = 0;
	if (!j)
		return "the body is not JSON";
	if (!cJSON_IsString(task) || !b64id(task->valuestring))
		return "task_id: expected base64url";
	if (!cJSON_IsString(leader) || !plain(leader->valuestring) || !cJSON_IsString(helper) ||
	    !plain(helper->valuestring))
		return "leader, helper: expected URLs";
	if (vdaf_flags(cJSON_GetObjectItemCaseSensitive(j, "vdaf"), u->flags, sizeof u->flags))
		return "vdaf: expected Prio3Count, Prio3Sum, Prio3SumVec or Prio3Histogram with numeric parameters";
	if ((when && !plain(when)) || (prec && !plain(prec)))
		return "time, time_precision: expected numbers";
	/* A number (as a string or not), or an array of them for Prio3SumVec. */
	size_t ml = 0;
	if (cJSON_IsArray(m)) {
		cJSON_ArrayForEach(it, m) {
			char nb[32];
			const char *v = cJSON_IsString(it) ? it->valuestring :
					cJSON_IsNumber(it) ? (snprintf(nb, sizeof nb, "%.0f", it->valuedouble), nb) : NULL;
			if (!plain(v) || ml + strlen(v) + 2 > sizeof u->meas)
				return "measurement: expected numbers";
			ml += (size_t)snprintf(u->meas + ml, sizeof u->meas - ml, "%s%s", ml ? "," : "", v);
		}
	} else {
		const char *v = cJSON_IsString(m) ? m->valuestring : NULL;
		char nb[32];
		if (cJSON_IsNumber(m))
			v = (snprintf(nb, sizeof nb, "%.0f", m->valuedouble), nb);
		if (!plain(v))
			return "measurement: expected a number";
		snprintf(u->meas, sizeof u->meas, "%s", v);
	}
	char **args = u->args;
	int n = 0;
	args[n++] = "trustbox";
	args[n++] = "dap";
	args[n++] = "upload";
	args[n++] = "--task-id";
	args[n++] = task->valuestring;
	args[n++] = "--leader";
	args[n++] = leader->valuestring;
	args[n++] = "--helper";
	args[n++] = helper->valuestring;
	args[n++] = "--measurement";
	args[n++] = u->meas;
	if (when) {
		args[n++] = "--time";
		args[n++] = (char *)when;
	}
	if (prec) {
		args[n++] = "--time-precision";
		args[n++] = (char *)prec;
	}
	flag_args(u->flags, args, &n);
	args[n] = NULL;
	u->n = n;
	return NULL;
}

static int client_upload(struct tb_http_request *req, void *arg)
{
	struct dap_service *svc = arg;
	cJSON *j = body_json(req);
	struct dap_interop_upload u;
	const char *bad = dap_interop_upload_argv(j, &u);
	if (bad) {
		cJSON_Delete(j);
		return reply(req, "error", bad, NULL, NULL);
	}
	char **args = u.args;
	struct child *c = calloc(1, sizeof *c);
	int rc = c ? 0 : TB_ERR_NOMEM;
	if (c) {
		c->req = req;
		if ((rc = spawn_self(svc, c, args)))
			c = NULL; /* freed when its pipe closes */
	}
	cJSON_Delete(j);
	if (rc) {
		free(c);
		return reply(req, "error", tb_strerror(rc), NULL, NULL);
	}
	return TB_HTTP_LATER;
}

static int collector_add_task(struct tb_http_request *req, void *arg)
{
	(void)arg;
	cJSON *j = body_json(req);
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(j, "task_id");
	const cJSON *leader = cJSON_GetObjectItemCaseSensitive(j, "leader");
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "collector_authentication_token");
	uint8_t id[DAP_TASK_ID_LEN];
	struct collector_task *t = calloc(1, sizeof *t);
	const char *bad = NULL;
	if (!t) {
		cJSON_Delete(j);
		return TB_ERR_NOMEM;
	}
	if (!j)
		bad = "the body is not JSON";
	else if (!cJSON_IsString(task) || dap_unb64url_exact(task->valuestring, id, sizeof id))
		bad = "task_id: expected 32 bytes in base64url";
	else if (!cJSON_IsString(leader) || !plain(leader->valuestring))
		bad = "leader: expected a URL";
	else if (!cJSON_IsString(tok) || !*tok->valuestring || strlen(tok->valuestring) >= DAP_MAX_TOKEN)
		bad = "collector_authentication_token: expected a token";
	else if (vdaf_flags(cJSON_GetObjectItemCaseSensitive(j, "vdaf"), t->vdaf_flags, sizeof t->vdaf_flags))
		bad = "vdaf: expected Prio3Count, Prio3Sum, Prio3SumVec or Prio3Histogram with numeric parameters";
	for (struct collector_task *o = ctasks; !bad && o; o = o->next)
		if (!strcmp(o->task_id, task->valuestring))
			bad = "task_id: a task with this id was added already";
	if (bad) {
		free(t);
		cJSON_Delete(j);
		return reply(req, "error", bad, NULL, NULL);
	}
	snprintf(t->task_id, sizeof t->task_id, "%s", task->valuestring);
	snprintf(t->leader, sizeof t->leader, "%s", leader->valuestring);
	snprintf(t->cred_file, sizeof t->cred_file, "interop-collector-%s.json", t->task_id);
	/* A fresh X25519 key for the task, kept where `dap collect` reads it. */
	struct dap_hpke_keypair kp;
	struct dap_hpke_config cfg = { 1, DAP_HPKE_KEM_X25519_SHA256, DAP_HPKE_KDF_SHA256,
				       DAP_HPKE_AEAD_AES128GCM, TB_BUF(NULL, 0) };
	struct tb_bytes enc = { 0 };
	char sk[64], pk[64], out[128];
	int rc = dap_hpke_keygen(DAP_HPKE_KEM_X25519_SHA256, &kp);
	cfg.public_key = TB_BUF(kp.pk, kp.pk_len);
	if (!rc)
		rc = dap_hpke_config_encode(&cfg, &enc);
	if (!rc && (dap_b64url(kp.sk, kp.sk_len, sk, sizeof sk) < 0 || dap_b64url(kp.pk, kp.pk_len, pk, sizeof pk) < 0 ||
		    dap_b64url(enc.p, enc.len, out, sizeof out) < 0))
		rc = TB_ERR_INVALID;
	FILE *f = rc ? NULL : fopen(t->cred_file, "w");
	if (!rc && (!f || fprintf(f, "{\"aead\":\"AesGcm128\",\"id\":1,\"kdf\":\"Sha256\",\"kem\":\"X25519HkdfSha256\","
				     "\"private_key\":\"%s\",\"public_key\":\"%s\",\"token\":\"%s\"}\n",
				  sk, pk, tok->valuestring) < 0))
		rc = TB_ERR_IO;
	if (f && fclose(f) && !rc)
		rc = TB_ERR_IO;
	tb_crypto_wipe(&kp, sizeof kp);
	tb_crypto_wipe(sk, sizeof sk);
	tb_bytes_free(&enc);
	cJSON_Delete(j);
	if (rc) {
		free(t);
		return reply(req, "error", tb_strerror(rc), NULL, NULL);
	}
	t->next = ctasks;
	ctasks = t;
	return reply(req, "success", NULL, "collector_hpke_config", out);
}

static int collection_start(struct tb_http_request *req, void *arg)
{
	struct dap_service *svc = arg;
	cJSON *j = body_json(req);
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(j, "task_id");
	const cJSON *agg = cJSON_GetObjectItemCaseSensitive(j, "agg_param");
	const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, "query");
	const cJSON *bid = cJSON_GetObjectItemCaseSensitive(q, "batch_id");
	char b1[32], b2[32], b3[32], flags[128];
	const char *type = text_of(q, "type", b1, sizeof b1);
	const char *start = text_of(q, "batch_interval_start", b2, sizeof b2);
	const char *dur = text_of(q, "batch_interval_duration", b3, sizeof b3);
	struct collector_task *t = NULL;
	const char *bad = NULL;
	for (struct collector_task *o = ctasks; cJSON_IsString(task) && o; o = o->next)
		if (!strcmp(o->task_id, task->valuestring))
			t = o;
	if (!j)
		bad = "the body is not JSON";
	else if (!t)
		bad = "task_id: no such task was added";
	else if (agg && (!cJSON_IsString(agg) || *agg->valuestring))
		bad = "agg_param: Prio3 takes none (expected \"\")";
	else if (!type || (strcmp(type, "1") && strcmp(type, "2")))
		bad = "query.type: expected 1 (time_interval) or 2 (fixed_size)";
	else if (!strcmp(type, "1") && (!plain(start) || !plain(dur)))
		bad = "query: batch_interval_start and batch_interval_duration expected";
	else if (bid && (!cJSON_IsString(bid) || !b64id(bid->valuestring)))
		bad = "query.batch_id: expected base64url";
	if (bad) {
		cJSON_Delete(j);
		return reply(req, "error", bad, NULL, NULL);
	}
	char *args[INTEROP_MAX_ARGS];
	int n = 0;
	args[n++] = "trustbox";
	args[n++] = "dap";
	args[n++] = "collect";
	args[n++] = "--task-id";
	args[n++] = t->task_id;
	args[n++] = "--leader";
	args[n++] = t->leader;
	args[n++] = "--collector-credential-file";
	args[n++] = t->cred_file;
	args[n++] = "--timeout";
	args[n++] = "120";
	if (!strcmp(type, "1")) {
		args[n++] = "--batch-interval-start";
		args[n++] = (char *)start;
		args[n++] = "--batch-interval-duration";
		args[n++] = (char *)dur;
	} else if (bid) {
		args[n++] = "--batch-id";
		args[n++] = bid->valuestring;
	} else {
		args[n++] = "--current-batch";
	}
	snprintf(flags, sizeof flags, "%s", t->vdaf_flags);
	flag_args(flags, args, &n);
	args[n] = NULL;
	struct child *c = calloc(1, sizeof *c);
	uint8_t h[16];
	int rc = c ? tb_random(h, sizeof h) : TB_ERR_NOMEM;
	if (!rc) {
		dap_b64url(h, sizeof h, c->handle, sizeof c->handle);
		if ((rc = spawn_self(svc, c, args)))
			c = NULL; /* freed when its pipe closes */
	}
	cJSON_Delete(j);
	if (rc) {
		free(c);
		return reply(req, "error", tb_strerror(rc), NULL, NULL);
	}
	c->next = collections;
	collections = c;
	return reply(req, "success", NULL, "handle", c->handle);
}

/* Big aggregates lose nothing: the value is taken from the text, not from cJSON's double. */
static cJSON *aggregate_strings(const char *text)
{
	const char *p = strstr(text, "\"aggregate\":");
	if (!p)
		return NULL;
	p += strlen("\"aggregate\":");
	int vec = *p == '[';
	cJSON *arr = vec ? cJSON_CreateArray() : NULL;
	if (vec)
		p++;
	for (;;) {
		char b[64];
		size_t k = 0;
		while ((*p == '-' || (*p >= '0' && *p <= '9')) && k + 1 < sizeof b)
			b[k++] = *p++;
		b[k] = 0;
		if (!k)
			break;
		if (!vec)
			return cJSON_CreateString(b);
		cJSON_AddItemToArray(arr, cJSON_CreateString(b));
		if (*p != ',')
			break;
		p++;
	}
	return arr;
}

/* `trustbox dap collect`'s output as the draft's completed CollectPollResponse, or NULL. */
cJSON *dap_interop_collection_json(const char *text, size_t len)
{
	char *z = malloc(len + 1);
	if (!z)
		return NULL;
	memcpy(z, text ? text : "", text ? len : 0);
	z[text ? len : 0] = 0;
	cJSON *res = cJSON_ParseWithLength(z, strlen(z));
	cJSON *agg = res ? aggregate_strings(z) : NULL;
	free(z);
	if (!agg) {
		cJSON_Delete(res);
		return NULL;
	}
	const cJSON *iv = cJSON_GetObjectItemCaseSensitive(res, "interval");
	const cJSON *bid = cJSON_GetObjectItemCaseSensitive(res, "batch_id");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", "complete");
	if (cJSON_IsString(bid))
		cJSON_AddStringToObject(o, "batch_id", bid->valuestring);
	const cJSON *rc_ = cJSON_GetObjectItemCaseSensitive(res, "report_count");
	cJSON_AddNumberToObject(o, "report_count", cJSON_IsNumber(rc_) ? rc_->valuedouble : 0);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(iv, "start");
	const cJSON *du = cJSON_GetObjectItemCaseSensitive(iv, "duration");
	cJSON_AddNumberToObject(o, "interval_start", cJSON_IsNumber(st) ? st->valuedouble : 0);
	cJSON_AddNumberToObject(o, "interval_duration", cJSON_IsNumber(du) ? du->valuedouble : 0);
	cJSON_AddItemToObject(o, "result", agg);
	cJSON_Delete(res);
	return o;
}

static int collection_poll(struct tb_http_request *req, void *arg)
{
	(void)arg;
	cJSON *j = body_json(req);
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "handle");
	struct child *c = NULL;
	for (struct child *o = collections; cJSON_IsString(h) && o; o = o->next)
		if (!strcmp(o->handle, h->valuestring))
			c = o;
	cJSON_Delete(j);
	if (!c)
		return reply(req, "error", "handle: no such collection", NULL, NULL);
	if (!c->exited || !c->out_closed)
		return reply(req, "in progress", NULL, NULL, NULL);
	cJSON *o = c->code ? NULL : dap_interop_collection_json((const char *)c->text.p, c->text.len);
	if (!o)
		return reply(req, "error", "the collection failed", NULL, NULL);
	int rc = tb_http_respond_json(req, 200, o);
	cJSON_Delete(o);
	return rc;
}

int dap_interop_mount(struct dap_service *svc)
{
	struct tb_http_route_def *r = svc->interop_routes;
	size_t n = 0;
	r[n++] = (struct tb_http_route_def){ "POST", "/ready", ready, 0 };
	if (svc->interop_role == DAP_INTEROP_CLIENT) {
		r[n++] = (struct tb_http_route_def){ "POST", "/upload", client_upload, INTEROP_MAX_BODY };
	} else if (svc->interop_role == DAP_INTEROP_COLLECTOR) {
		r[n++] = (struct tb_http_route_def){ "POST", "/add_task", collector_add_task, INTEROP_MAX_BODY };
		r[n++] = (struct tb_http_route_def){ "POST", "/collection_start", collection_start, INTEROP_MAX_BODY };
		r[n++] = (struct tb_http_route_def){ "POST", "/collection_poll", collection_poll, INTEROP_MAX_BODY };
	} else {
		r[n++] = (struct tb_http_route_def){ "POST", "/endpoint_for_task", endpoint_for_task, INTEROP_MAX_BODY };
		r[n++] = (struct tb_http_route_def){ "POST", "/add_task", add_task, INTEROP_MAX_BODY };
	}
	svc->interop_table = (struct tb_http_table){ svc->interop_routes, n, NULL };
	return tb_http_mount(svc->core->http, svc->listener, "/internal/test/", &svc->interop_table, svc);
}

/* Stopping: collections still running end now (their child is told to stop) rather than at their timeout. */
void dap_interop_stop(void)
{
	for (struct child *c = collections; c; c = c->next)
		if (!c->reaped)
			uv_process_kill(&c->proc, SIGTERM);
}

/* Frees what the client and collector roles keep (tasks, finished collections). */
void dap_interop_free(void)
{
	while (ctasks) {
		struct collector_task *t = ctasks;
		ctasks = t->next;
		free(t);
	}
	while (collections) {
		struct child *c = collections;
		collections = c->next;
		tb_bytes_free(&c->text);
		free(c);
	}
}

/* ---- `trustbox dap interop ROLE` ---------------------------------------------- */

static int interop_usage(void)
{
	fprintf(stderr, "usage: trustbox dap interop client|aggregator|collector [--port N (8080)]\n"
			"         [--listen ADDR (127.0.0.1)] [--data-dir DIR (.)]\n");
	return 2;
}

/*
 * The draft's container entry point: writes the configuration that runs only
 * what the role needs (DAP and the HTTP server on the one port; no ACME, CT,
 * DNS or status) into the data directory and becomes `trustbox run` with it,
 * so it is the same process, with the same signals and clean stop, as any
 * other instance. core.banner = "line": one line when ready.
 */
int dap_interop_command(int argc, char **argv)
{
	const char *role = argc > 0 ? argv[0] : "", *addr = "127.0.0.1", *dir = ".";
	long long port = 8080;
	const struct dap_flag flags[] = {
		{ "--port", DAP_FLAG_INT, &port, 1, 65535 },
		{ "--listen", DAP_FLAG_STRING, &addr, 0, 0 },
		{ "--data-dir", DAP_FLAG_STRING, &dir, 0, 0 },
	};
	int prc = argc > 0 ? dap_parse_flags("interop", flags, DAP_NFLAGS(flags), argc - 1, argv + 1) : 0;
	if (prc)
		return prc == 1 ? interop_usage() : 2;
	const char *dap_role = !strcmp(role, "aggregator") ? "both" :
			       !strcmp(role, "client")	   ? "client" :
			       !strcmp(role, "collector")  ? "collector" : NULL;
	/* The address goes into a Lua string: an IP literal or a host name, nothing else. */
	int addr_ok = *addr && strlen(addr) < 256;
	for (const char *p = addr; *p; p++)
		if (!strchr("0123456789abcdefABCDEFghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ.:-", *p))
			addr_ok = 0;
	if (!dap_role || !addr_ok)
		return interop_usage();
	if (chdir(dir)) {
		fprintf(stderr, "trustbox: --data-dir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	static const char file[] = "trustbox-interop.lua";
	FILE *f = fopen(file, "w");
	if (!f || fprintf(f,
			  "-- written by `trustbox dap interop %s`\n"
			  "core { data_dir = \".\", banner = \"line\", log_level = \"warn\" }\n"
			  "if acme then acme { enabled = false } end\n"
			  "if ctlog then ctlog { enabled = false } end\n"
			  "if dns then dns { enabled = false } end\n"
			  "if status then status { enabled = false } end\n"
			  "listen { name = \"interop\", address = \"%s\", port = %lld, tls = false }\n"
			  "dap { role = \"%s\", interop_api = true, demo_task = false, listener = \"interop\",\n"
			  "      aggregation_period_ms = 100 }\n",
			  role, addr, port, dap_role) < 0 || fclose(f)) {
		fprintf(stderr, "trustbox: cannot write %s/%s\n", dir, file);
		return 1;
	}
	fflush(NULL);
	char *args[] = { "trustbox", "run", "-c", (char *)file, NULL };
	execv("/proc/self/exe", args);
	fprintf(stderr, "trustbox: cannot run: %s\n", strerror(errno));
	return 1;
}
