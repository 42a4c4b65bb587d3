/*
 * DESIGN: the trustbox command line and the appliance's lifecycle.
 *
 *   parse CLI -> Lua config (embedded default, then the user's file) ->
 *   configure every subsystem (all config errors surface here) -> open the
 *   store, migrate -> CA material -> HTTP listeners -> start subsystems ->
 *   print one line per service -> run the loop -> SIGINT/SIGTERM: stop HTTP
 *   (no new requests, drain in-flight ones while the subsystems still run),
 *   then stop the subsystems in reverse start order (async), then close the
 *   signal handles; the loop ends, the store commits what is queued and
 *   closes, exit 0.
 *
 * Subsystems are listed in one static table. Those of the four protocol
 * subsystems present in the build are found through weak references, so a
 * tree without, say, dap/ still links; their libraries are linked whole.
 *
 * Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/ca.h"
#include "core/config.h"
#include "core/error.h"
#include "core/http.h"
#include "core/log.h"
#include "core/services.h"
#include "core/status.h"
#include "core/store.h"
#include "core/subsystem.h"
#include "core/tls.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

#define DATA_DIR_MAX 1024          /* core.data_dir, with its NUL */
#define STORE_FILE "trustbox.db"   /* the store under data_dir when core.store is empty */
/* Room for <data_dir>/trustbox.db, or a core.store path of the same length. */
#define STORE_PATH_MAX (DATA_DIR_MAX + sizeof "/" STORE_FILE - 1)

extern const struct tb_subsystem acme_subsystem __attribute__((weak));
extern const struct tb_subsystem ctlog_subsystem __attribute__((weak));
extern const struct tb_subsystem dap_subsystem __attribute__((weak));
extern const struct tb_subsystem dns_subsystem __attribute__((weak));

/* Order matters: providers of services (dns: tb_resolver, ctlog: tb_ct_submitter) start first. */
static const struct tb_subsystem *subsystems[8];

static void build_table(void)
{
	size_t n = 0;
	subsystems[n++] = &tb_status_subsystem;
	if (&dns_subsystem)
		subsystems[n++] = &dns_subsystem;
	if (&ctlog_subsystem)
		subsystems[n++] = &ctlog_subsystem;
	if (&acme_subsystem)
		subsystems[n++] = &acme_subsystem;
	if (&dap_subsystem)
		subsystems[n++] = &dap_subsystem;
	subsystems[n] = NULL;
}

/* Every section of every subsystem (core's own are added by tb_config_new). */
static size_t collect_sections(const struct tb_section_def **out, size_t cap)
{
	size_t n = 0;
	for (const struct tb_subsystem *const *s = subsystems; *s; s++)
		for (const struct tb_section_def *const *d = (*s)->sections; d && *d && n < cap; d++)
			out[n++] = *d;
	return n;
}

static void usage_main(FILE *f)
{
	fprintf(f,
		"usage: trustbox <command> [options]\n"
		"\n"
		"trustbox runs a small, real copy of the Internet's trust infrastructure on one host:\n"
		"an ACME certificate authority, a Certificate Transparency log, a DAP aggregator and\n"
		"a validating DNS resolver, as one process with one store and one Lua configuration.\n"
		"\n"
		"commands:\n"
		"  run [-c FILE]          run the appliance (embedded default config, FILE overrides it)\n"
		"  init [DIR]             write a commented starter DIR/trustbox.lua (default: .)\n"
		"  root [-c FILE]         print the root CA certificate (PEM), creating it if needed\n"
		"  admin token [-c FILE]  print the admin API's bearer token, creating it if needed\n"
		"  config check FILE      check a configuration file and exit\n"
		"  config dump [-c FILE]  print the effective configuration with defaults\n"
		"  config doc             print the configuration reference (Markdown)\n"
		"  version                print the version\n");
	for (const struct tb_subsystem *const *s = subsystems; *s; s++)
		if ((*s)->command)
			fprintf(f, "  %s %s%*s[-c FILE] (see trustbox %s --help)\n", (*s)->name, (*s)->command_usage,
				(int)(16 - strlen((*s)->name) - strlen((*s)->command_usage)) > 0
					? (int)(16 - strlen((*s)->name) - strlen((*s)->command_usage)) : 1, "",
				(*s)->name);
	fprintf(f, "\nEvery command accepts --help. Exit codes: 0 ok, 1 runtime error, 2 usage or config error.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "trustbox: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try trustbox --help)\n");
	return EXIT_USAGE;
}

static int is_help(const char *s)
{
	return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0 || strcmp(s, "help") == 0;
}

/*
 * Parses `[-c FILE]` and --help for a subcommand. Returns 0 to go on, or -1
 * with the command's exit code in *exit_code (help printed, or a usage error).
 */
static int parse_c_option(int argc, char **argv, const char *help, const char **file, int *exit_code)
{
	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(help, stdout);
			*exit_code = 0;
			return -1;
		}
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				*exit_code = usage_error("%s needs a file name", argv[i]);
				return -1;
			}
			*file = argv[++i];
		} else {
			*exit_code = usage_error("unexpected argument '%s'", argv[i]);
			return -1;
		}
	}
	return 0;
}

/* Loads the configuration: default, then file (may be NULL). NULL and one error line on failure. */
static struct tb_config *load_config(const char *file)
{
	const struct tb_section_def *secs[64];
	size_t n = collect_sections(secs, 64);
	struct tb_config *cfg = tb_config_new(secs, n);
	char err[512];
	if (!cfg) {
		fprintf(stderr, "trustbox: out of memory\n");
		return NULL;
	}
	if (tb_config_run_string(cfg, "=default config", tb_default_config, err, sizeof err) ||
		(file && tb_config_run_file(cfg, file, err, sizeof err)) ||
		tb_config_finish(cfg, err, sizeof err)) {
		fprintf(stderr, "trustbox: config: %s\n", err);
		tb_config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* ---- the running appliance ---- */

struct app {
	struct tb_core core;
	uv_loop_t loop;
	struct tb_services services;
	void *state[8];
	int started[8];
	struct tb_tls_server *tls;
	uv_signal_t sig_int, sig_term, sig_hup;
	const char *config_file;
	int stopping;
	int signals_started; /* the uv_signal_t handles were initialised */
	int pending_stops;
	char store_path[STORE_PATH_MAX];
	char data_dir[DATA_DIR_MAX];
};

static void close_signals(struct app *app)
{
	if (!app->signals_started)
		return;
	uv_close((uv_handle_t *)&app->sig_int, NULL);
	uv_close((uv_handle_t *)&app->sig_term, NULL);
	uv_close((uv_handle_t *)&app->sig_hup, NULL);
}

/*
 * Stop order: the HTTP server first (no new requests; in-flight ones finish
 * within core.shutdown_grace_ms, while the subsystems still run to answer
 * them, e.g. a CT submission waiting for its batch commit), then every
 * subsystem in reverse start order, then the signal handles; the loop then
 * ends and the store commits what is queued when it closes.
 */
static void on_subsystem_stopped(void *arg)
{
	struct app *app = arg;
	if (--app->pending_stops > 0)
		return;
	TB_INFO("core", "stopped");
	close_signals(app);
}

static void on_http_stopped(void *arg)
{
	struct app *app = arg;
	/* One extra count so that synchronous done calls cannot finish early. */
	app->pending_stops = 1;
	for (int i = 7; i >= 0; i--) {
		const struct tb_subsystem *s = subsystems[i];
		if (!s || !app->started[i] || !s->stop)
			continue;
		app->pending_stops++;
		s->stop(app->state[i], on_subsystem_stopped, app);
	}
	on_subsystem_stopped(app);
}

static void begin_stop(struct app *app)
{
	if (app->stopping)
		return;
	app->stopping = 1;
	TB_INFO("core", "stopping");
	if (app->core.http)
		tb_http_server_stop(app->core.http, on_http_stopped, app);
	else
		on_http_stopped(app);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct app *app = h->data;
	if (signum == SIGHUP) {
		/* Re-read and check the configuration; a bad one keeps the running one. */
		struct tb_config *cfg = load_config(app->config_file);
		if (!cfg) {
			TB_ERROR("core", "reload failed; keeping the running configuration");
			return;
		}
		const cJSON *core = tb_config_section(cfg, "core");
		int lvl = tb_log_level_parse(tb_cfg_str(core, "log_level"));
		if (lvl >= 0)
			tb_log_set_level((enum tb_log_level)lvl);
		tb_log_set_json(strcmp(tb_cfg_str(core, "log_format"), "json") == 0);
		TB_INFO("core", "reloaded: log settings applied; listener and subsystem changes take effect at the next start");
		tb_config_free(cfg);
		return;
	}
	begin_stop(app);
}

static void apply_log_settings(const struct tb_config *cfg)
{
	const cJSON *core = tb_config_section(cfg, "core");
	int lvl = tb_log_level_parse(tb_cfg_str(core, "log_level"));
	tb_log_set_level(lvl >= 0 ? (enum tb_log_level)lvl : TB_LOG_INFO);
	tb_log_set_json(strcmp(tb_cfg_str(core, "log_format"), "json") == 0);
}

/* A path that does not fit is refused: cut short, it would name another file. */
static int resolve_paths(struct app *app)
{
	const cJSON *core = tb_config_section(app->core.config, "core");
	const char *store = tb_cfg_str(core, "store");
	int n = snprintf(app->data_dir, sizeof app->data_dir, "%s", tb_cfg_str(core, "data_dir"));
	if (n < 0 || (size_t)n >= sizeof app->data_dir) {
		fprintf(stderr, "trustbox: config: core.data_dir: longer than %d bytes\n", DATA_DIR_MAX - 1);
		return EXIT_USAGE;
	}
	if (store && *store)
		n = snprintf(app->store_path, sizeof app->store_path, "%s", store);
	else
		n = snprintf(app->store_path, sizeof app->store_path, "%s/" STORE_FILE, app->data_dir);
	if (n < 0 || (size_t)n >= sizeof app->store_path) {
		fprintf(stderr, "trustbox: config: core.store: longer than %zu bytes\n", sizeof app->store_path - 1);
		return EXIT_USAGE;
	}
	app->core.data_dir = app->data_dir;
	return 0;
}

static int open_store_and_ca(struct app *app)
{
	int err = tb_store_open(&app->core.store, &app->loop, app->store_path);
	if (err) {
		fprintf(stderr, "trustbox: cannot open the store %s: %s\n", app->store_path, tb_strerror(err));
		return err;
	}
	const cJSON *core = tb_config_section(app->core.config, "core");
	const cJSON *hn = tb_cfg_get(core, "hostnames"), *it;
	const char *names[64];
	size_t n = 0;
	cJSON_ArrayForEach(it, hn) {
		if (n < 64)
			names[n++] = it->valuestring;
	}
	err = tb_ca_load_or_create(&app->core.ca, app->core.store, tb_cfg_str(core, "ca_name"), names, n);
	if (err)
		fprintf(stderr, "trustbox: cannot load or create the CA: %s\n", tb_strerror(err));
	return err;
}

static int open_listeners(struct app *app)
{
	const cJSON *listen = tb_config_section(app->core.config, "listen"), *it;
	if (cJSON_GetArraySize(listen) == 0)
		return 0;
	struct tb_tls_cert cert = {
		.chain = TB_BUF(app->core.ca->server_chain_pem, strlen(app->core.ca->server_chain_pem) + 1),
		.key = TB_BUF(app->core.ca->server_key_pem, strlen(app->core.ca->server_key_pem) + 1),
	};
	static const char *const alpn[] = { "h2", "http/1.1", NULL }; /* ours first: h2 when offered */
	int err = tb_tls_server_new(&app->tls, &cert, 1, alpn);
	if (err) {
		fprintf(stderr, "trustbox: cannot set up TLS: %s\n", tb_strerror(err));
		return err;
	}
	const cJSON *core = tb_config_section(app->core.config, "core");
	err = tb_tls_server_set_resumption(app->tls, (uint32_t)tb_cfg_int(core, "tls_ticket_lifetime_s"),
		(size_t)tb_cfg_int(core, "tls_session_cache_size"),
		(uint32_t)tb_cfg_int(core, "tls_session_cache_timeout_s"));
	if (err) {
		fprintf(stderr, "trustbox: cannot set up TLS session resumption: %s\n", tb_strerror(err));
		return err;
	}
	struct tb_http_limits limits = {
		.grace_timeout_ms = (uint64_t)tb_cfg_int(core, "shutdown_grace_ms"),
		.h2_max_concurrent_streams = (unsigned)tb_cfg_int(core, "http2_max_concurrent_streams"),
		.h2_max_header_list = (size_t)tb_cfg_int(core, "http2_max_header_list_size"),
		.h2_header_table_size = (uint32_t)tb_cfg_int(core, "http2_header_table_size"),
		.h2_initial_window = (uint32_t)tb_cfg_int(core, "http2_initial_window_size"),
		.h2_max_frame_size = (uint32_t)tb_cfg_int(core, "http2_max_frame_size"),
		.h2_max_resets_per_sec = (unsigned)tb_cfg_int(core, "http2_max_resets_per_second"),
		.h2_max_control_per_sec = (unsigned)tb_cfg_int(core, "http2_max_control_frames_per_second"),
		.h2_max_continuations = (unsigned)tb_cfg_int(core, "http2_max_continuation_frames"),
		.h2_preface_timeout_ms = (uint64_t)tb_cfg_int(core, "http2_preface_timeout_ms"),
		.max_connections = (unsigned)tb_cfg_int(core, "http_max_connections"),
		.max_connections_per_address = (unsigned)tb_cfg_int(core, "http_max_connections_per_address"),
	};
	err = tb_http_server_new(&app->core.http, &app->loop, &limits);
	if (err) {
		fprintf(stderr, "trustbox: cannot create the HTTP server: %s\n", tb_strerror(err));
		return err;
	}
	cJSON_ArrayForEach(it, listen) {
		const char *name = tb_cfg_str(it, "name"), *addr = tb_cfg_str(it, "address");
		int port = (int)tb_cfg_int(it, "port"), tls = tb_cfg_bool(it, "tls");
		err = tb_http_listen(app->core.http, name, addr, port, tls ? app->tls : NULL);
		if (!err && !tls && tb_cfg_bool(it, "h2c"))
			err = tb_http_listen_h2c(app->core.http, name, 1);
		if (err) {
			fprintf(stderr, "trustbox: cannot listen on %s port %d (listener %s): %s\n", addr, port, name,
				tb_strerror(err));
			return err;
		}
		int bound = tb_http_listener_port(app->core.http, name);
		int v6 = strchr(addr, ':') != NULL;
		tb_core_announce(&app->core, "status", tls ? "HTTPS listener" : "HTTP listener", "%s://%s%s%s:%d/",
			tls ? "https" : "http", v6 ? "[" : "", addr, v6 ? "]" : "", bound);
	}
	return 0;
}

static void print_banner(struct app *app)
{
	const char *mode = tb_cfg_str(tb_config_section(app->core.config, "core"), "banner");
	if (mode && !strcmp(mode, "line")) {
		printf("trustbox %s ready:", TB_VERSION);
		for (size_t i = 0; i < app->core.n_announce; i++)
			printf("%s %s %s", i ? "," : "", app->core.announce[i].what, app->core.announce[i].url);
		printf("\n");
		fflush(stdout);
		return;
	}
	printf("trustbox %s is running (store %s)\n", TB_VERSION, app->store_path);
	for (size_t i = 0; i < app->core.n_announce; i++) {
		const struct tb_announce *a = &app->core.announce[i];
		printf("  %-8s %-22s %s\n", a->subsystem, a->what, a->url);
	}
	char fp[128];
	tb_ca_root_fingerprint(app->core.ca, fp, sizeof fp);
	printf("  root CA SHA-256 %s\n", fp);
	/* A next step that works as typed: the first HTTPS listener's health check. */
	const cJSON *listen = tb_config_section(app->core.config, "listen"), *it;
	cJSON_ArrayForEach(it, listen) {
		if (!tb_cfg_bool(it, "tls"))
			continue;
		const char *addr = tb_cfg_str(it, "address");
		int v6 = strchr(addr, ':') != NULL;
		printf("next: curl --cacert <(trustbox root) https://%s%s%s:%d/api/v1/status\n", v6 ? "[" : "", addr,
			v6 ? "]" : "", tb_http_listener_port(app->core.http, tb_cfg_str(it, "name")));
		break;
	}
	fflush(stdout);
}

static int configure_all(struct app *app)
{
	for (int i = 0; subsystems[i]; i++) {
		const struct tb_subsystem *s = subsystems[i];
		if (!s->configure)
			continue;
		char err[512] = "";
		int rc = s->configure(&app->core, &app->state[i], err, sizeof err);
		if (rc) {
			fprintf(stderr, "trustbox: config: %s: %s\n", s->name, err[0] ? err : tb_strerror(rc));
			return rc;
		}
	}
	return 0;
}

static void free_all(struct app *app)
{
	for (int i = 0; subsystems[i]; i++)
		if (subsystems[i]->free && app->state[i])
			subsystems[i]->free(app->state[i]);
}

static void walk_close(uv_handle_t *h, void *arg);

/* Every command starts here: the app with its configuration loaded (embedded default, then file). */
static struct app *app_new(const char *file, int *code)
{
	struct app *app = calloc(1, sizeof *app);
	if (!app) {
		*code = EXIT_RUNTIME;
		return NULL;
	}
	app->config_file = file;
	app->core.config = load_config(file);
	if (!app->core.config) {
		free(app);
		*code = EXIT_USAGE;
		return NULL;
	}
	app->core.subsystems = subsystems;
	app->core.services = &app->services;
	const cJSON *core = tb_config_section(app->core.config, "core");
	tb_http_client_pool_setup((size_t)tb_cfg_int(core, "http_client_pool_size"),
		(uint64_t)tb_cfg_int(core, "http_client_idle_timeout_ms"));
	return app;
}

/* And ends here. with_loop: app->loop was initialised; what is left on it is closed and drained. */
static void app_free(struct app *app, int with_loop)
{
	free_all(app);
	tb_store_close(app->core.store);
	if (with_loop) {
		/* The client's kept-alive connections go first: the pool frees what it owns. */
		tb_http_client_pool_close(&app->loop);
		/* The store's async handle among them. */
		uv_walk(&app->loop, walk_close, NULL);
		uv_run(&app->loop, UV_RUN_DEFAULT);
		uv_loop_close(&app->loop);
	}
	tb_tls_server_free(app->tls);
	tb_ca_free(app->core.ca);
	tb_config_free(app->core.config);
	free(app);
}

static void walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* The admin API's bearer token (core/admin.h), created on first use. */
static int load_admin_token(struct app *app, char *out, size_t cap)
{
	int err = tb_admin_token_load(app->data_dir, out, cap);
	if (err)
		fprintf(stderr, "trustbox: cannot load or create %s/" TB_ADMIN_TOKEN_FILE ": %s%s\n", app->data_dir,
			tb_strerror(err), err == TB_ERR_INVALID ? " (not one base64url token; delete it to get a new one)" : "");
	return err;
}

static int cmd_admin(int argc, char **argv)
{
	static const char help[] = "usage: trustbox admin token [-c FILE]\n\nPrints the admin API's bearer token "
				   "(<data_dir>/" TB_ADMIN_TOKEN_FILE "),\ncreating it if needed. Send it as "
				   "Authorization: Bearer <token>.\n";
	if (argc < 1)
		return usage_error("%s", "admin needs a subcommand: token");
	if (is_help(argv[0])) {
		fputs(help, stdout);
		return 0;
	}
	if (strcmp(argv[0], "token") != 0)
		return usage_error("unknown admin subcommand '%s'", argv[0]);
	const char *file = NULL;
	int code;
	if (parse_c_option(argc - 1, argv + 1, help, &file, &code))
		return code;
	struct app *app = app_new(file, &code);
	if (!app)
		return code;
	tb_log_set_level(TB_LOG_WARN);
	uv_loop_init(&app->loop);
	char token[TB_ADMIN_TOKEN_LEN + 1];
	int rc = EXIT_RUNTIME;
	if (resolve_paths(app))
		rc = EXIT_USAGE;
	else if (load_admin_token(app, token, sizeof token) == 0) {
		printf("%s\n", token);
		rc = 0;
	}
	sodium_memzero(token, sizeof token);
	app_free(app, 1);
	return rc;
}

static int cmd_run(int argc, char **argv)
{
	const char *file = NULL;
	int code;
	if (parse_c_option(argc, argv,
		    "usage: trustbox run [-c FILE]\n\nRuns the appliance with the embedded default configuration;\n"
		    "FILE (a Lua script) overrides it. Stops cleanly on SIGINT or SIGTERM; SIGHUP re-reads FILE.\n",
		    &file, &code))
		return code;
	struct app *app = app_new(file, &code);
	if (!app)
		return code;
	apply_log_settings(app->core.config);
	app->core.loop = &app->loop;
	uv_loop_init(&app->loop);

	int rc = EXIT_RUNTIME;
	if (resolve_paths(app) || configure_all(app)) {
		rc = EXIT_USAGE;
		goto out;
	}
	if (open_store_and_ca(app) || load_admin_token(app, NULL, 0))
		goto out;
	for (int i = 0; subsystems[i]; i++) {
		if (tb_store_migrate(app->core.store, subsystems[i]->name, subsystems[i]->migrations)) {
			fprintf(stderr, "trustbox: store migration for %s failed\n", subsystems[i]->name);
			goto out;
		}
	}
	if (open_listeners(app))
		goto out;
	for (int i = 0; subsystems[i]; i++) {
		if (!subsystems[i]->start || !app->state[i])
			continue;
		int err = subsystems[i]->start(app->state[i]);
		if (err) {
			fprintf(stderr, "trustbox: %s failed to start: %s\n", subsystems[i]->name, tb_strerror(err));
			begin_stop(app);
			uv_run(&app->loop, UV_RUN_DEFAULT);
			goto out;
		}
		app->started[i] = 1;
	}
	uv_signal_init(&app->loop, &app->sig_int);
	uv_signal_init(&app->loop, &app->sig_term);
	uv_signal_init(&app->loop, &app->sig_hup);
	app->sig_int.data = app->sig_term.data = app->sig_hup.data = app;
	uv_signal_start(&app->sig_int, on_signal, SIGINT);
	uv_signal_start(&app->sig_term, on_signal, SIGTERM);
	uv_signal_start(&app->sig_hup, on_signal, SIGHUP);
	app->signals_started = 1;
	TB_INFO("core", "started");
	print_banner(app);
	uv_run(&app->loop, UV_RUN_DEFAULT);
	rc = 0;
out:
	if (app->core.http) {
		tb_http_server_free(app->core.http);
		app->core.http = NULL;
	}
	app_free(app, 1);
	return rc;
}

static int cmd_root(int argc, char **argv)
{
	const char *file = NULL;
	int code;
	if (parse_c_option(argc, argv,
		    "usage: trustbox root [-c FILE]\n\nPrints the root CA certificate (PEM) of the store the\n"
		    "configuration names, generating the CA on first use. Trust it with e.g.\n"
		    "  curl --cacert <(trustbox root) https://127.0.0.1:14000/healthz\n",
		    &file, &code))
		return code;
	struct app *app = app_new(file, &code);
	if (!app)
		return code;
	tb_log_set_level(TB_LOG_WARN);
	uv_loop_init(&app->loop);
	int rc = EXIT_RUNTIME;
	if (resolve_paths(app))
		rc = EXIT_USAGE;
	else if (open_store_and_ca(app) == 0) {
		fputs(app->core.ca->root_pem, stdout);
		rc = 0;
	}
	app_free(app, 1);
	return rc;
}

static int cmd_config(int argc, char **argv)
{
	static const char help[] =
		"usage: trustbox config check FILE | config dump [-c FILE] | config doc\n\n"
		"  check FILE   run FILE over the default config and every subsystem's checks\n"
		"  dump         print the effective configuration (default + FILE) with defaults filled in\n"
		"  doc          print the reference of every option (Markdown)\n";
	if (argc < 1)
		return usage_error("%s", "config needs a subcommand: check, dump or doc");
	if (is_help(argv[0])) {
		fputs(help, stdout);
		return 0;
	}
	if (strcmp(argv[0], "check") == 0) {
		if (argc == 2 && is_help(argv[1])) {
			fputs(help, stdout);
			return 0;
		}
		if (argc != 2)
			return usage_error("%s", "config check needs exactly one FILE");
		int rc;
		struct app *app = app_new(argv[1], &rc);
		if (!app)
			return rc;
		/* No loop: nothing is started. */
		rc = resolve_paths(app) || configure_all(app) ? EXIT_USAGE : 0;
		app_free(app, 0);
		if (rc == 0)
			printf("%s: ok\n", argv[1]);
		return rc;
	}
	if (strcmp(argv[0], "dump") == 0) {
		const char *file = NULL;
		int code;
		if (parse_c_option(argc - 1, argv + 1, help, &file, &code))
			return code;
		struct tb_config *cfg = load_config(file);
		if (!cfg)
			return EXIT_USAGE;
		char *s = tb_config_dump(cfg);
		fputs(s, stdout);
		free(s);
		tb_config_free(cfg);
		return 0;
	}
	if (strcmp(argv[0], "doc") == 0) {
		if (argc > 1 && is_help(argv[1])) {
			fputs(help, stdout);
			return 0;
		}
		const struct tb_section_def *secs[64];
		size_t n = collect_sections(secs, 64);
		char *s = tb_config_doc(secs, n);
		fputs(s, stdout);
		free(s);
		return 0;
	}
	return usage_error("unknown config subcommand '%s'", argv[0]);
}

/* A starter file: every option of every section, commented out with its default and help. */
static void write_starter_options(FILE *f, const struct tb_option *opts, int indent)
{
	for (const struct tb_option *o = opts; o && o->name; o++) {
		fprintf(f, "%*s-- %s%s\n", indent, "", o->help ? o->help : "", o->required ? " (required)" : "");
		if (o->type == TB_OPT_FUNCTION)
			fprintf(f, "%*s-- %s = function(...) ... end,\n", indent, "", o->name);
		else if (o->def && (o->type == TB_OPT_STRINGS || o->type == TB_OPT_TABLES) && strcmp(o->def, "[]") == 0)
			fprintf(f, "%*s-- %s = {},\n", indent, "", o->name);
		else if (o->def && o->type != TB_OPT_TABLE && o->type != TB_OPT_TABLES && o->type != TB_OPT_MAP &&
			o->type != TB_OPT_STRINGS)
			fprintf(f, "%*s-- %s = %s,\n", indent, "", o->name, o->def);
		else
			fprintf(f, "%*s-- %s = ...,\n", indent, "", o->name);
	}
}

static int cmd_init(int argc, char **argv)
{
	if (argc > 0 && is_help(argv[0])) {
		printf("usage: trustbox init [DIR]\n\nWrites DIR/trustbox.lua (DIR defaults to the current directory):\n"
		       "a starter configuration listing every option, commented out, with its default.\n"
		       "Refuses to overwrite an existing file.\n");
		return 0;
	}
	if (argc > 1)
		return usage_error("unexpected argument '%s'", argv[1]);
	const char *dir = argc == 1 ? argv[0] : ".";
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "trustbox: cannot create %s: %s\n", dir, strerror(errno));
		return EXIT_RUNTIME;
	}
	char path[1024];
	snprintf(path, sizeof path, "%s/trustbox.lua", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		fprintf(stderr, "trustbox: cannot create %s: %s\n", path, strerror(errno));
		return EXIT_RUNTIME;
	}
	FILE *f = fdopen(fd, "w");
	fprintf(f, "-- trustbox configuration (Lua 5.4).\n"
		   "-- This file runs after trustbox's embedded defaults and overrides them option by\n"
		   "-- option; uncomment what you want to change. `trustbox config dump -c trustbox.lua`\n"
		   "-- shows the result, `trustbox config check trustbox.lua` checks it.\n");
	const struct tb_section_def *secs[64];
	size_t n = collect_sections(secs, 64);
	extern const struct tb_section_def tb_core_section, tb_listen_section;
	const struct tb_section_def *all[66] = { &tb_core_section, &tb_listen_section };
	memcpy(all + 2, secs, n * sizeof *secs);
	for (size_t i = 0; i < n + 2; i++) {
		const struct tb_section_def *d = all[i];
		fprintf(f, "\n-- %s%s\n", d->help ? d->help : d->name,
			d->repeated ? " (repeatable; listing any replaces the defaults' entries)" : "");
		if (d->repeated)
			fprintf(f, "-- listen { name = \"https\", address = \"127.0.0.1\", port = 14000, tls = true }\n");
		if (d->repeated && strcmp(d->name, "listen") == 0)
			continue;
		fprintf(f, "%s {\n", d->name);
		write_starter_options(f, d->options, 2);
		fprintf(f, "}\n");
	}
	fclose(f);
	printf("wrote %s\nnext: trustbox config check %s && trustbox run -c %s\n", path, path, path);
	return 0;
}

/* Whether word names one of the subsystem's client commands (run without the store). */
static int is_client_command(const struct tb_subsystem *sub, const char *word)
{
	for (const char *const *c = sub->client_commands; word && c && *c; c++)
		if (strcmp(*c, word) == 0)
			return 1;
	return 0;
}

/*
 * `trustbox <subsystem> ARGS [-c FILE]`: the subsystem's own command, with the
 * configuration loaded, the subsystem configured and the store and CA open
 * (except for its client commands).
 */
static int cmd_subsystem(int idx, int argc, char **argv)
{
	const struct tb_subsystem *sub = subsystems[idx];
	if (argc > 0 && is_help(argv[0])) {
		printf("usage: trustbox %s %s [-c FILE]\n\nRuns with the configuration (embedded default, FILE\n"
		       "overrides it) and the store it names; does not start any service.\n",
			sub->name, sub->command_usage ? sub->command_usage : "");
		return 0;
	}
	/* Take -c FILE out of the arguments; pass the rest. */
	const char *file = NULL;
	char *rest[64];
	int n = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc)
				return usage_error("%s needs a file name", argv[i]);
			file = argv[++i];
		} else if (n < 63) {
			rest[n++] = argv[i];
		} else {
			return usage_error("%s", "too many arguments");
		}
	}
	rest[n] = NULL;
	int rc;
	struct app *app = app_new(file, &rc);
	if (!app)
		return rc;
	tb_log_set_level(TB_LOG_WARN);
	app->core.loop = &app->loop;
	uv_loop_init(&app->loop);
	rc = EXIT_RUNTIME;
	char err[512] = "";
	int bad_paths = resolve_paths(app);
	int crc = !bad_paths && sub->configure ? sub->configure(&app->core, &app->state[idx], err, sizeof err) : 0;
	if (bad_paths) {
		rc = EXIT_USAGE;
	} else if (crc) {
		fprintf(stderr, "trustbox: config: %s: %s\n", sub->name, err[0] ? err : tb_strerror(crc));
		rc = EXIT_USAGE;
	} else if (!app->state[idx] && sub->configure) {
		fprintf(stderr, "trustbox: %s is disabled in the configuration\n", sub->name);
		rc = EXIT_RUNTIME;
	} else if (is_client_command(sub, n ? rest[0] : NULL)) {
		rc = sub->command(app->state[idx], n, rest);
	} else if (open_store_and_ca(app) == 0 &&
		tb_store_migrate(app->core.store, sub->name, sub->migrations) == 0) {
		rc = sub->command(app->state[idx], n, rest);
	}
	app_free(app, 1); /* only this subsystem was configured */
	return rc;
}

/* Debian's soft limit of 1024 descriptors is below the HTTP server's connection cap plus everything else. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	if (sodium_init() < 0) {
		fprintf(stderr, "trustbox: cannot initialise libsodium\n");
		return EXIT_RUNTIME;
	}
	build_table();
	if (argc < 2) {
		usage_main(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (is_help(cmd) || strcmp(cmd, "--help") == 0) {
		usage_main(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		if (argc > 2 && is_help(argv[2])) {
			printf("usage: trustbox version\n\nPrints the version.\n");
			return 0;
		}
		printf("trustbox %s\n", TB_VERSION);
		return 0;
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 2, argv + 2);
	if (strcmp(cmd, "root") == 0)
		return cmd_root(argc - 2, argv + 2);
	if (strcmp(cmd, "admin") == 0)
		return cmd_admin(argc - 2, argv + 2);
	if (strcmp(cmd, "config") == 0)
		return cmd_config(argc - 2, argv + 2);
	if (strcmp(cmd, "init") == 0)
		return cmd_init(argc - 2, argv + 2);
	for (int i = 0; subsystems[i]; i++)
		if (subsystems[i]->command && strcmp(cmd, subsystems[i]->name) == 0)
			return cmd_subsystem(i, argc - 2, argv + 2);
	return usage_error("unknown command '%s'", cmd);
}
