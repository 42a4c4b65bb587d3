#include <stdarg.h>
#include <stdio.h>

#include "core/subsystem.h"

void tb_core_announce(struct tb_core *core, const char *subsystem, const char *what, const char *fmt, ...)
{
	if (core->n_announce >= TB_MAX_ANNOUNCE)
		return;
	struct tb_announce *a = &core->announce[core->n_announce++];
	a->subsystem = subsystem;
	a->what = what;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->url, sizeof a->url, fmt, ap);
	va_end(ap);
}
