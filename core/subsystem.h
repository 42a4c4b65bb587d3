/*
 * The plugin contract. Each subsystem exports one const struct tb_subsystem;
 * core/main.c lists them in one static table (no dlopen). Every hook may be
 * NULL.
 *
 * Lifecycle: CLI -> Lua config (sections from `sections`) -> configure (every
 * config error is found here, naming the option) -> migrate -> start -> run ->
 * stop (asynchronous, like uv_close) on SIGINT/SIGTERM -> free.
 *
 * A subsystem never includes another subsystem's headers. Where one needs
 * another it goes through a service interface in core (services.h).
 */
#ifndef TB_SUBSYSTEM_H
#define TB_SUBSYSTEM_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <uv.h>

#include "core/config.h"
#include "core/store.h"

struct lua_State;
struct tb_core;
struct tb_http_server;

typedef void (*tb_done_cb)(void *arg);

struct tb_subsystem {
	const char *name;                      /* "acme", "ctlog", "dap", "dns", "status" */
	const struct tb_section_def *const *sections; /* config sections it owns, NULL-terminated */
	int (*lua_open)(struct lua_State *L);  /* extra Lua functions beyond its sections */
	/* Validates and freezes its config; allocates its state. Errors: one line in err. */
	int (*configure)(struct tb_core *core, void **state, char *err, size_t errlen);
	const struct tb_migration *migrations; /* ordered, terminated by { 0, NULL } */
	/* After migrations: generate keys, open listeners, register routes and services. */
	int (*start)(void *state);
	/* Stops accepting work, finishes or cancels in-flight work, then calls done(arg). */
	void (*stop)(void *state, tb_done_cb done, void *arg);
	void (*free)(void *state);
	/*
	 * `trustbox <name> ARGS...` (optional): runs after configure, with the
	 * store open and migrated and the CA loaded, but without start (no
	 * listeners, no loop running). Prints to stdout; returns an exit code
	 * (0 ok, 1 runtime error, 2 usage). argv[0] is the first word after <name>.
	 */
	int (*command)(void *state, int argc, char **argv);
	const char *command_usage; /* e.g. "loglist" or "tsig-key [NAME]", for --help */
	/*
	 * First words of `command` that are network clients (NULL-terminated;
	 * may be NULL): they run configured but without the store and the CA
	 * (core->store and core->ca are NULL), so they create no data directory.
	 */
	const char *const *client_commands;
};

/* What a running subsystem tells users about itself (start-up lines and /api/v1/status). */
struct tb_announce {
	const char *subsystem;
	const char *what;   /* "ACME directory", "DNS (udp+tcp)", ... */
	char url[256];      /* URL or address */
};

#define TB_MAX_ANNOUNCE 64

/* The appliance: everything a subsystem may use from core. */
struct tb_core {
	uv_loop_t *loop;
	struct tb_config *config;
	struct tb_store *store;
	struct tb_http_server *http;        /* NULL when no listener is configured */
	const char *data_dir;               /* directory of the store and exported files */
	struct tb_ca *ca;                   /* root + intermediate (core/ca.h) */
	struct tb_services *services;       /* service interfaces (core/services.h) */
	struct tb_announce announce[TB_MAX_ANNOUNCE];
	size_t n_announce;
	const struct tb_subsystem *const *subsystems; /* the static table, NULL-terminated */
};

/* Records a line for the start-up banner and the status API. */
void tb_core_announce(struct tb_core *core, const char *subsystem, const char *what,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
