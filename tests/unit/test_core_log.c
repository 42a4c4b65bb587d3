/* JSON log lines stay valid JSON whatever bytes a message holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "tb_test.h"

int main(void)
{
	char path[] = "/tmp/tb-log-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	tb_log_set_json(1);
	tb_log(TB_LOG_INFO, "http", "GET /a\xff%s \"q\" \\ \x01 caf\xc3\xa9 \xed\xa0\x80 end", "b");
	char big[5000];
	memset(big, 'x', sizeof big);
	memcpy(big + 2045, "\xc3\xa9\xc3\xa9\xc3\xa9", 6);
	big[sizeof big - 1] = 0;
	tb_log(TB_LOG_WARN, "t", "%s", big);
	tb_log(TB_LOG_DEBUG, "t", "not shown at info");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);

	FILE *f = fopen(path, "r");
	char line[8192];
	CHECK(fgets(line, sizeof line, f) != NULL);
	CHECK(strstr(line, "\"tag\":\"http\"") != NULL);
	CHECK(strstr(line, "GET /a\\ufffdb \\\"q\\\" \\\\ \\u0001 caf\xc3\xa9 \\ufffd\\ufffd\\ufffd end") != NULL);
	CHECK(strchr(line, '\xff') == NULL);
	CHECK(fgets(line, sizeof line, f) != NULL);
	/* The truncated message ends on a character boundary: no lone lead byte before the closing quote. */
	char *end = strstr(line, "\"}");
	CHECK(end != NULL && end > line && (unsigned char)end[-1] != 0xc3);
	CHECK(fgets(line, sizeof line, f) == NULL);
	fclose(f);
	unlink(path);
	return tb_test_result("log");
}
