#include "api/ui_assets.h"

#include <string.h>

/* sym: the file's bytes, sym_end: one past them. The Makefile makes this object depend on ui/. */
#define UI_EMBED(sym, file)                                                                                  \
	__asm__(".pushsection .rodata\n.balign 16\n.hidden " #sym "\n.global " #sym "\n" #sym ":\n"          \
	        ".incbin \"" file "\"\n.hidden " #sym "_end\n.global " #sym "_end\n" #sym "_end:\n"          \
	        ".popsection\n");                                                                            \
	extern const char sym[], sym##_end[]

UI_EMBED(ui_index_html, "ui/index.html");
UI_EMBED(ui_app_js, "ui/app.js");
UI_EMBED(ui_app_css, "ui/app.css");

int
ui_asset(const char *name, struct ui_asset *out)
{
	const struct ui_asset files[] = {
	        {"index.html", "text/html; charset=utf-8", ui_index_html,
	         (size_t)(ui_index_html_end - ui_index_html)},
	        {"app.js", "text/javascript; charset=utf-8", ui_app_js, (size_t)(ui_app_js_end - ui_app_js)},
	        {"app.css", "text/css; charset=utf-8", ui_app_css, (size_t)(ui_app_css_end - ui_app_css)},
	};
	size_t i;

	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (strcmp(files[i].name, name) == 0) {
			*out = files[i];
			return 0;
		}
	}
	return -1;
}
