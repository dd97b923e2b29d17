"""Sync over HTTPS: an upstream served with an ssl context, nodes that trust its certificate, one that does not."""
import ssl

import pytest
from helpers import run_checked

from ringloop.recorder import MemoryStorage
from ringloop.sync import Replica, SyncedStorage, UpstreamError, start_server

TOKEN = "tls-token"


def server_context(certificate):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def test_nodes_sync_over_https_and_a_client_without_the_ca_is_refused(loop, certificate):
    async def main():
        upstream = Replica(MemoryStorage(), node="upstream")
        await upstream.open()
        runner = await start_server(upstream, TOKEN, ssl=server_context(certificate))
        url = f"https://127.0.0.1:{runner.addresses[0][1]}"
        trusting = ssl.create_default_context(cafile=str(certificate[0]))  # verifies the name 127.0.0.1 too
        a = SyncedStorage(MemoryStorage(), upstream=url, token=TOKEN, interval=3600, node="a", ssl=trusting)
        b = SyncedStorage(MemoryStorage(), upstream=url, token=TOKEN, interval=3600, node="b", ssl=trusting)
        await a.put("paid", "SUCCESS", {"total": 12})
        await b.put("shipped", "WORKING", None)
        for node in (a, b, a):
            await node.sync()
        assert a.state() == b.state() == {"paid": ("SUCCESS", {"total": 12}), "shipped": ("WORKING", None)}
        assert a.last.converged and a.last.requests >= 2

        # The system's CAs do not include the test's certificate: refused before any request is sent.
        stranger = SyncedStorage(MemoryStorage(), upstream=url, token=TOKEN, interval=3600, node="stranger")
        await stranger.put("forged", "SUCCESS", 1)
        with pytest.raises(UpstreamError, match="TLS certificate was refused.*CERTIFICATE_VERIFY_FAILED"):
            await stranger.sync()
        plain = SyncedStorage(MemoryStorage(), upstream=url.replace("https", "http"), token=TOKEN, interval=3600,
                              node="plain")
        await plain.put("forged", "SUCCESS", 1)
        with pytest.raises(UpstreamError):
            await plain.sync()
        assert sorted(upstream.records) == ["paid", "shipped"] and sorted(upstream.acks) == ["a", "b"]
        assert stranger.state() == plain.state() == {"forged": ("SUCCESS", 1)}  # kept locally, nothing pulled
        for node in (a, b, stranger, plain):
            await node.close()
        await runner.cleanup()

    run_checked(loop, main(), timeout=60)
