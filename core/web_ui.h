#ifndef TB_WEB_UI_H
#define TB_WEB_UI_H

#include <stddef.h>

/*
 * The files of web-ui/, compiled into the binary by cmake/embed.cmake and
 * served by core/status.c: index.html at "/", every file at "/ui/<path>".
 */
struct tb_web_ui_file {
	const char *path;          /* below web-ui/, "/"-separated: "index.html", "js/app.js" */
	const char *content_type;
	const char *etag;          /* quoted: "\"3f2a...\"" */
	const unsigned char *data; /* NUL-terminated as well, not counted in len */
	size_t len;
};

extern const struct tb_web_ui_file tb_web_ui_files[];
extern const size_t tb_web_ui_n_files;

#endif
