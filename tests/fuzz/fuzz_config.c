/*
 * libFuzzer target for the config loader: any bytes go to config_load_string(), then config_free().
 * Whatever the input, it must not crash or leak, and on success the result must hold the invariants
 * the rest of the daemon relies on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char err[256];
	size_t i, ndef = 0;

	if (config_load_string((const char *)data, size, &c, err, sizeof err) == 0) {
		if (c.unix_path == NULL || c.store_path == NULL || c.n_upstreams == 0 ||
		    config_upstream_find(&c, NULL) == NULL || (c.tcp_address && c.n_api_keys == 0))
			abort();
		for (i = 0; i < c.n_upstreams; i++)
			ndef += c.upstreams[i].is_default != 0;
		for (i = 0; i < c.n_api_keys; i++) {
			if (c.api_keys[i].key == NULL || c.api_keys[i].key[0] == '\0')
				abort();
		}
		if (ndef != 1)
			abort();
	} else if (err[0] == '\0' || c.unix_path != NULL) {
		abort();
	}
	config_free(&c);
	return 0;
}
