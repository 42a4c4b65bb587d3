/*
 * DESIGN: configuration is a Lua 5.4 script run in a restricted state (base,
 * string, table, math, utf8; no io, os, package, debug except os.getenv and
 * os.time; pattern functions guarded against backtracking, see below; an
 * instruction budget and a wall clock per chunk, and per hook call through
 * tb_cfg_call_hook). Each section's Lua function checks its argument against the
 * section's declarative option table and stores the checked value as cJSON:
 * an object per single section, an array of objects per repeated section.
 * The embedded default config runs first (phase 0) and the user's file second
 * (phase 1): a single section merges option by option, a repeated section
 * called by the user drops the defaults' entries. tb_config_finish fills
 * defaults and checks required options; after that the trees are read-only.
 *
 * Size: past 900 lines on purpose. The sandbox (budgets, guarded patterns,
 * hook calls), the option checker and the typed readers all work on the same
 * restricted Lua state and the same checked trees, and their limits must
 * agree; the file reads top to bottom in that order.
 */
#include "core/config.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/error.h"

#define CONFIG_MAX_DEPTH 8         /* nesting of TABLE options */
#define CONFIG_MAX_ITEMS 4096      /* entries of one array option or map */
#define CONFIG_MAX_FILE (1u << 20) /* size of a config file */
#define CONFIG_MAX_MEMORY (64u << 20)        /* Lua heap of the config state */
#define CONFIG_MAX_INSTRUCTIONS 100000000LL  /* per chunk: a config that loops forever is an error */
#define CONFIG_MAX_MS 10000LL            /* wall clock per chunk: instructions alone do not bound C calls */
#define CONFIG_HOOK_EVERY 10000
#define HOOK_EVERY 1000          /* a hook checks its deadline every this many instructions */
#define HOOK_DEADLINE_MS 50      /* defaults of the core.hook_* and core.pattern_* options */
#define HOOK_MAX_INSTRUCTIONS 1000000LL
#define PATTERN_MAX_QUANTIFIERS 8
#define PATTERN_MAX_COST 10000000.0

struct section {
	const struct tb_section_def *def;
	cJSON *value;   /* object (single) or array (repeated); NULL until called */
	int phase;      /* phase that last set it */
};

struct tb_config {
	lua_State *L;
	size_t mem_used, mem_limit;   /* Lua heap accounting (CONFIG_MAX_MEMORY) */
	long long instr_left, instr_limit; /* instruction budget of the running chunk */
	long long deadline_ns;  /* CLOCK_MONOTONIC time at which the running chunk or hook is stopped */
	int in_hook;            /* a hook call (tb_cfg_call_hook) is running, not the configuration */
	long long hook_deadline_ms, hook_instructions; /* core.hook_deadline_ms, core.hook_max_instructions */
	int pattern_max_quantifiers;  /* core.pattern_max_quantifiers */
	double pattern_max_cost;      /* core.pattern_max_cost */
	struct section *sections;
	size_t n;
	int phase;
	int finished;
	char err[512];  /* first error raised inside a section function */
};

static const struct tb_option core_options[] = {
	{ "data_dir", TB_OPT_STRING, "\"./trustbox-data\"", "directory for the store and exported files" },
	{ "store", TB_OPT_STRING, "\"\"", "SQLite file (default: <data_dir>/trustbox.db)" },
	{ "log_level", TB_OPT_ENUM, "\"info\"", "minimum level logged", 0, 0, "debug|info|warn|error|off" },
	{ "banner", TB_OPT_ENUM, "\"full\"", "what `trustbox run` prints when it is ready: the full banner, or one line (for scripts and test runners)", 0, 0, "full|line" },
	{ "log_format", TB_OPT_ENUM, "\"text\"", "log line format", 0, 0, "text|json" },
	{ "hostnames", TB_OPT_STRINGS, "[]", "extra DNS names and IPs for the HTTPS certificate (localhost, 127.0.0.1 and ::1 are always in it)" },
	{ "ca_name", TB_OPT_STRING, "\"trustbox\"", "name used in the root and intermediate CA subjects" },
	{ "tls_ticket_lifetime_s", TB_OPT_INT, "14400", "TLS: seconds a session ticket (RFC 5077) resumes, and how often the in-memory ticket key is replaced (the previous key stays valid one more period); 0 issues and accepts no tickets", 0, 604800 },
	{ "tls_session_cache_size", TB_OPT_INT, "4096", "TLS: sessions kept for session-ID resumption (clients without tickets); 0 keeps none", 0, 1048576 },
	{ "tls_session_cache_timeout_s", TB_OPT_INT, "14400", "TLS: seconds a session in that cache resumes", 1, 604800 },
	{ "http_max_connections", TB_OPT_INT, "1024", "HTTP: open connections over all listeners; a new one beyond it takes the place of the oldest connection that has not sent a whole request (new, idle, headers still arriving; HTTP/2 without streams), or is refused when there is none", 1, 1000000 },
	{ "http_max_connections_per_address", TB_OPT_INT, "512", "HTTP: open connections from one client IP address, shed the same way (the oldest such connection of that address goes first); above the 256 connections benchmarks open from one address", 1, 1000000 },
	{ "http2_max_concurrent_streams", TB_OPT_INT, "100", "HTTP/2: streams a client may have open on one connection (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused", 1, 1000 },
	{ "http2_max_header_list_size", TB_OPT_INT, "16384", "HTTP/2: decoded request header bytes (name + value + 32 each); more is answered 431, four times more closes the connection (HPACK bomb)", 1024, 1048576 },
	{ "http2_header_table_size", TB_OPT_INT, "4096", "HTTP/2: HPACK dynamic table size in bytes, for decoding requests and encoding responses", 256, 65536 },
	{ "http2_initial_window_size", TB_OPT_INT, "65535", "HTTP/2: flow-control window for each request body (SETTINGS_INITIAL_WINDOW_SIZE)", 1024, 16777216 },
	{ "http2_max_frame_size", TB_OPT_INT, "16384", "HTTP/2: largest frame payload we accept (SETTINGS_MAX_FRAME_SIZE)", 16384, 16777215 },
	{ "http2_max_resets_per_second", TB_OPT_INT, "100", "HTTP/2: stream resets a client may send per second on a connection; more is answered GOAWAY ENHANCE_YOUR_CALM (Rapid Reset, CVE-2023-44487). A reset of a stream that already ended normally is free, once per such stream (clients such as curl send them)", 1, 100000 },
	{ "http2_max_control_frames_per_second", TB_OPT_INT, "100", "HTTP/2: SETTINGS, PING, PRIORITY, empty DATA/HEADERS frames and WINDOW_UPDATE frames beyond two per DATA frame we sent, that a client may send per second on a connection; more is answered GOAWAY ENHANCE_YOUR_CALM", 1, 100000 },
	{ "http2_max_continuation_frames", TB_OPT_INT, "8", "HTTP/2: CONTINUATION frames allowed after one HEADERS; more is answered GOAWAY ENHANCE_YOUR_CALM (CONTINUATION floods)", 1, 1024 },
	{ "http2_preface_timeout_ms", TB_OPT_INT, "5000", "HTTP/2: time a client has, from the TLS handshake that chose h2 (or the first byte of an h2c preface), to send the whole client preface; then the connection is closed (instead of waiting for the request header timeout)", 100, 60000 },
	{ "http_client_pool_size", TB_OPT_INT, "8", "HTTP client: idle keep-alive connections kept per server (scheme, host, port, TLS settings) for calls that ask for keep-alive (the DAP leader's requests to its helper); 0 opens a connection per request (resuming the TLS session)", 0, 1024 },
	{ "http_client_idle_timeout_ms", TB_OPT_INT, "15000", "HTTP client: how long a kept-alive connection may stay idle before it is closed (keep it below the servers' keep-alive timeouts)", 100, 3600000 },
	{ "shutdown_grace_ms", TB_OPT_INT, "5000", "how long a stop waits for in-flight requests", 0, 600000 },
	{ "hook_deadline_ms", TB_OPT_INT, "50", "wall-clock limit of one call of a Lua hook (e.g. the DNS policy, run per query); a hook that runs longer is stopped", 1, 10000 },
	{ "hook_max_instructions", TB_OPT_INT, "1000000", "Lua instructions one call of a hook may run", 1000, 1000000000 },
	{ "pattern_max_quantifiers", TB_OPT_INT, "8", "quantifiers (* + - ?) a Lua pattern may hold in string.find/match/gmatch/gsub", 0, 64 },
	{ "pattern_max_cost", TB_OPT_NUMBER, "10000000", "estimated backtracking steps a Lua pattern may take on its subject (see the sandbox in docs/configuration.md)", 1000, 1e12 },
	TB_OPTIONS_END
};

static const struct tb_option listen_options[] = {
	{ "name", TB_OPT_STRING, NULL, "listener name that routes refer to", 0, 0, NULL, NULL, 1 },
	{ "address", TB_OPT_STRING, "\"127.0.0.1\"", "IPv4 or IPv6 address to bind" },
	{ "port", TB_OPT_INT, NULL, "TCP port (0 picks a free one)", 0, 65535, NULL, NULL, 1 },
	{ "tls", TB_OPT_BOOL, "true", "serve HTTPS with the appliance's certificate" },
	{ "h2c", TB_OPT_BOOL, "false", "plain listener: also speak HTTP/2 to clients that start with its preface (prior knowledge); TLS listeners negotiate h2 by ALPN" },
	TB_OPTIONS_END
};

const struct tb_section_def tb_core_section = { "core", core_options, 0, "process-wide settings" };
const struct tb_section_def tb_listen_section = { "listen", listen_options, 1,
	"an HTTP listener; call once per listener" };

static const char *type_name(enum tb_opt_type t)
{
	switch (t) {
	case TB_OPT_BOOL: return "boolean";
	case TB_OPT_INT: return "integer";
	case TB_OPT_NUMBER: return "number";
	case TB_OPT_STRING: return "string";
	case TB_OPT_ENUM: return "string";
	case TB_OPT_STRINGS: return "list of strings";
	case TB_OPT_TABLE: return "table";
	case TB_OPT_TABLES: return "list of tables";
	case TB_OPT_MAP: return "table of strings";
	case TB_OPT_FUNCTION: return "function";
	}
	return "?";
}

/* A short rendering of the Lua value at idx for error messages. */
static void describe(lua_State *L, int idx, char *out, size_t len)
{
	int t = lua_type(L, idx);
	switch (t) {
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		snprintf(out, len, "string \"%.40s%s\"", s, n > 40 ? "..." : "");
		break;
	}
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			snprintf(out, len, "number %lld", (long long)lua_tointeger(L, idx));
		else
			snprintf(out, len, "number %g", lua_tonumber(L, idx));
		break;
	case LUA_TBOOLEAN:
		snprintf(out, len, "boolean %s", lua_toboolean(L, idx) ? "true" : "false");
		break;
	default:
		snprintf(out, len, "%s", lua_typename(L, t));
	}
}

static int fail(lua_State *L, const char *path, const struct tb_option *o, int idx)
{
	char got[80], msg[512];
	describe(L, idx, got, sizeof got);
	if (o->type == TB_OPT_ENUM)
		snprintf(msg, sizeof msg, "%s: expected one of %s, got %s", path, o->choices, got);
	else if ((o->type == TB_OPT_INT || o->type == TB_OPT_NUMBER) && o->min < o->max)
		snprintf(msg, sizeof msg, "%s: expected %s in [%g, %g], got %s", path, type_name(o->type), o->min,
			o->max, got);
	else
		snprintf(msg, sizeof msg, "%s: expected %s, got %s", path, type_name(o->type), got);
	return luaL_error(L, "%s", msg);
}

static cJSON *check_table(lua_State *L, int idx, const struct tb_option *opts, const char *path, int depth);

static int enum_has(const char *choices, const char *s)
{
	size_t n = strlen(s);
	for (const char *p = choices; p && *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, s, n) == 0)
			return 1;
		p = bar ? bar + 1 : NULL;
	}
	return 0;
}

static size_t seq_len(lua_State *L, int idx, const char *path)
{
	lua_Integer n = luaL_len(L, idx);
	size_t count = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n)
			luaL_error(L, "%s: expected a list (keys 1..n), found another key", path);
		count++;
	}
	if ((lua_Integer)count != n)
		luaL_error(L, "%s: list has holes", path);
	if (n > CONFIG_MAX_ITEMS)
		luaL_error(L, "%s: more than %d entries", path, CONFIG_MAX_ITEMS);
	return (size_t)n;
}

/*
 * A Lua error (longjmp) may interrupt the building of a cJSON value. Every
 * container under construction is owned by a to-be-closed guard userdata on
 * the Lua stack, which frees it on error; on success the guard is released.
 */
static int guard_close(lua_State *L)
{
	cJSON **pp = lua_touserdata(L, 1);
	if (pp && *pp) {
		cJSON_Delete(*pp);
		*pp = NULL;
	}
	return 0;
}

static cJSON **guard_push(lua_State *L, cJSON *v)
{
	cJSON **guard = lua_newuserdatauv(L, sizeof(cJSON *), 0);
	*guard = v;
	if (luaL_newmetatable(L, "tb_config_guard")) {
		lua_pushcfunction(L, guard_close);
		lua_setfield(L, -2, "__close");
		lua_pushcfunction(L, guard_close);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	lua_toclose(L, -1);
	return guard;
}

/* Releases the guard on top of the stack and returns what it owned. */
static cJSON *guard_release(lua_State *L, cJSON **guard)
{
	cJSON *v = *guard;
	*guard = NULL;
	int top = lua_gettop(L);
	lua_closeslot(L, top);
	lua_settop(L, top - 1);
	return v;
}

/* Checks the Lua value at idx against option o; returns a new cJSON value. */
static cJSON *check_value(lua_State *L, int idx, const struct tb_option *o, const char *path, int depth)
{
	idx = lua_absindex(L, idx);
	int t = lua_type(L, idx);
	switch (o->type) {
	case TB_OPT_BOOL:
		if (t != LUA_TBOOLEAN)
			fail(L, path, o, idx);
		return cJSON_CreateBool(lua_toboolean(L, idx));
	case TB_OPT_INT: {
		if (t != LUA_TNUMBER)
			fail(L, path, o, idx);
		lua_Integer v;
		if (lua_isinteger(L, idx)) {
			v = lua_tointeger(L, idx);
		} else {
			double d = lua_tonumber(L, idx);
			if (d != floor(d) || fabs(d) > 9e15)
				fail(L, path, o, idx);
			v = (lua_Integer)d;
		}
		if (o->min < o->max && ((double)v < o->min || (double)v > o->max))
			fail(L, path, o, idx);
		return cJSON_CreateNumber((double)v);
	}
	case TB_OPT_NUMBER: {
		if (t != LUA_TNUMBER)
			fail(L, path, o, idx);
		double d = lua_tonumber(L, idx);
		if (!isfinite(d) || (o->min < o->max && (d < o->min || d > o->max)))
			fail(L, path, o, idx);
		return cJSON_CreateNumber(d);
	}
	case TB_OPT_STRING:
	case TB_OPT_ENUM: {
		if (t != LUA_TSTRING)
			fail(L, path, o, idx);
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		if (strlen(s) != n)
			luaL_error(L, "%s: string contains a NUL byte", path);
		if (o->type == TB_OPT_ENUM && !enum_has(o->choices, s))
			fail(L, path, o, idx);
		return cJSON_CreateString(s);
	}
	case TB_OPT_STRINGS: {
		if (t != LUA_TTABLE)
			fail(L, path, o, idx);
		size_t n = seq_len(L, idx, path);
		cJSON **arr = guard_push(L, cJSON_CreateArray());
		for (size_t i = 1; i <= n; i++) {
			lua_rawgeti(L, idx, (lua_Integer)i);
			if (lua_type(L, -1) != LUA_TSTRING) {
				char p2[256];
				snprintf(p2, sizeof p2, "%s[%zu]", path, i);
				struct tb_option elem = { .type = TB_OPT_STRING };
				fail(L, p2, &elem, -1);
			}
			cJSON_AddItemToArray(*arr, cJSON_CreateString(lua_tostring(L, -1)));
			lua_pop(L, 1);
		}
		return guard_release(L, arr);
	}
	case TB_OPT_TABLE:
		if (t != LUA_TTABLE)
			fail(L, path, o, idx);
		return check_table(L, idx, o->children, path, depth + 1);
	case TB_OPT_TABLES: {
		if (t != LUA_TTABLE)
			fail(L, path, o, idx);
		size_t n = seq_len(L, idx, path);
		cJSON **arr = guard_push(L, cJSON_CreateArray());
		for (size_t i = 1; i <= n; i++) {
			char p2[256];
			snprintf(p2, sizeof p2, "%s[%zu]", path, i);
			lua_rawgeti(L, idx, (lua_Integer)i);
			if (lua_type(L, -1) != LUA_TTABLE) {
				struct tb_option elem = { .type = TB_OPT_TABLE };
				fail(L, p2, &elem, -1);
			}
			cJSON *item = check_table(L, -1, o->children, p2, depth + 1);
			cJSON_AddItemToArray(*arr, item);
			lua_pop(L, 1);
		}
		return guard_release(L, arr);
	}
	case TB_OPT_MAP: {
		if (t != LUA_TTABLE)
			fail(L, path, o, idx);
		cJSON **obj = guard_push(L, cJSON_CreateObject());
		size_t count = 0;
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
				luaL_error(L, "%s: expected a table of string keys to string values", path);
			if (++count > CONFIG_MAX_ITEMS)
				luaL_error(L, "%s: more than %d entries", path, CONFIG_MAX_ITEMS);
			cJSON_AddItemToObject(*obj, lua_tostring(L, -2), cJSON_CreateString(lua_tostring(L, -1)));
			lua_pop(L, 1);
		}
		return guard_release(L, obj);
	}
	case TB_OPT_FUNCTION: {
		if (t != LUA_TFUNCTION)
			fail(L, path, o, idx);
		lua_pushvalue(L, idx);
		int ref = luaL_ref(L, LUA_REGISTRYINDEX);
		cJSON *obj = cJSON_CreateObject();
		cJSON_AddNumberToObject(obj, "lua_function", ref);
		return obj;
	}
	}
	luaL_error(L, "%s: bad option type", path);
	return NULL;
}

static const struct tb_option *find_option(const struct tb_option *opts, const char *name)
{
	for (; opts && opts->name; opts++)
		if (strcmp(opts->name, name) == 0)
			return opts;
	return NULL;
}

static cJSON *check_table(lua_State *L, int idx, const struct tb_option *opts, const char *path, int depth)
{
	idx = lua_absindex(L, idx);
	if (depth > CONFIG_MAX_DEPTH)
		luaL_error(L, "%s: nested too deeply", path);
	cJSON **guard = guard_push(L, cJSON_CreateObject());

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_error(L, "%s: option names must be strings", path);
		const char *name = lua_tostring(L, -2);
		char sub[256];
		snprintf(sub, sizeof sub, "%s.%s", path, name);
		const struct tb_option *o = find_option(opts, name);
		if (!o)
			luaL_error(L, "%s: unknown option", sub);
		cJSON *v = check_value(L, -1, o, sub, depth);
		cJSON_AddItemToObject(*guard, name, v);
		lua_pop(L, 1);
	}
	return guard_release(L, guard);
}

static struct tb_config *get_cfg(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/*
 * The sandbox limits set in `core {}` take effect as soon as the section has
 * been called, so that they also hold for the rest of the configuration.
 */
static void apply_core_limits(struct tb_config *cfg, const cJSON *core)
{
	const cJSON *v;
	if (cJSON_IsNumber(v = tb_cfg_get(core, "hook_deadline_ms")))
		cfg->hook_deadline_ms = (long long)v->valuedouble;
	if (cJSON_IsNumber(v = tb_cfg_get(core, "hook_max_instructions")))
		cfg->hook_instructions = (long long)v->valuedouble;
	if (cJSON_IsNumber(v = tb_cfg_get(core, "pattern_max_quantifiers")))
		cfg->pattern_max_quantifiers = (int)v->valuedouble;
	if (cJSON_IsNumber(v = tb_cfg_get(core, "pattern_max_cost")))
		cfg->pattern_max_cost = v->valuedouble;
}

/* The Lua function behind every section: `name { ... }`. */
static int section_call(lua_State *L)
{
	struct tb_config *cfg = get_cfg(L);
	struct section *sec = &cfg->sections[lua_tointeger(L, lua_upvalueindex(2))];
	const struct tb_section_def *def = sec->def;
	if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TTABLE)
		return luaL_error(L, "%s: expected a table argument, as in %s { ... }", def->name, def->name);
	cJSON *obj = check_table(L, 1, def->options, def->name, 0);
	if (def->repeated) {
		if (!sec->value || sec->phase != cfg->phase) {
			cJSON_Delete(sec->value);
			sec->value = cJSON_CreateArray();
		}
		cJSON_AddItemToArray(sec->value, obj);
	} else if (!sec->value) {
		sec->value = obj;
	} else {
		if (sec->phase == cfg->phase) {
			cJSON_Delete(obj);
			return luaL_error(L, "%s: section given twice", def->name);
		}
		/* A later phase overrides option by option. */
		cJSON *item = obj->child;
		while (item) {
			cJSON *next = item->next;
			cJSON_DetachItemViaPointer(obj, item);
			cJSON_DeleteItemFromObjectCaseSensitive(sec->value, item->string);
			cJSON_AddItemToObject(sec->value, item->string, item);
			item = next;
		}
		cJSON_Delete(obj);
	}
	sec->phase = cfg->phase;
	if (def == &tb_core_section)
		apply_core_limits(cfg, sec->value);
	return 0;
}

static const struct tb_section_def *const core_sections[] = { &tb_core_section, &tb_listen_section };

/* Lua allocator with a cap, so that a configuration cannot eat the machine. */
static void *config_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct tb_config *cfg = ud;
	size_t old = ptr ? osize : 0;
	if (nsize == 0) {
		free(ptr);
		cfg->mem_used -= old;
		return NULL;
	}
	if (nsize > old && cfg->mem_used - old + nsize > cfg->mem_limit)
		return NULL;
	void *p = realloc(ptr, nsize);
	if (p)
		cfg->mem_used = cfg->mem_used - old + nsize;
	return p;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct tb_config *state_cfg(lua_State *L)
{
	void *ud;
	lua_getallocf(L, &ud);
	return ud;
}

/* Raises a Lua error once the running chunk or hook is past its wall-clock deadline. */
static void check_deadline(lua_State *L, struct tb_config *cfg)
{
	if (!cfg->deadline_ns || now_ns() < cfg->deadline_ns)
		return;
	if (cfg->in_hook)
		luaL_error(L, "hook ran longer than %d ms (core.hook_deadline_ms)", (int)cfg->hook_deadline_ms);
	luaL_error(L, "configuration ran longer than %d seconds", (int)(CONFIG_MAX_MS / 1000));
}

/*
 * The instruction budget, and the wall clock: a loop that spends its time in
 * C functions (string.rep, a plain find over a long string) runs few
 * instructions, so the clock is read here too.
 */
static void count_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct tb_config *cfg = state_cfg(L);
	cfg->instr_left -= cfg->in_hook ? HOOK_EVERY : CONFIG_HOOK_EVERY;
	if (cfg->instr_left < 0) {
		if (cfg->in_hook)
			luaL_error(L, "hook ran longer than %I instructions (core.hook_max_instructions)",
				(LUAI_UACINT)cfg->hook_instructions);
		luaL_error(L, "configuration ran longer than %d million instructions", (int)(cfg->instr_limit / 1000000));
	}
	check_deadline(L, cfg);
}

/* ---- Lua patterns: refuse the ones that could backtrack for too long ---- */

/*
 * Lua's pattern matcher backtracks without bound and runs inside one C call,
 * where neither the instruction budget nor the deadline can stop it:
 * ("a?"):rep(27)..("a"):rep(27) against ("a"):rep(27) takes seconds, and four
 * `a*` against 253 bytes takes a minute. The string functions that match
 * patterns are therefore wrapped. A pattern is a flat sequence of items; only
 * a quantified single-character class (x*, x+, x-, x?) is a choice point, and
 * at any position it can match at most as many characters as the longest run
 * of subject characters in its class. So one match attempt explores at most
 * the product over quantified items of (run + 1) paths, and there is one
 * attempt per start position (one when anchored). %b and back-references scan
 * up to the whole subject, once per path. That product is the cost estimate
 * checked against core.pattern_max_cost; core.pattern_max_quantifiers caps the
 * number of quantifiers outright. A single pass over the subject is always
 * allowed.
 */

/* Does %x (x a class letter, or any other escaped character) contain c? */
static int escape_has(unsigned char c, unsigned char x)
{
	int r;
	switch (tolower(x)) {
	case 'a': r = isalpha(c); break;
	case 'c': r = iscntrl(c); break;
	case 'd': r = isdigit(c); break;
	case 'g': r = isgraph(c); break;
	case 'l': r = islower(c); break;
	case 'p': r = ispunct(c); break;
	case 's': r = isspace(c); break;
	case 'u': r = isupper(c); break;
	case 'w': r = isalnum(c); break;
	case 'x': r = isxdigit(c); break;
	default: return c == x;
	}
	r = r != 0;
	return isupper(x) ? !r : r;
}

/* Does the set [p, e) ("[...]", e just past the ']') contain c? */
static int set_has(unsigned char c, const char *p, const char *e)
{
	p++;
	e--;
	int neg = 0, found = 0;
	if (*p == '^') {
		neg = 1;
		p++;
	}
	while (p < e) {
		if (*p == '%' && p + 1 < e) {
			found |= escape_has(c, (unsigned char)p[1]);
			p += 2;
		} else if (p + 2 < e && p[1] == '-') {
			found |= (unsigned char)p[0] <= c && c <= (unsigned char)p[2];
			p += 3;
		} else {
			found |= (unsigned char)*p == c;
			p++;
		}
	}
	return found != neg;
}

static int class_has(unsigned char c, const char *p, const char *e)
{
	switch (*p) {
	case '.': return 1;
	case '%': return escape_has(c, (unsigned char)p[1]);
	case '[': return set_has(c, p, e);
	default: return (unsigned char)*p == c;
	}
}

/* End of the single-character class starting at p, or NULL when malformed. */
static const char *class_end(const char *p, const char *e)
{
	if (*p == '%')
		return p + 1 < e ? p + 2 : NULL;
	if (*p != '[')
		return p + 1;
	const char *q = p + 1;
	if (q < e && *q == '^')
		q++;
	for (int first = 1;; first = 0) {
		if (q >= e)
			return NULL;
		if (*q == ']' && !first)
			return q + 1;
		if (*q == '%')
			q++; /* the escaped character, even ']' */
		q++;
	}
}

static size_t longest_run(const char *s, size_t n, const char *p, const char *e)
{
	size_t best = 0, run = 0;
	for (size_t i = 0; i < n; i++) {
		run = class_has((unsigned char)s[i], p, e) ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

/*
 * Counts the quantifiers of pattern p and estimates its cost on subject s
 * (see above). anchor_ok: a leading '^' anchors (not in gmatch). Returns 0, or
 * -1 for a malformed pattern (refused: Lua would notice only on reaching the
 * bad item, possibly after a long search).
 */
static int pattern_cost(const char *s, size_t n, const char *p, size_t m, int anchor_ok, int *quantifiers,
	double *cost)
{
	const char *e = p + m;
	int anchored = 0, linear = 0;
	double paths = 1;
	*quantifiers = 0;
	if (anchor_ok && p < e && *p == '^') {
		anchored = 1;
		p++;
	}
	while (p < e) {
		if (*p == '(' || *p == ')') { /* captures, including () positions */
			p++;
			continue;
		}
		if (*p == '$' && p + 1 == e)
			break;
		if (*p == '%' && p + 1 < e && p[1] == 'b') {
			if (e - p < 4)
				return -1;
			linear = 1;
			p += 4;
			continue;
		}
		if (*p == '%' && p + 1 < e && p[1] == 'f') {
			p += 2;
			if (p >= e || *p != '[' || !(p = class_end(p, e)))
				return -1;
			continue;
		}
		if (*p == '%' && p + 1 < e && isdigit((unsigned char)p[1])) {
			linear = 1;
			p += 2;
			continue;
		}
		const char *c = p;
		if (!(p = class_end(c, e)))
			return -1;
		if (p < e && (*p == '*' || *p == '+' || *p == '-' || *p == '?')) {
			size_t run = longest_run(s, n, c, p);
			if (*p == '?' && run > 1)
				run = 1;
			paths *= (double)run + 1;
			(*quantifiers)++;
			p++;
		}
	}
	double per_start = paths * (linear ? (double)n + 1 : 1);
	*cost = per_start <= 1 ? 0 : (anchored ? 1 : (double)n + 1) * per_start;
	return 0;
}

enum { PAT_FIND, PAT_MATCH, PAT_GMATCH, PAT_GSUB };
static const char *const pattern_fns[] = { "find", "match", "gmatch", "gsub" };

/* string.find/match/gmatch/gsub: checks the pattern, then calls the original (upvalue 1). */
static int pattern_guard(lua_State *L)
{
	struct tb_config *cfg = state_cfg(L);
	int kind = (int)lua_tointeger(L, lua_upvalueindex(2));
	size_t n, m;
	const char *s = luaL_checklstring(L, 1, &n);
	const char *p = luaL_checklstring(L, 2, &m);
	if (!(kind == PAT_FIND && lua_toboolean(L, 4))) { /* a plain find cannot backtrack */
		int q;
		double cost;
		if (pattern_cost(s, n, p, m, kind != PAT_GMATCH, &q, &cost))
			return luaL_error(L, "string.%s: malformed pattern", pattern_fns[kind]);
		if (q > cfg->pattern_max_quantifiers)
			return luaL_error(L, "string.%s: pattern has %d quantifiers (* + - ?), more than the %d allowed "
				"(core.pattern_max_quantifiers)", pattern_fns[kind], q, cfg->pattern_max_quantifiers);
		if (cost > cfg->pattern_max_cost) {
			char msg[320]; /* lua_pushfstring knows neither %g nor %zu */
			snprintf(msg, sizeof msg, "string.%s: pattern could backtrack about %.3g steps on a %zu-byte "
				"string, more than the %.3g allowed (core.pattern_max_cost); anchor it with ^ or use fewer "
				"or narrower quantifiers", pattern_fns[kind], cost, n, cfg->pattern_max_cost);
			return luaL_error(L, "%s", msg);
		}
	}
	check_deadline(L, cfg);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/*
 * Replaces the pattern functions in the string table, which is also the
 * __index of the strings' shared metatable, so ("x"):find(...) is covered.
 * The originals live only as upvalues of C closures, out of the script's reach
 * (no debug library).
 */
static void guard_patterns(lua_State *L)
{
	lua_getglobal(L, LUA_STRLIBNAME);
	for (int i = 0; i < 4; i++) {
		lua_getfield(L, -1, pattern_fns[i]);
		lua_pushinteger(L, i);
		lua_pushcclosure(L, pattern_guard, 2);
		lua_setfield(L, -2, pattern_fns[i]);
	}
	lua_pop(L, 1);
}

void tb_config_set_limits(struct tb_config *cfg, size_t max_memory, long long max_instructions)
{
	cfg->mem_limit = max_memory;
	cfg->instr_limit = max_instructions;
}

struct tb_config *tb_config_new(const struct tb_section_def *const *sections, size_t n)
{
	struct tb_config *cfg = calloc(1, sizeof *cfg);
	if (!cfg)
		return NULL;
	cfg->mem_limit = CONFIG_MAX_MEMORY;
	cfg->instr_limit = CONFIG_MAX_INSTRUCTIONS;
	cfg->hook_deadline_ms = HOOK_DEADLINE_MS;
	cfg->hook_instructions = HOOK_MAX_INSTRUCTIONS;
	cfg->pattern_max_quantifiers = PATTERN_MAX_QUANTIFIERS;
	cfg->pattern_max_cost = PATTERN_MAX_COST;
	cfg->n = n + 2;
	cfg->sections = calloc(cfg->n, sizeof *cfg->sections);
	cfg->L = lua_newstate(config_alloc, cfg);
	if (!cfg->sections || !cfg->L) {
		tb_config_free(cfg);
		return NULL;
	}
	for (size_t i = 0; i < 2; i++)
		cfg->sections[i].def = core_sections[i];
	for (size_t i = 0; i < n; i++)
		cfg->sections[2 + i].def = sections[i];

	lua_State *L = cfg->L;
	lua_sethook(L, count_hook, LUA_MASKCOUNT, CONFIG_HOOK_EVERY);
	static const luaL_Reg libs[] = {
		{ LUA_GNAME, luaopen_base }, { LUA_STRLIBNAME, luaopen_string },
		{ LUA_TABLIBNAME, luaopen_table }, { LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 }, { LUA_OSLIBNAME, luaopen_os }, { NULL, NULL },
	};
	for (const luaL_Reg *l = libs; l->name; l++) {
		luaL_requiref(L, l->name, l->func, 1);
		lua_pop(L, 1);
	}
	/* Keep only os.getenv and os.time; no file loading from config. */
	lua_newtable(L);
	lua_getglobal(L, "os");
	lua_getfield(L, -1, "getenv");
	lua_setfield(L, -3, "getenv");
	lua_getfield(L, -1, "time");
	lua_setfield(L, -3, "time");
	lua_pop(L, 1);
	lua_setglobal(L, "os");
	guard_patterns(L);
	const char *banned[] = { "dofile", "loadfile", "load", "require", "collectgarbage", NULL };
	for (int i = 0; banned[i]; i++) {
		lua_pushnil(L);
		lua_setglobal(L, banned[i]);
	}
	for (size_t i = 0; i < cfg->n; i++) {
		lua_pushlightuserdata(L, cfg);
		lua_pushinteger(L, (lua_Integer)i);
		lua_pushcclosure(L, section_call, 2);
		lua_setglobal(L, cfg->sections[i].def->name);
	}
	return cfg;
}

void tb_config_free(struct tb_config *cfg)
{
	if (!cfg)
		return;
	if (cfg->L)
		lua_close(cfg->L);
	for (size_t i = 0; cfg->sections && i < cfg->n; i++)
		cJSON_Delete(cfg->sections[i].value);
	free(cfg->sections);
	free(cfg);
}

static int run_chunk(struct tb_config *cfg, const char *chunkname, const char *src, size_t len,
	char *err, size_t errlen)
{
	if (cfg->finished) {
		snprintf(err, errlen, "configuration already finished");
		return TB_ERR_STATE;
	}
	lua_State *L = cfg->L;
	cfg->instr_left = cfg->instr_limit;
	cfg->deadline_ns = now_ns() + CONFIG_MAX_MS * 1000000LL;
	int rc = luaL_loadbufferx(L, src, len, chunkname, "t");
	if (rc == LUA_OK)
		rc = lua_pcall(L, 0, 0, 0);
	cfg->deadline_ns = 0;
	if (rc != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		snprintf(err, errlen, "%s", msg ? msg : "error in configuration");
		lua_pop(L, 1);
		return TB_ERR_CONFIG;
	}
	cfg->phase++;
	return 0;
}

int tb_config_run_string(struct tb_config *cfg, const char *chunkname, const char *src,
	char *err, size_t errlen)
{
	return run_chunk(cfg, chunkname, src, strlen(src), err, errlen);
}

int tb_config_run_file(struct tb_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return TB_ERR_CONFIG;
	}
	struct tb_bytes b = { 0 };
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b.len + n > CONFIG_MAX_FILE) {
			fclose(f);
			tb_bytes_free(&b);
			snprintf(err, errlen, "%s: larger than %u bytes", path, CONFIG_MAX_FILE);
			return TB_ERR_CONFIG;
		}
		tb_bytes_append(&b, chunk, n);
	}
	fclose(f);
	char name[512];
	const char *base = strrchr(path, '/');
	snprintf(name, sizeof name, "@%s", base ? base + 1 : path);
	int rc = run_chunk(cfg, name, b.p ? (const char *)b.p : "", b.len, err, errlen);
	tb_bytes_free(&b);
	return rc;
}

/* Adds defaults for absent options and checks required ones, recursively. */
static int fill_defaults(cJSON *obj, const struct tb_option *opts, const char *path, char *err, size_t errlen)
{
	for (const struct tb_option *o = opts; o && o->name; o++) {
		char sub[256];
		snprintf(sub, sizeof sub, "%s.%s", path, o->name);
		cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, o->name);
		if (!v) {
			if (o->required) {
				snprintf(err, errlen, "%s: required option missing (%s)", sub, type_name(o->type));
				return TB_ERR_CONFIG;
			}
			if (!o->def)
				continue;
			v = cJSON_Parse(o->def);
			if (!v) {
				snprintf(err, errlen, "%s: bad built-in default", sub);
				return TB_ERR_CONFIG;
			}
			cJSON_AddItemToObject(obj, o->name, v);
		}
		if (o->type == TB_OPT_TABLE && cJSON_IsObject(v)) {
			int rc = fill_defaults(v, o->children, sub, err, errlen);
			if (rc)
				return rc;
		} else if (o->type == TB_OPT_TABLES && cJSON_IsArray(v)) {
			int i = 0;
			cJSON *it;
			cJSON_ArrayForEach(it, v) {
				char p2[300];
				snprintf(p2, sizeof p2, "%s[%d]", sub, ++i);
				int rc = fill_defaults(it, o->children, p2, err, errlen);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

int tb_config_finish(struct tb_config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->n; i++) {
		struct section *sec = &cfg->sections[i];
		if (!sec->value)
			sec->value = sec->def->repeated ? cJSON_CreateArray() : cJSON_CreateObject();
		if (sec->def->repeated) {
			cJSON *it;
			int k = 0;
			cJSON_ArrayForEach(it, sec->value) {
				char p[128];
				snprintf(p, sizeof p, "%s[%d]", sec->def->name, ++k);
				int rc = fill_defaults(it, sec->def->options, p, err, errlen);
				if (rc)
					return rc;
			}
		} else {
			int rc = fill_defaults(sec->value, sec->def->options, sec->def->name, err, errlen);
			if (rc)
				return rc;
		}
	}
	cfg->finished = 1;
	return 0;
}

const cJSON *tb_config_section(const struct tb_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (strcmp(cfg->sections[i].def->name, name) == 0)
			return cfg->sections[i].value;
	return NULL;
}

struct lua_State *tb_config_lua(const struct tb_config *cfg)
{
	return cfg->L;
}

/* ---- dump: the effective configuration as a Lua script ---- */

static int is_ident(const char *s)
{
	if (!*s || !(s[0] == '_' || (s[0] | 32) >= 'a') || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= '0' && *s <= '9') || ((*s | 32) >= 'a' && (*s | 32) <= 'z')))
			return 0;
	return 1;
}

static void lua_quote(struct tb_bytes *b, const char *s)
{
	tb_bytes_u8(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			tb_bytes_printf(b, "\\%c", c);
		else if (c == '\n')
			tb_bytes_printf(b, "\\n");
		else if (c < 0x20 || c == 0x7f)
			tb_bytes_printf(b, "\\%03d", c);
		else
			tb_bytes_u8(b, c);
	}
	tb_bytes_u8(b, '"');
}

static void dump_value(struct tb_bytes *b, const cJSON *v, int indent)
{
	if (cJSON_IsBool(v)) {
		tb_bytes_printf(b, "%s", cJSON_IsTrue(v) ? "true" : "false");
	} else if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d == floor(d) && fabs(d) < 9e15)
			tb_bytes_printf(b, "%lld", (long long)d);
		else
			tb_bytes_printf(b, "%.17g", d);
	} else if (cJSON_IsString(v)) {
		lua_quote(b, v->valuestring);
	} else if (cJSON_IsArray(v)) {
		if (!v->child) {
			tb_bytes_printf(b, "{}");
			return;
		}
		tb_bytes_printf(b, "{\n");
		const cJSON *it;
		cJSON_ArrayForEach(it, v) {
			tb_bytes_printf(b, "%*s", indent + 2, "");
			dump_value(b, it, indent + 2);
			tb_bytes_printf(b, ",\n");
		}
		tb_bytes_printf(b, "%*s}", indent, "");
	} else if (cJSON_IsObject(v)) {
		if (cJSON_GetObjectItemCaseSensitive(v, "lua_function") && !v->child->next) {
			tb_bytes_printf(b, "nil --[[ a Lua function ]]");
			return;
		}
		if (!v->child) {
			tb_bytes_printf(b, "{}");
			return;
		}
		tb_bytes_printf(b, "{\n");
		const cJSON *it;
		cJSON_ArrayForEach(it, v) {
			tb_bytes_printf(b, "%*s", indent + 2, "");
			if (is_ident(it->string)) {
				tb_bytes_printf(b, "%s = ", it->string);
			} else {
				tb_bytes_printf(b, "[");
				lua_quote(b, it->string);
				tb_bytes_printf(b, "] = ");
			}
			dump_value(b, it, indent + 2);
			tb_bytes_printf(b, ",\n");
		}
		tb_bytes_printf(b, "%*s}", indent, "");
	} else {
		tb_bytes_printf(b, "nil");
	}
}

char *tb_config_dump(const struct tb_config *cfg)
{
	struct tb_bytes b = { 0 };
	tb_bytes_printf(&b, "-- trustbox effective configuration (defaults filled in)\n");
	for (size_t i = 0; i < cfg->n; i++) {
		const struct section *sec = &cfg->sections[i];
		if (!sec->value)
			continue;
		if (sec->def->repeated) {
			const cJSON *it;
			cJSON_ArrayForEach(it, sec->value) {
				tb_bytes_printf(&b, "\n%s ", sec->def->name);
				dump_value(&b, it, 0);
				tb_bytes_printf(&b, "\n");
			}
		} else {
			tb_bytes_printf(&b, "\n%s ", sec->def->name);
			dump_value(&b, sec->value, 0);
			tb_bytes_printf(&b, "\n");
		}
	}
	return tb_bytes_cstr(&b);
}

/* Text for a Markdown table cell: '|' would end the cell. */
static void md_cell(struct tb_bytes *b, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			tb_bytes_printf(b, "\\|");
		else if (*s == '\n')
			tb_bytes_u8(b, ' ');
		else
			tb_bytes_u8(b, (uint8_t)*s);
	}
}

static void doc_options(struct tb_bytes *b, const struct tb_option *opts, const char *prefix)
{
	for (const struct tb_option *o = opts; o && o->name; o++) {
		tb_bytes_printf(b, "| `%s%s` | %s", prefix, o->name, type_name(o->type));
		if ((o->type == TB_OPT_INT || o->type == TB_OPT_NUMBER) && o->min < o->max)
			tb_bytes_printf(b, " in [%g, %g]", o->min, o->max);
		else if (o->type == TB_OPT_ENUM) {
			tb_bytes_printf(b, ": ");
			md_cell(b, o->choices);
		}
		tb_bytes_printf(b, " | ");
		if (o->required) {
			tb_bytes_printf(b, "required");
		} else if (o->def) {
			tb_bytes_printf(b, "`");
			md_cell(b, o->def);
			tb_bytes_printf(b, "`");
		} else {
			tb_bytes_printf(b, "none");
		}
		tb_bytes_printf(b, " | ");
		md_cell(b, o->help);
		tb_bytes_printf(b, " |\n");
		if (o->children) {
			char p2[128];
			snprintf(p2, sizeof p2, "%s%s%s.", prefix, o->name, o->type == TB_OPT_TABLES ? "[]" : "");
			doc_options(b, o->children, p2);
		}
	}
}

char *tb_config_doc(const struct tb_section_def *const *sections, size_t n)
{
	struct tb_bytes b = { 0 };
	tb_bytes_printf(&b, "# Configuration reference\n\n"
		"Generated by `trustbox config doc` from the option tables in the code.\n"
		"A configuration file is a Lua 5.4 script that calls one function per section.\n"
		"Unknown options are errors; absent options take the default shown.\n"
		"\n## The sandbox\n\n"
		"The script runs in a restricted Lua state: base, string, table, math and utf8, plus\n"
		"`os.getenv` and `os.time`; no `io`, no `load`, `dofile`, `require` or `collectgarbage`.\n"
		"The heap is capped at 64 MiB, and each file may run at most 100 million instructions and\n"
		"10 seconds.\n\n"
		"Functions the configuration hands to the daemon (hooks, such as `dns.policy`, run per\n"
		"query) run in the same state. Each call may run at most `core.hook_max_instructions`\n"
		"instructions and `core.hook_deadline_ms` of wall clock (checked every thousand\n"
		"instructions and before every pattern match); a hook that fails or is stopped counts as\n"
		"having returned nothing, and its subsystem says what that means.\n\n"
		"A Lua pattern match runs inside one C call that neither limit can interrupt, and Lua's\n"
		"matcher backtracks: `string.find((\"a\"):rep(27), (\"a?\"):rep(27)..(\"a\"):rep(27))` takes\n"
		"seconds. So `string.find`, `string.match`, `string.gmatch` and `string.gsub` (and their\n"
		"method forms, `s:find(...)`) refuse, with an error naming the option:\n\n"
		"- a pattern with more than `core.pattern_max_quantifiers` quantifiers (`*`, `+`, `-`, `?`);\n"
		"- a pattern whose estimated backtracking on its subject exceeds `core.pattern_max_cost`.\n"
		"  The estimate multiplies, over the quantified items, one plus the longest run of subject\n"
		"  characters the item's class matches, by the number of start positions (one for a\n"
		"  pattern anchored with `^`), and by the subject's length when the pattern holds `%%b` or\n"
		"  a back-reference. One pass over the subject is always allowed. Anchoring, and narrow\n"
		"  classes such as `[^.]+` instead of `.*`, keep the estimate low;\n"
		"- a malformed pattern.\n\n"
		"A plain find (`string.find(s, p, 1, true)`) is never limited. The `core` options take\n"
		"effect from the `core { ... }` call on, for the rest of the script and for its hooks.\n");
	for (size_t i = 0; i < n + 2; i++) {
		const struct tb_section_def *d = i < 2 ? core_sections[i] : sections[i - 2];
		tb_bytes_printf(&b, "\n## `%s { ... }`%s\n\n%s\n\n", d->name, d->repeated ? " (repeatable)" : "",
			d->help ? d->help : "");
		tb_bytes_printf(&b, "| option | type | default | meaning |\n|---|---|---|---|\n");
		doc_options(&b, d->options, "");
	}
	return tb_bytes_cstr(&b);
}

/* ---- accessors ---- */

const cJSON *tb_cfg_get(const cJSON *obj, const char *name)
{
	return obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
}

const char *tb_cfg_str(const cJSON *obj, const char *name)
{
	const cJSON *v = tb_cfg_get(obj, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

long long tb_cfg_int(const cJSON *obj, const char *name)
{
	const cJSON *v = tb_cfg_get(obj, name);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

double tb_cfg_num(const cJSON *obj, const char *name)
{
	const cJSON *v = tb_cfg_get(obj, name);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

int tb_cfg_bool(const cJSON *obj, const char *name)
{
	return cJSON_IsTrue(tb_cfg_get(obj, name));
}

int tb_cfg_call_hook(struct lua_State *L, int ref, int nargs, int nresults, char *err, size_t errlen)
{
	struct tb_config *cfg = state_cfg(L);
	int base = lua_gettop(L) - nargs;
	if (cfg->in_hook) {
		snprintf(err, errlen, "a hook is already running");
		lua_settop(L, base);
		return TB_ERR_STATE;
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
	lua_insert(L, base + 1);
	cfg->in_hook = 1;
	cfg->instr_left = cfg->hook_instructions;
	cfg->deadline_ns = now_ns() + cfg->hook_deadline_ms * 1000000LL;
	lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
	int rc = lua_pcall(L, nargs, nresults, 0);
	lua_sethook(L, count_hook, LUA_MASKCOUNT, CONFIG_HOOK_EVERY);
	cfg->in_hook = 0;
	cfg->deadline_ns = 0;
	if (rc != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		snprintf(err, errlen, "%s", msg ? msg : "error in hook");
		lua_settop(L, base);
		return TB_ERR_CONFIG;
	}
	return 0;
}

int tb_cfg_hook(const cJSON *obj, const char *name)
{
	const cJSON *v = tb_cfg_get(obj, name);
	const cJSON *r = v ? cJSON_GetObjectItemCaseSensitive(v, "lua_function") : NULL;
	return cJSON_IsNumber(r) ? (int)r->valuedouble : LUA_NOREF;
}
