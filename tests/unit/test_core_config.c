/* The Lua configuration loader: option tables, defaults, overrides, errors. */
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "tb_test.h"

static const struct tb_option child_opts[] = {
	{ "name", TB_OPT_STRING, NULL, "a name", 0, 0, NULL, NULL, 1 },
	{ "size", TB_OPT_INT, "10", "a size", 1, 100 },
	TB_OPTIONS_END
};

static const struct tb_option inner_opts[] = {
	{ "size", TB_OPT_INT, "10", "a size", 1, 100 },
	{ "label", TB_OPT_STRING, "\"l\"", "a label" },
	TB_OPTIONS_END
};

static const struct tb_option demo_opts[] = {
	{ "enabled", TB_OPT_BOOL, "true", "on or off" },
	{ "port", TB_OPT_INT, "5353", "a port", 0, 65535 },
	{ "ratio", TB_OPT_NUMBER, "0.5", "a ratio", 0, 1 },
	{ "mode", TB_OPT_ENUM, "\"lab\"", "mode", 0, 0, "lab|strict" },
	{ "names", TB_OPT_STRINGS, "[\"a\"]", "names" },
	{ "inner", TB_OPT_TABLE, "{}", "nested", 0, 0, NULL, inner_opts },
	{ "items", TB_OPT_TABLES, "[]", "list of nested", 0, 0, NULL, child_opts },
	{ "keys", TB_OPT_MAP, "{}", "map" },
	{ "hook", TB_OPT_FUNCTION, NULL, "a policy hook" },
	TB_OPTIONS_END
};

static const struct tb_section_def demo = { "demo", demo_opts, 0, "demo section" };
static const struct tb_section_def *const sections[] = { &demo };

/* Runs default then user source; returns the error text ("" when ok). */
static struct tb_config *load(const char *def, const char *user, char *err, size_t errlen)
{
	struct tb_config *cfg = tb_config_new(sections, 1);
	err[0] = 0;
	if ((def && tb_config_run_string(cfg, "=default", def, err, errlen)) ||
		(user && tb_config_run_string(cfg, "=user", user, err, errlen)) || tb_config_finish(cfg, err, errlen)) {
		tb_config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void expect_error(const char *user, const char *want_fragment)
{
	char err[512];
	struct tb_config *cfg = load(NULL, user, err, sizeof err);
	CHECK(cfg == NULL);
	if (!strstr(err, want_fragment))
		fprintf(stderr, "for %s\n  expected an error containing \"%s\", got \"%s\"\n", user, want_fragment, err);
	CHECK(strstr(err, want_fragment) != NULL);
	tb_config_free(cfg);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The configuration must fail with want_fragment, in well under a second. */
static void expect_error_fast(const char *user, const char *want_fragment)
{
	double t0 = now_s();
	expect_error(user, want_fragment);
	double took = now_s() - t0;
	if (took >= 1.0)
		fprintf(stderr, "for %s\n  took %.2f s\n", user, took);
	CHECK(took < 1.0);
}

/* The configuration must load (its own assertions hold). */
static void expect_ok(const char *user)
{
	char err[512];
	struct tb_config *cfg = load(NULL, user, err, sizeof err);
	if (!cfg)
		fprintf(stderr, "for %s\n  unexpected error: %s\n", user, err);
	CHECK(cfg != NULL);
	tb_config_free(cfg);
}

/*
 * Calls demo.hook of a configuration with one string argument. Returns the
 * call's result code; *result is the string returned (or the error), *took
 * the wall-clock seconds of the call.
 */
static int call_hook(const char *user, const char *arg, char *result, size_t len, double *took)
{
	char err[512];
	struct tb_config *cfg = load(NULL, user, err, sizeof err);
	CHECK(cfg != NULL);
	if (!cfg) {
		fprintf(stderr, "for %s\n  unexpected error: %s\n", user, err);
		snprintf(result, len, "%s", err);
		return -1;
	}
	lua_State *L = tb_config_lua(cfg);
	int ref = tb_cfg_hook(tb_config_section(cfg, "demo"), "hook");
	int top = lua_gettop(L);
	lua_pushstring(L, arg);
	double t0 = now_s();
	int rc = tb_cfg_call_hook(L, ref, 1, 1, result, len);
	*took = now_s() - t0;
	if (rc == 0) {
		snprintf(result, len, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "(not a string)");
		lua_pop(L, 1);
	}
	CHECK_INT(lua_gettop(L), top); /* the stack is balanced either way */
	/* The state stays usable after a failed or stopped call. */
	lua_pushstring(L, "again");
	char again[512];
	if (tb_cfg_call_hook(L, ref, 1, 0, again, sizeof again) != 0 && strcmp(arg, "again") == 0)
		fprintf(stderr, "second call: %s\n", again);
	CHECK_INT(lua_gettop(L), top);
	tb_config_free(cfg);
	return rc;
}

/*
 * Pattern matching and hooks: a Lua pattern match runs inside one C call, out
 * of reach of the instruction budget, and may backtrack exponentially; the
 * sandbox refuses such patterns, and every hook call has a wall-clock deadline.
 */
static void test_patterns_and_hooks(void)
{
	/* Took about 10 s before the pattern functions were wrapped. */
	expect_error_fast("string.find(('a'):rep(27), ('a?'):rep(27) .. ('a'):rep(27))",
		"string.find: pattern has 27 quantifiers");
	/* The method form goes through the strings' metatable: the same table, the same guard. */
	expect_error_fast("local s = ('a'):rep(27) s:find(('a?'):rep(27) .. ('a'):rep(27))",
		"pattern has 27 quantifiers");
	expect_error_fast("local s = ('a'):rep(27) s:match(('a?'):rep(27) .. ('a'):rep(27))", "string.match:");
	expect_error_fast("local s = ('a'):rep(27) s:gsub(('a?'):rep(27) .. ('a'):rep(27), '')", "string.gsub:");
	expect_error_fast("for _ in ('a'):rep(27):gmatch(('a?'):rep(27) .. ('a'):rep(27)) do end", "string.gmatch:");
	/* Few quantifiers can still be polynomial: four a* on 253 bytes took about a minute. */
	expect_error_fast("string.find(('a'):rep(253), ('a*'):rep(4) .. 'b')", "core.pattern_max_cost");
	expect_error_fast("string.match(('a'):rep(5000), '.-b')", "core.pattern_max_cost");
	expect_error_fast("string.match('abc', '[a')", "malformed pattern");
	/* The limits are options. */
	expect_error_fast("core { pattern_max_quantifiers = 2 } string.match('ab', 'a*b*c*')", "more than the 2 allowed");
	expect_ok("core { pattern_max_cost = 1e9 } assert(string.match(('a'):rep(5000), '.-b') == nil)");
	/* A plain find needs no limit, however many pattern characters it holds. */
	expect_ok("local p = ('a?'):rep(27) assert(string.find('x' .. p, p, 1, true) == 2)"
		" assert(('x' .. p):find(p, 1, true) == 2)");
	/* Ordinary patterns work as before, in every function and form. */
	expect_ok("local n = 'www.lab.test.'"
		" local a, b = n:match('^([^.]+)%.([^.]+)%.test%.$') assert(a == 'www' and b == 'lab')"
		" assert(string.find(n, '%.lab%.') == 4)"
		" assert(n:find('^ads%.') == nil)"
		" assert((n:gsub('%.', '/')) == 'www/lab/test/')"
		" local k = 0 for w in n:gmatch('[^.]+') do k = k + 1 end assert(k == 3)"
		" assert(('(x)'):match('%b()') == '(x)' and ('THE (quick) fox'):find('%f[%a]%a+', 5) == 6)"
		" assert(('hello hello'):match('(h%a+) %1') == 'hello')"
		" assert(('key = value'):match('^(%w+)%s*=%s*(%w+)$') == 'key')");

	char out[512];
	double took;
	/* A hook returns its value. */
	CHECK_INT(call_hook("demo { hook = function(n) return n:upper() .. '!' end }", "x", out, sizeof out, &took), 0);
	CHECK_STR(out, "X!");
	/* A hook meets the same pattern guard. */
	CHECK(call_hook("demo { hook = function(n) return n:rep(27):find(('a?'):rep(27) .. n:rep(27)) end }", "a",
		out, sizeof out, &took) != 0);
	CHECK(strstr(out, "pattern has 27 quantifiers") != NULL);
	CHECK(took < 1.0);
	/* The instruction budget stops an endless loop. */
	CHECK(call_hook("demo { hook = function() while true do end end }", "x", out, sizeof out, &took) != 0);
	CHECK(strstr(out, "instructions") != NULL || strstr(out, "core.hook_deadline_ms") != NULL);
	/*
	 * A loop whose time goes to a C function runs few instructions: about
	 * 200,000 plain finds over 1 MiB fit in the budget of a million, seconds
	 * of work. The deadline (50 ms by default) stops it.
	 */
	CHECK(call_hook("local big = ('x'):rep(1 << 20)"
		" demo { hook = function(n) for i = 1, 1e9 do big:find(n, 1, true) end end }", "y", out, sizeof out,
		&took) != 0);
	if (!strstr(out, "core.hook_deadline_ms") || took >= 0.5)
		fprintf(stderr, "slow hook: %.2f s: %s\n", took, out);
	CHECK(strstr(out, "hook ran longer than 50 ms (core.hook_deadline_ms)") != NULL);
	CHECK(took < 0.5);
	/* The deadline is an option. */
	CHECK(call_hook("core { hook_deadline_ms = 5 } local big = ('x'):rep(1 << 20)"
		" demo { hook = function(n) for i = 1, 1e9 do big:find(n, 1, true) end end }", "y", out, sizeof out,
		&took) != 0);
	CHECK(strstr(out, "hook ran longer than 5 ms") != NULL);
}

int main(void)
{
	char err[512];

	/* Defaults fill a section that was never called. */
	struct tb_config *cfg = load(NULL, NULL, err, sizeof err);
	CHECK(cfg != NULL);
	const cJSON *d = tb_config_section(cfg, "demo");
	CHECK_INT(tb_cfg_int(d, "port"), 5353);
	CHECK_INT(tb_cfg_bool(d, "enabled"), 1);
	CHECK_STR(tb_cfg_str(d, "mode"), "lab");
	CHECK(tb_cfg_num(d, "ratio") == 0.5);
	CHECK_INT(cJSON_GetArraySize(tb_cfg_get(d, "names")), 1);
	CHECK_INT(tb_cfg_int(tb_cfg_get(d, "inner"), "size"), 10); /* nested defaults are filled too */
	CHECK_STR(tb_cfg_str(tb_cfg_get(d, "inner"), "label"), "l");
	tb_config_free(cfg);

	/* The user's file overrides the default option by option. */
	cfg = load("demo { port = 1, mode = 'strict' }", "demo { port = 2 }", err, sizeof err);
	CHECK(cfg != NULL);
	d = tb_config_section(cfg, "demo");
	CHECK_INT(tb_cfg_int(d, "port"), 2);
	CHECK_STR(tb_cfg_str(d, "mode"), "strict");
	tb_config_free(cfg);

	/* Repeated sections: the user's entries replace the default's. */
	cfg = load("listen { name = 'a', port = 1 } listen { name = 'b', port = 2 }",
		"listen { name = 'c', port = 3, tls = false }", err, sizeof err);
	CHECK(cfg != NULL);
	const cJSON *l = tb_config_section(cfg, "listen");
	CHECK_INT(cJSON_GetArraySize(l), 1);
	CHECK_STR(tb_cfg_str(cJSON_GetArrayItem(l, 0), "name"), "c");
	CHECK_STR(tb_cfg_str(cJSON_GetArrayItem(l, 0), "address"), "127.0.0.1");
	CHECK_INT(tb_cfg_bool(cJSON_GetArrayItem(l, 0), "tls"), 0);
	tb_config_free(cfg);

	/* Nested tables, lists, maps and hooks. */
	cfg = load(NULL,
		"demo { items = { { name = 'x' }, { name = 'y', size = 7 } }, keys = { k = 'v' },"
		" hook = function(n) return n == 'ok' end, names = { 'p', 'q' } }",
		err, sizeof err);
	CHECK(cfg != NULL);
	if (!cfg)
		fprintf(stderr, "unexpected error: %s\n", err);
	d = tb_config_section(cfg, "demo");
	const cJSON *items = tb_cfg_get(d, "items");
	CHECK_INT(cJSON_GetArraySize(items), 2);
	CHECK_INT(tb_cfg_int(cJSON_GetArrayItem(items, 0), "size"), 10);
	CHECK_INT(tb_cfg_int(cJSON_GetArrayItem(items, 1), "size"), 7);
	CHECK_STR(tb_cfg_str(tb_cfg_get(d, "keys"), "k"), "v");
	CHECK(tb_cfg_hook(d, "hook") > 0);
	char *dump = tb_config_dump(cfg);
	CHECK(strstr(dump, "port = 5353") != NULL);
	CHECK(strstr(dump, "\"q\"") != NULL);
	free(dump);
	tb_config_free(cfg);

	/* Errors name the option, the expected type and the value found. */
	expect_error("demo { port = 'x' }", "demo.port: expected integer in [0, 65535], got string \"x\"");
	expect_error("demo { port = 70000 }", "demo.port: expected integer in [0, 65535], got number 70000");
	expect_error("demo { port = 1.5 }", "demo.port: expected integer");
	expect_error("demo { prot = 1 }", "demo.prot: unknown option");
	expect_error("demo { mode = 'loose' }", "demo.mode: expected one of lab|strict");
	expect_error("demo { names = { 'a', 3 } }", "demo.names[2]: expected string, got number 3");
	expect_error("demo { items = { { size = 2 } } }", "demo.items[1].name: required option missing");
	expect_error("demo { inner = { size = 0 } }", "demo.inner.size: expected integer in [1, 100]");
	expect_error("demo { enabled = 'yes' }", "demo.enabled: expected boolean, got string \"yes\"");
	expect_error("demo { port = 1 } demo { port = 2 }", "demo: section given twice");
	expect_error("demo 'x'", "demo: expected a table argument");
	expect_error("demo { keys = { k = 1 } }", "demo.keys: expected a table of string keys to string values");
	expect_error("demo {", "user:1:");
	expect_error("error('boom')", "boom");
	expect_error("io.open('/etc/passwd')", "io");
	expect_error("listen { port = 1 }", "listen[1].name: required option missing");
	expect_error("while true do end", "instructions");
	expect_error("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) end", "memory");

	/* The embedded default configuration itself is valid. */
	cfg = load(tb_default_config, NULL, err, sizeof err);
	CHECK(cfg != NULL);
	if (!cfg)
		fprintf(stderr, "default config: %s\n", err);
	tb_config_free(cfg);

	test_patterns_and_hooks();

	char *doc = tb_config_doc(sections, 1);
	CHECK(strstr(doc, "| `items[].size` | integer in [1, 100] |") != NULL);
	free(doc);
	return tb_test_result("config");
}
