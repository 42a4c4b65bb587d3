#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/clock.h"

static enum tb_log_level min_level = TB_LOG_INFO;
static int json_lines;

static const char *const names[] = { "debug", "info", "warn", "error", "off" };

void tb_log_set_level(enum tb_log_level min) { min_level = min; }
void tb_log_set_json(int json) { json_lines = json; }
int tb_log_enabled(enum tb_log_level level) { return level >= min_level; }

int tb_log_level_parse(const char *s)
{
	for (int i = 0; i <= TB_LOG_OFF; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static int utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	int n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (n == 0 || (n == 2 && s[0] < 0xc2) || (n == 4 && s[0] > 0xf4))
		return 0;
	for (int i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* overlong 3/4-byte forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
		(n == 4 && s[0] == 0xf0 && s[1] < 0x90) || (n == 4 && s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

/* JSON string content: escapes, and U+FFFD for every byte that is not valid UTF-8. */
static void json_escape(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s) {
		unsigned char c = *s;
		int n = utf8_len(s);
		if (n == 0) {
			fputs("\\ufffd", f);
			s++;
		} else if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", c);
			s++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			s++;
		} else {
			fwrite(s, 1, (size_t)n, f);
			s += n;
		}
	}
}

void tb_log(enum tb_log_level level, const char *tag, const char *fmt, ...)
{
	if (level < min_level || level >= TB_LOG_OFF)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (len >= (int)sizeof msg) {
		/* Truncated: do not end inside a multi-byte character. */
		size_t end = sizeof msg - 1;
		while (end > 0 && ((unsigned char)msg[end - 1] & 0xc0) == 0x80)
			end--;
		if (end > 0 && ((unsigned char)msg[end - 1] & 0xc0) == 0xc0)
			end--;
		msg[end] = 0;
	}

	struct timespec tv;
	tb_time_now_ts(&tv);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	char ts[40];
	size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(tv.tv_nsec / 1000000));

	flockfile(stderr);
	if (json_lines) {
		fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"tag\":\"", ts, names[level]);
		json_escape(stderr, tag ? tag : "core");
		fputs("\",\"msg\":\"", stderr);
		json_escape(stderr, msg);
		fputs("\"}\n", stderr);
	} else {
		fprintf(stderr, "%s %-5s [%s] %s\n", ts, names[level], tag ? tag : "core", msg);
	}
	funlockfile(stderr);
}
