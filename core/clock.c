/*
 * The wall clock, and with TB_FAULT_INJECTION the fault file that shifts it
 * (see core/clock.h). The fault file is also what core/store.c reads for
 * its injected write errors and slow commits, so it lives here with the
 * other test hook.
 */
#include "core/clock.h"

#ifdef TB_FAULT_INJECTION
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FAULT_MAX 16

static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char name[32];
	double value;
} faults[FAULT_MAX];
static int n_faults;
static struct timespec fault_mtime;
static uint64_t fault_checked_ms; /* monotonic */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Under fault_mu. A missing or unreadable file means no faults. */
static void fault_reload(void)
{
	uint64_t now = mono_ms();
	if (fault_checked_ms && now - fault_checked_ms < 100)
		return;
	fault_checked_ms = now;
	const char *path = getenv("TB_FAULT_FILE");
	struct stat sb;
	if (!path || stat(path, &sb) != 0) {
		n_faults = 0;
		fault_mtime.tv_sec = 0;
		fault_mtime.tv_nsec = 0;
		return;
	}
	if (sb.st_mtim.tv_sec == fault_mtime.tv_sec && sb.st_mtim.tv_nsec == fault_mtime.tv_nsec)
		return;
	fault_mtime = sb.st_mtim;
	n_faults = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char line[128];
	while (n_faults < FAULT_MAX && fgets(line, sizeof line, f)) {
		char name[32];
		double v;
		if (sscanf(line, "%31s %lf", name, &v) == 2) {
			strcpy(faults[n_faults].name, name);
			faults[n_faults].value = v;
			n_faults++;
		}
	}
	fclose(f);
}

double tb_fault_value(const char *name, double def)
{
	pthread_mutex_lock(&fault_mu);
	fault_reload();
	double v = def;
	for (int i = 0; i < n_faults; i++)
		if (!strcmp(faults[i].name, name))
			v = faults[i].value;
	pthread_mutex_unlock(&fault_mu);
	return v;
}
#endif

void tb_time_now_ts(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
#ifdef TB_FAULT_INJECTION
	/* "clock_offset S": the wall clock runs S seconds ahead (negative: behind). */
	ts->tv_sec += (time_t)tb_fault_value("clock_offset", 0);
#endif
}

int64_t tb_time_now(void)
{
	struct timespec ts;
	tb_time_now_ts(&ts);
	return (int64_t)ts.tv_sec;
}

uint64_t tb_time_now_ms(void)
{
	struct timespec ts;
	tb_time_now_ts(&ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
