#include "api/ui_assets.h"

#include <string.h>

/* sym: the file's bytes; sym_len: their count, computed by the assembler (so that C never subtracts
 * pointers to two different objects). The Makefile makes this object depend on ui/. sym is a name
 * to declare, not an expression to parenthesize. */
#define UI_EMBED(sym, file)                                                                                  \
	__asm__(".pushsection .rodata\n.balign 16\n.hidden " #sym "\n.global " #sym "\n" #sym ":\n"          \
	        ".incbin \"" file "\"\n" #sym "_end:\n.balign 8\n.hidden " #sym "_len\n.global " #sym        \
	        "_len\n" #sym "_len:\n.quad " #sym "_end - " #sym "\n.popsection\n");                        \
	extern const char sym[]; /* NOLINT(bugprone-macro-parentheses) */                                    \
	extern const size_t sym##_len

UI_EMBED(ui_index_html, "ui/index.html");
UI_EMBED(ui_app_js, "ui/app.js");
UI_EMBED(ui_app_css, "ui/app.css");

int
ui_asset(const char *name, struct ui_asset *out)
{
	const struct ui_asset files[] = {
	        {"index.html", "text/html; charset=utf-8", ui_index_html, ui_index_html_len},
	        {"app.js", "text/javascript; charset=utf-8", ui_app_js, ui_app_js_len},
	        {"app.css", "text/css; charset=utf-8", ui_app_css, ui_app_css_len},
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
