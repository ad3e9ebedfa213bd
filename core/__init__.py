"""core: infrastructure every app stands on (settings object, caches, operator-command base,
the actor value, HTTP helpers, error pages). It imports no app of ours."""
