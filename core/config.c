/*
 * DESIGN: configuration is a Lua 5.4 script run in a restricted state (base,
 * string, table, math, utf8; no io, os, package, debug except os.getenv and
 * os.time). Each section's Lua function checks its argument against the
 * section's declarative option table and stores the checked value as cJSON:
 * an object per single section, an array of objects per repeated section.
 * The embedded default config runs first (phase 0) and the user's file second
 * (phase 1): a single section merges option by option, a repeated section
 * called by the user drops the defaults' entries. tb_config_finish fills
 * defaults and checks required options; after that the trees are read-only.
 */
#include "core/config.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"

#define CONFIG_MAX_DEPTH 8         /* nesting of TABLE options */
#define CONFIG_MAX_ITEMS 4096      /* entries of one array option or map */
#define CONFIG_MAX_FILE (1u << 20) /* size of a config file */
#define CONFIG_MAX_MEMORY (64u << 20)        /* Lua heap of the config state */
#define CONFIG_MAX_INSTRUCTIONS 100000000LL  /* per chunk: a config that loops forever is an error */
#define CONFIG_HOOK_EVERY 10000

struct section {
	const struct tb_section_def *def;
	cJSON *value;   /* object (single) or array (repeated); NULL until called */
	int phase;      /* phase that last set it */
};

struct tb_config {
	lua_State *L;
	size_t mem_used, mem_limit;   /* Lua heap accounting (CONFIG_MAX_MEMORY) */
	long long instr_left, instr_limit; /* instruction budget of the running chunk */
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
	{ "log_format", TB_OPT_ENUM, "\"text\"", "log line format", 0, 0, "text|json" },
	{ "hostnames", TB_OPT_STRINGS, "[]", "extra DNS names and IPs for the HTTPS certificate (localhost, 127.0.0.1 and ::1 are always in it)" },
	{ "ca_name", TB_OPT_STRING, "\"trustbox\"", "name used in the root and intermediate CA subjects" },
	{ "shutdown_grace_ms", TB_OPT_INT, "5000", "how long a stop waits for in-flight requests", 0, 600000 },
	TB_OPTIONS_END
};

static const struct tb_option listen_options[] = {
	{ "name", TB_OPT_STRING, NULL, "listener name that routes refer to", 0, 0, NULL, NULL, 1 },
	{ "address", TB_OPT_STRING, "\"127.0.0.1\"", "IPv4 or IPv6 address to bind" },
	{ "port", TB_OPT_INT, NULL, "TCP port (0 picks a free one)", 0, 65535, NULL, NULL, 1 },
	{ "tls", TB_OPT_BOOL, "true", "serve HTTPS with the appliance's certificate" },
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

static void count_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct tb_config *cfg;
	lua_getallocf(L, (void **)&cfg);
	cfg->instr_left -= CONFIG_HOOK_EVERY;
	if (cfg->instr_left < 0)
		luaL_error(L, "configuration ran longer than %d million instructions", (int)(cfg->instr_limit / 1000000));
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
	int rc = luaL_loadbufferx(L, src, len, chunkname, "t");
	if (rc == LUA_OK)
		rc = lua_pcall(L, 0, 0, 0);
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
		"Unknown options are errors; absent options take the default shown.\n");
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

int tb_cfg_hook(const cJSON *obj, const char *name)
{
	const cJSON *v = tb_cfg_get(obj, name);
	const cJSON *r = v ? cJSON_GetObjectItemCaseSensitive(v, "lua_function") : NULL;
	return cJSON_IsNumber(r) ? (int)r->valuedouble : LUA_NOREF;
}
