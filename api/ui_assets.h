/*
 * ui_assets: the page's files (ui/), compiled into the binary with the assembler's .incbin, so that
 * the daemon serves exactly the page it was built with and needs no files beside it.
 */
#ifndef API_UI_ASSETS_H
#define API_UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
	const char *name; /* "app.js" */
	const char *ctype;
	const char *data;
	size_t len;
};

/* The file called name (no directory) into *out: 0, or -1 when there is none. */
int ui_asset(const char *name, struct ui_asset *out);

#endif
