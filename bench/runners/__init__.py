"""How workloads are run: in-process (``inprocess``) and against server processes (``servers``, ``server_process``, ``server_app``, ``procstat``, ``ctools``)."""
