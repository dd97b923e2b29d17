"""Third-party applications the real-application workloads run, unchanged, on each loop (bench/workloads/apps.py).

- ``aiohttp_hello``: an aiohttp web app (a JSON hello handler) started with
  ``web.run_app(app, sock=..., loop=<the loop>)``;
- ``asgi_hello``: an ASGI hello app that uvicorn serves, launched as uvicorn
  users pick a loop (``uvicorn bench.apps.asgi_hello:app --loop ringloop:new_event_loop``);
- ``ws_echo`` / ``ws_client``: a websockets echo server, and the client
  process that loads it (64 connections of 1 KiB ping-pong);
- ``pg_query``: asyncpg's pool of 8 running a small SELECT against the
  PostgreSQL that ``postgres`` starts for the run (initdb + pg_ctl in a
  temporary directory, a Unix socket, removed afterwards).

Every server here settles the allocator first (:func:`common.settle_allocator`),
as ``bench.runners.server_app`` does: the same for every loop.
"""
