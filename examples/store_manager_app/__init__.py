"""A store manager's app backend: one store's approval requests and warnings, answered."""
