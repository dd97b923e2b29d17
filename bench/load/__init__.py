"""Load generators for the server workloads: the C ``loadgen`` (``generator``) and ``wrk``."""
