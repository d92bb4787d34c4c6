#include "api/env.h"

#include "daemon/config.h"

struct config *
api_env_config(struct api_env *env)
{
	return config_hold(env->cfg);
}

void
api_env_set_config(struct api_env *env, struct config *cfg)
{
	struct config *old = env->cfg;

	env->cfg = cfg;
	config_release(old);
}
