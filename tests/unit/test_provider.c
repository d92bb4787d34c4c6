#include <stdlib.h>
#include <string.h>

#include "api/provider.h"
#include "daemon/config.h"
#include "daemon/redact.h"
#include "tests/unit/t.h"

int
main(void)
{
	struct config_upstream up = {
	        .name = "u", .base_url = "http://127.0.0.1:1", .api_key = "sk-secret-0123456789"};
	struct provider_target t;
	struct api_error err;
	struct redact *r = redact_new();
	const char *body = "{\"error\":{\"message\":\"bad key sk-secret-0123456789\"}}";

	provider_target_init(&t, &up, "caller-tok");
	T_STREQ(t.auth_header, "Authorization: Bearer sk-secret-0123456789");
	provider_target_clear(&t);
	up.forward_caller_auth = 1;
	provider_target_init(&t, &up, "caller-tok");
	T_STREQ(t.auth_header, "Authorization: Bearer caller-tok");
	provider_target_clear(&t);
	provider_target_init(&t, &up, NULL);
	T(t.auth_header == NULL);
	provider_target_clear(&t);

	redact_add(r, "sk-secret-0123456789");
	provider_error_for_status(401, body, strlen(body), "u", r, &err);
	T(err.status == 502);
	T_STREQ(err.code, "upstream_auth_failed");
	T(strstr(err.message, "sk-secret-0123456789") == NULL);
	T(strstr(err.message, "upstream u answered HTTP 401: bad key") != NULL);
	provider_error_for_status(422, NULL, 0, "u", r, &err);
	T(err.status == 400);
	T_STREQ(err.code, "upstream_rejected");
	provider_error_for_status(404, "x", 1, "u", r, &err);
	T_STREQ(err.code, "model_not_found");
	provider_error_for_status(503, NULL, 0, "u", r, &err);
	T(err.status == 503);
	redact_free(r);
	return T_DONE();
}
