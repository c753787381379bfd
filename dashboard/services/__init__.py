"""Process-wide services the pages use (no page layout here): background scoring, shared caches."""
