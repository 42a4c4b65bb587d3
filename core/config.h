/*
 * Configuration. A Lua 5.4 script calls one function per section
 * (`core { ... }`, `listen { ... }`, `acme { ... }`, ...). Each section is
 * described by a declarative option table (struct tb_option): name, type,
 * default, help. Core checks every call against its table (unknown options,
 * wrong types and out-of-range values are errors naming the option, the
 * expected type and the value found), fills in defaults, and stores the
 * result as a cJSON tree. Subsystems read their frozen section with the
 * tb_cfg_* accessors at configure time; `trustbox config dump` prints the
 * same trees and docs/configuration.md is generated from the same tables.
 *
 * Sections are either single (called at most once; the default config may
 * call it and the user's file then overrides option by option) or repeated
 * (each call adds an entry, e.g. `listen`; a user file that calls a repeated
 * section replaces the default config's entries of that section).
 *
 * Lua functions given as TB_OPT_FUNCTION options (policy hooks) are kept in
 * the Lua registry; tb_cfg_hook returns a reference usable on the loop thread
 * and tb_cfg_call_hook calls it under the hook limits.
 *
 * The sandbox: no io, no file loading, os.getenv and os.time only; a heap cap;
 * an instruction budget and a wall-clock cap per chunk; string.find, match,
 * gmatch and gsub (and their method forms) refuse patterns with more than
 * core.pattern_max_quantifiers quantifiers or whose estimated backtracking on
 * the subject exceeds core.pattern_max_cost, since a match runs inside one C
 * call that no budget can interrupt.
 */
#ifndef TB_CONFIG_H
#define TB_CONFIG_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct lua_State;

enum tb_opt_type {
	TB_OPT_BOOL,
	TB_OPT_INT,      /* integer within [min, max] */
	TB_OPT_NUMBER,   /* real number within [min, max] */
	TB_OPT_STRING,
	TB_OPT_ENUM,     /* string, one of `choices` ("a|b|c") */
	TB_OPT_STRINGS,  /* array of strings */
	TB_OPT_TABLE,    /* nested table checked against `children` */
	TB_OPT_TABLES,   /* array of nested tables checked against `children` */
	TB_OPT_MAP,      /* table of string keys to strings */
	TB_OPT_FUNCTION, /* Lua function (policy hook); stored as a registry reference */
};

struct tb_option {
	const char *name;
	enum tb_opt_type type;
	const char *def;    /* default as a JSON literal ("5", "true", "\"x\"", "[]"); NULL = no default (optional, absent) */
	const char *help;   /* one line for config dump and docs */
	double min, max;    /* bounds for INT and NUMBER when min < max */
	const char *choices; /* ENUM: "a|b|c" */
	const struct tb_option *children; /* TABLE / TABLES: the nested table's options */
	int required;       /* must be given (no default) */
};
#define TB_OPTIONS_END { 0 }

struct tb_section_def {
	const char *name;              /* Lua function name */
	const struct tb_option *options;
	int repeated;                  /* each call adds an entry */
	const char *help;
};

struct tb_config;

/* A new, empty configuration with the given sections known (plus core's own). */
struct tb_config *tb_config_new(const struct tb_section_def *const *sections, size_t n);
void tb_config_free(struct tb_config *cfg);
/*
 * Limits of the Lua state: heap bytes (default 64 MiB) and instructions per
 * chunk (default 100 million); exceeding either is a configuration error.
 */
void tb_config_set_limits(struct tb_config *cfg, size_t max_memory, long long max_instructions);
/*
 * Runs Lua source (the embedded default or a user's file). Errors are written
 * to err as one line naming file, line and option. Returns 0 or TB_ERR_CONFIG.
 */
int tb_config_run_string(struct tb_config *cfg, const char *chunkname, const char *src,
	char *err, size_t errlen);
int tb_config_run_file(struct tb_config *cfg, const char *path, char *err, size_t errlen);
/*
 * Fills defaults for every section never called and checks required options.
 * After this the config is frozen.
 */
int tb_config_finish(struct tb_config *cfg, char *err, size_t errlen);

/* The frozen section: an object (single) or an array of objects (repeated). */
const cJSON *tb_config_section(const struct tb_config *cfg, const char *name);
/* The whole effective configuration as a Lua script (what `config dump` prints). */
char *tb_config_dump(const struct tb_config *cfg);
/* The reference documentation for all sections, as Markdown. */
char *tb_config_doc(const struct tb_section_def *const *sections, size_t n);
struct lua_State *tb_config_lua(const struct tb_config *cfg);

/* Accessors over a section object; they return the default when absent. */
const char *tb_cfg_str(const cJSON *obj, const char *name);
long long tb_cfg_int(const cJSON *obj, const char *name);
double tb_cfg_num(const cJSON *obj, const char *name);
int tb_cfg_bool(const cJSON *obj, const char *name);
const cJSON *tb_cfg_get(const cJSON *obj, const char *name);
/* Lua registry reference of a FUNCTION option, or -1 (LUA_NOREF) when unset. */
int tb_cfg_hook(const cJSON *obj, const char *name);
/*
 * Calls the hook ref (from tb_cfg_hook) with the nargs values on top of the
 * stack of L (the configuration's state) under the hook limits: at most
 * core.hook_max_instructions instructions and core.hook_deadline_ms of wall
 * clock, checked every thousand instructions and before every pattern match.
 * On success leaves nresults values on the stack and returns 0; otherwise
 * pops the arguments, writes the error (a Lua error or a limit) to err and
 * returns TB_ERR_CONFIG. Loop thread only; not reentrant.
 */
int tb_cfg_call_hook(struct lua_State *L, int ref, int nargs, int nresults, char *err, size_t errlen);

/* The default configuration compiled into the binary (core/default_config.lua). */
extern const char tb_default_config[];

#endif
