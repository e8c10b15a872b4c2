"""attnlab benchmarks: each ``bench_*.py`` times attnlab against a named peer in one run."""
