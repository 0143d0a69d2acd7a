"""The lean HTTP/1.1 client against real loopback servers: pooling, bodies, streaming, faults, TLS, proxies."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import httpx
import orjson
import pytest

from detour._http import (
    ConnectTimeout,
    HttpClient,
    HttpxFallback,
    InvalidURL,
    Proxies,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    bypass,
)
from detour.protocol.codec import CODECS
from detour.protocol.errors import classify_exception
from detour.testing import B, FakeProvider
from detour.upstream import Upstream, UpstreamError, Wire
from tests.http.conftest import CHUNKED_HEAD, Conn, chunked, reply

JSON = {"content-type": "application/json"}


def kind(exc: BaseException, *, after_headers: bool = False) -> str:
    return classify_exception(exc, after_headers=after_headers).kind


async def keep_alive(conn: Conn) -> None:
    """Answer every request on the connection with its own body."""
    while (req := await conn.request()) is not None:
        await conn.send(reply(req.body or b"empty"))


# ---------------------------------------------------------------- pooling


async def test_sequential_requests_share_one_connection(serve) -> None:
    server = await serve(keep_alive)
    async with HttpClient() as client:
        for i in range(5):
            resp = await client.request("POST", server.url + f"/v1/x?i={i}", headers={"x-key": "v"}, body=b"n%d" % i)
            assert (resp.status, resp.content) == (200, b"n%d" % i)
    assert server.accepted == 1 and [r.conn for r in server.requests] == [0] * 5
    first = server.requests[0]
    assert first.line == "POST /v1/x?i=0 HTTP/1.1"
    assert first.headers == {"host": f"127.0.0.1:{server.port}", "content-length": "2", "x-key": "v",
                             "accept-encoding": "identity"}


async def test_pool_limit_caps_concurrent_connections(serve) -> None:
    arrived: list[asyncio.Event] = []
    gate = asyncio.Event()

    async def held(conn: Conn) -> None:
        while (req := await conn.request()) is not None:
            if len(server.requests) >= 3:
                gate.set()
            await gate.wait()  # nobody is answered until three requests are in flight at once
            await conn.send(reply(req.body))
        arrived.append(asyncio.Event())

    server = await serve(held)
    async with HttpClient(max_connections=3) as client:
        results = await asyncio.gather(*(client.request("POST", server.url, body=b"%d" % i) for i in range(12)))
        assert sorted(int(r.content) for r in results) == list(range(12))
        assert client.stats()[f"http://127.0.0.1:{server.port}"] == {"idle": 3, "active": 0, "opening": 0}
    assert server.accepted == 3 and server.max_open == 3 and len(server.requests) == 12


async def test_idle_expiry_drops_pooled_connections(serve) -> None:
    server = await serve(keep_alive)
    async with HttpClient(keepalive_expiry=0) as client:
        for _ in range(3):
            assert (await client.request("GET", server.url)).content == b"empty"
    assert server.accepted == 3


async def test_server_closing_an_idle_connection_is_survived(serve) -> None:
    async def one_per_conn(conn: Conn) -> None:
        req = await conn.request()
        assert req is not None
        await conn.send(reply(b"once"))  # advertises keep-alive, then closes
        conn.writer.close()

    server = await serve(one_per_conn)
    async with HttpClient() as client:
        assert (await client.request("GET", server.url)).content == b"once"
        conns = client.connections()
        while not conns[0].is_closed():  # the FIN reaches the idle pooled connection
            await asyncio.sleep(0.01)
        assert (await client.request("GET", server.url)).content == b"once"
    assert server.accepted == 2


async def test_reused_connection_closed_before_any_response_byte_is_retried_once(serve) -> None:
    async def drop_second(conn: Conn) -> None:
        await conn.request()
        await conn.send(reply(b"first" if conn.index == 0 else b"fresh"))
        if conn.index == 0:
            await conn.request()  # read the request, then close without a byte: the race with keep-alive
    server = await serve(drop_second)
    async with HttpClient(stale_idle=0.0) as client:  # every reuse counts as idle long enough to be stale
        assert (await client.request("POST", server.url, body=b"a")).content == b"first"
        assert (await client.request("POST", server.url, body=b"b")).content == b"fresh"
    assert server.accepted == 2 and [r.conn for r in server.requests] == [0, 0, 1]


async def test_a_post_on_a_just_used_connection_is_never_sent_twice(serve) -> None:
    async def drop_second(conn: Conn) -> None:
        await conn.request()
        await conn.send(reply(b"first"))
        await conn.request()  # the server read the POST, then died without a byte: it may have acted on it

    server = await serve(drop_second)
    async with HttpClient(stale_idle=60.0) as client:
        assert (await client.request("POST", server.url, body=b"a")).content == b"first"
        with pytest.raises(RemoteProtocolError):
            await client.request("POST", server.url, body=b"b")
    assert len(server.requests) == 2 and server.accepted == 1


async def test_reused_connection_that_sent_part_of_a_response_is_not_retried(serve) -> None:
    async def partial_second(conn: Conn) -> None:
        await conn.request()
        await conn.send(reply(b"first"))
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\ncontent-le")

    server = await serve(partial_second)
    async with HttpClient() as client:
        await client.request("POST", server.url)
        with pytest.raises(RemoteProtocolError) as err:
            await client.request("POST", server.url)
    assert server.accepted == 1 and kind(err.value) == "connection_lost"


async def test_fresh_connection_closed_before_response_is_not_retried(serve) -> None:
    async def close_at_once(conn: Conn) -> None:
        await conn.request()

    server = await serve(close_at_once)
    async with HttpClient() as client:
        with pytest.raises(RemoteProtocolError):
            await client.request("POST", server.url)
    assert server.accepted == 1


async def test_a_connection_dying_without_a_byte_drops_its_idle_siblings(serve) -> None:
    """So the router's one retry of a lost connection goes out on a fresh connection, not a suspect one."""
    async def first_two_die(conn: Conn) -> None:
        if conn.index >= 2:
            await keep_alive(conn)
            return
        await conn.request()
        await conn.send(reply(b"ok"))
        await conn.request()  # read the next request, then hang up without a byte (like a restarted upstream)

    server = await serve(first_two_die)
    async with HttpClient(stale_idle=60.0) as client:
        await asyncio.gather(*(client.request("POST", server.url, body=b"x") for _ in range(2)))
        assert server.accepted == 2 and len(client.connections()) == 2
        with pytest.raises(RemoteProtocolError) as err:
            await client.request("POST", server.url, body=b"y")
        assert kind(err.value) == "connection_lost" and client.connections() == []
        assert (await client.request("POST", server.url, body=b"z")).content == b"z"  # not the other dead one
    assert server.accepted == 3 and server.requests[-1].conn == 2


# ---------------------------------------------------------------- bodies and streaming


async def test_chunked_content_length_and_until_close_bodies(serve) -> None:
    async def three_ways(conn: Conn) -> None:
        await conn.request()
        await conn.send(CHUNKED_HEAD + chunked(b"data: a\n\n", b"data: b\n\n"))
        await conn.request()
        await conn.send(reply(b"x" * 70_000, headers="X-Mixed-Case: yes\r\n"))
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\n\r\nuntil-close")
        conn.writer.close()

    server = await serve(three_ways)
    async with HttpClient() as client:
        first = await client.request("GET", server.url)
        second = await client.request("GET", server.url)
        third = await client.request("GET", server.url)
        assert client.connections() == []  # a read-until-close body is never pooled
    assert first.content == b"data: a\n\ndata: b\n\n" and first.headers["transfer-encoding"] == "chunked"
    assert second.content == b"x" * 70_000 and second.headers["x-mixed-case"] == "yes"
    assert third.content == b"until-close" and server.accepted == 1


async def test_stream_delivers_headers_then_chunks_as_they_arrive(serve) -> None:
    got_headers, got_first = asyncio.Event(), asyncio.Event()

    async def stepwise(conn: Conn) -> None:
        await conn.request()
        await conn.send(CHUNKED_HEAD)
        await got_headers.wait()
        await conn.send(b"5\r\nhello\r\n")
        await got_first.wait()
        await conn.send(b"6\r\n world\r\n0\r\n\r\n")

    server = await serve(stepwise)
    async with HttpClient() as client:
        async with client.stream("POST", server.url, body=b"{}") as resp:
            assert resp.status == 200 and resp.headers["content-type"] == "text/event-stream"
            got_headers.set()
            assert await resp.read_chunk(5) == b"hello"
            got_first.set()
            assert await resp.read_chunk(5) == b" world"
            assert await resp.read_chunk(5) == b""
        assert [c.is_closed() for c in client.connections()] == [False]  # read to the end: pooled again


async def test_closing_a_stream_early_closes_its_connection(serve) -> None:
    async def endless(conn: Conn) -> None:
        await conn.request()
        await conn.send(CHUNKED_HEAD + b"3\r\nabc\r\n")
        await conn.reader.read()  # until the client goes away

    server = await serve(endless)
    async with HttpClient() as client:
        async with client.stream("POST", server.url) as resp:
            assert await resp.read_chunk(5) == b"abc"
            conns = client.connections()
        assert client.connections() == [] and conns[0].is_closed()
        while server.open:  # the server sees EOF: the connection was closed, not parked
            await asyncio.sleep(0.01)


async def test_fake_provider_stream_through_the_client() -> None:
    async with FakeProvider() as fake, HttpClient() as client:
        fake.script("m", B.text("one two three", chunks=3))
        body = orjson.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
        async with client.stream("POST", fake.openai_base + "/chat/completions", headers=JSON, body=body) as resp:
            raw = b"".join([chunk async for chunk in resp.aiter_bytes(5)])
        assert resp.status == 200 and raw.rstrip().endswith(b"data: [DONE]")
        assert b"".join(orjson.loads(line[6:])["choices"][0]["delta"].get("content", "").encode()
                        for line in raw.split(b"\n") if line.startswith(b"data: {") and b'"choices":[{' in line) == b"one two three"


# ---------------------------------------------------------------- failures and their classification


async def test_connection_refused_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with HttpClient() as client:
        with pytest.raises(ConnectionRefusedError) as err:
            await client.request("GET", f"http://127.0.0.1:{port}/")
        assert client.stats()[f"http://127.0.0.1:{port}"] == {"idle": 0, "active": 0, "opening": 0}
    assert kind(err.value) == "unreachable"


async def test_reset_after_sending_before_headers_is_a_lost_connection(serve) -> None:
    async def reset(conn: Conn) -> None:
        await conn.request()
        conn.reset()

    server = await serve(reset)
    async with HttpClient() as client:
        with pytest.raises(ReadError) as err:
            await client.request("POST", server.url, body=b"x")
    assert isinstance(err.value.__cause__, ConnectionResetError) and kind(err.value) == "connection_lost"


async def test_read_timeout_waiting_for_headers_and_between_chunks(serve) -> None:
    release = asyncio.Event()

    async def slow(conn: Conn) -> None:
        await conn.request()
        await release.wait()
        await conn.send(CHUNKED_HEAD + b"2\r\nhi\r\n")
        await conn.reader.read()

    server = await serve(slow)
    async with HttpClient() as client:
        with pytest.raises(ReadTimeout) as err:
            await client.send("POST", server.url, timeout=0.05)
        assert kind(err.value) == "timeout" and kind(err.value, after_headers=True) == "timeout"
        assert client.connections() == []  # a request that timed out may still be processed: never reused
        release.set()
        async with client.stream("POST", server.url, timeout=5) as resp:
            assert await resp.read_chunk(5) == b"hi"
            with pytest.raises(ReadTimeout):
                await resp.read_chunk(0.05)
            assert not resp.closed  # the caller decides: a per-read timeout leaves the stream open


async def test_eof_and_reset_mid_body_are_stream_broken(serve) -> None:
    async def cut(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        if conn.index == 0:
            conn.writer.close()
        else:
            conn.reset()

    server = await serve(cut)
    async with HttpClient() as client:
        for expected in (RemoteProtocolError, ReadError):
            async with client.stream("GET", server.url) as resp:
                assert await resp.read_chunk(5) == b"0123456789"
                with pytest.raises(expected) as err:
                    await resp.read_chunk(5)
            assert kind(err.value, after_headers=True) == "stream_broken"
        assert client.connections() == []


async def test_fake_provider_faults_through_the_upstream_call() -> None:
    async with FakeProvider() as fake:
        upstream = Upstream()
        fake.script("cut", B.cut(after=1))
        fake.script("reset", B.reset())
        fake.script("limited", B.rate_limit(retry_after=7))
        url = fake.openai_base + "/chat/completions"

        def wire(model: str) -> Wire:
            return Wire(url, dict(JSON), orjson.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}))

        stream = await upstream.open_stream(CODECS["openai"], "p", wire("cut"))
        with pytest.raises(UpstreamError) as err:
            while not stream.eof:
                await stream.read(5)
        assert err.value.failure.kind == "stream_broken"
        with pytest.raises(UpstreamError) as err:
            await upstream.open_stream(CODECS["openai"], "p", wire("reset"))
        assert (err.value.failure.kind, err.value.failure.scope) == ("connection_lost", "route")
        with pytest.raises(UpstreamError) as err:
            await upstream.open_stream(CODECS["openai"], "p", wire("limited"))
        assert err.value.failure.kind == "rate_limited" and err.value.failure.retry_after_s == 7
        await upstream.aclose()


async def test_cancelled_request_closes_its_connection(serve) -> None:
    async def silent(conn: Conn) -> None:
        await conn.request()
        await conn.reader.read()

    server = await serve(silent)
    async with HttpClient() as client:
        task = asyncio.create_task(client.request("POST", server.url))
        while not server.requests:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client.connections() == []


def test_error_types_classify_like_httpx() -> None:
    assert kind(ConnectTimeout("x")) == "unreachable"
    assert kind(ReadTimeout("x"), after_headers=True) == "timeout"
    assert kind(InvalidURL("x")) == "unreachable"
    assert kind(socket.gaierror(-2, "Name or service not known")) == "unreachable"
    assert kind(ssl.SSLCertVerificationError("bad cert")) == "unreachable"
    assert [kind(RemoteProtocolError("x"), after_headers=a) for a in (False, True)] == ["connection_lost", "stream_broken"]
    assert [kind(ReadError("x"), after_headers=a) for a in (False, True)] == ["connection_lost", "stream_broken"]


async def test_invalid_url_is_rejected_before_connecting() -> None:
    async with HttpClient() as client:
        for url in ("ftp://host/x", "http:///nohost", "http://host:port/x"):
            with pytest.raises(InvalidURL):
                await client.request("GET", url)


async def test_header_injection_is_refused(serve) -> None:
    server = await serve(keep_alive)
    async with HttpClient() as client:
        with pytest.raises(ValueError, match="CR or LF"):
            await client.request("GET", server.url, headers={"x-a": "1\r\nx-b: 2"})
    assert server.accepted == 0


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl binary not found: cannot make a self-signed certificate")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")], check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


async def test_tls_with_sni_and_a_trusted_self_signed_cert(serve, cert: tuple[Path, Path]) -> None:
    names: list[str | None] = []
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(*cert)
    server_ctx.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    server = await serve(keep_alive, ssl=server_ctx)
    trusting = ssl.create_default_context(cafile=str(cert[0]))
    async with HttpClient(ssl_context=trusting) as client:
        for body in (b"one", b"two"):
            resp = await client.request("POST", f"https://localhost:{server.port}/v1", body=body)
            assert resp.content == body
    assert names == ["localhost"] and server.accepted == 1
    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


async def test_tls_untrusted_cert_is_unreachable(serve, cert: tuple[Path, Path]) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(*cert)
    server = await serve(keep_alive, ssl=server_ctx)
    async with HttpClient() as client:  # the system store does not trust it
        with pytest.raises(ssl.SSLCertVerificationError) as err:
            await client.request("GET", f"https://localhost:{server.port}/")
    assert kind(err.value) == "unreachable"


# ---------------------------------------------------------------- proxies


def test_proxy_selection_from_the_environment() -> None:
    env = {"HTTPS_PROXY": "http://proxy:3128", "http_proxy": "http://lower:8080", "HTTP_PROXY": "http://upper:1",
           "NO_PROXY": "internal.example, .corp, api.local:8443, 10.0.0.0/8"}
    proxies = Proxies.from_env(env)
    assert proxies.proxy_for("https", "api.openai.com", 443) == "http://proxy:3128"
    assert proxies.proxy_for("http", "api.openai.com", 80) == "http://lower:8080"  # lowercase wins
    for host, port in (("internal.example", 443), ("a.internal.example", 443), ("x.corp", 443), ("api.local", 8443),
                       ("10.1.2.3", 443), ("127.0.0.1", 443), ("localhost", 443), ("::1", 443)):
        assert proxies.proxy_for("https", host, port) is None, host
    assert proxies.proxy_for("https", "api.local", 443) == "http://proxy:3128"
    assert proxies.proxy_for("https", "notinternal.example", 443) == "http://proxy:3128"
    assert Proxies.from_env({"ALL_PROXY": "socks5://s:1080"}).proxy_for("http", "h", 80) == "socks5://s:1080"
    assert not Proxies.from_env({"ALL_PROXY": "http://p:1", "no_proxy": "*"}).active
    assert not Proxies.from_env({}).active
    assert bypass("[::1]", 80, []) and not bypass("example.com", 80, ["ample.com"])


async def test_proxied_request_goes_through_httpx(serve) -> None:
    server = await serve(keep_alive)
    proxy = f"http://127.0.0.1:{server.port}"
    async with HttpClient(env={"HTTP_PROXY": proxy}) as client:
        resp = await client.request("POST", "http://upstream.invalid:8080/v1/chat?x=1", headers=JSON, body=b"via")
        assert resp.content == b"via" and client.connections() == []
    assert server.requests[0].line == "POST http://upstream.invalid:8080/v1/chat?x=1 HTTP/1.1"
    async with HttpClient(env={"HTTP_PROXY": proxy}, trust_env=False) as client:
        with pytest.raises(OSError):  # no proxy: the made-up host does not resolve
            await client.request("POST", "http://upstream.invalid:8080/v1/chat")


async def test_upstream_accepts_an_injected_httpx_client() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(503, json={"error": {"message": "busy"}}, headers={"Retry-After": "3"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        upstream = Upstream(http)
        assert isinstance(upstream.client, HttpxFallback)
        with pytest.raises(UpstreamError) as err:
            await upstream.complete(CODECS["openai"], "p", Wire("https://api.example/v1/chat/completions", dict(JSON), b"{}"))
        await upstream.aclose()
    assert seen == ["https://api.example/v1/chat/completions"]
    assert err.value.failure.kind == "overloaded" and err.value.headers["retry-after"] == "3"
