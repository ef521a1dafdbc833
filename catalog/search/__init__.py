"""Product search: one interface (``engine``), two engines (``postgres``, ``meilisearch``)."""
