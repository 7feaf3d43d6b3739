"""Real servers on loopback (HAProxy, Prometheus, two demo service versions, load) and the
tests, quick start and benchmarks that run shipsafe against them."""
