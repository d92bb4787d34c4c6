/*
 * t.h: the whole unit-test framework. T(cond) counts a check and prints the failing line;
 * T_DONE() prints "<file>: N passed, N failed" and returns the exit status from main().
 */
#ifndef TESTS_UNIT_T_H
#define TESTS_UNIT_T_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define T(cond)                                                                                              \
	do {                                                                                                 \
		if (cond) {                                                                                  \
			t_pass++;                                                                            \
		} else {                                                                                     \
			t_fail++;                                                                            \
			printf("%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond);                              \
		}                                                                                            \
	} while (0)

#define T_STREQ(a, b)                                                                                        \
	do {                                                                                                 \
		const char *t_a_ = (a), *t_b_ = (b);                                                         \
		if (t_a_ && t_b_ && strcmp(t_a_, t_b_) == 0) {                                               \
			t_pass++;                                                                            \
		} else {                                                                                     \
			t_fail++;                                                                            \
			printf("%s:%d: FAIL: %s == %s (\"%s\" vs \"%s\")\n", __FILE__, __LINE__, #a, #b,     \
			       t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                              \
		}                                                                                            \
	} while (0)

#define T_DONE() (printf("%s: %d passed, %d failed\n", __FILE__, t_pass, t_fail), t_fail ? 1 : 0)

#endif
