"""Coalesced socket writes (realtime/wsprotocol.py) over real loopback connections."""

import asyncio

from realtime.wsprotocol import CoalescingTransport


class _Sink(asyncio.Protocol):
    def __init__(self, received: list[bytearray], closed: asyncio.Event) -> None:
        self.data = bytearray()
        received.append(self.data)
        self.closed = closed

    def data_received(self, data: bytes) -> None:
        self.data.extend(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


class _Counted:
    """What reaches the real transport, one entry per write."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def __getattr__(self, name: str):
        return getattr(self.transport, name)


async def _loopback_server() -> tuple[asyncio.Server, list[bytearray], asyncio.Event]:
    """A server that keeps what each connection receives; the event is set when one closes."""
    received: list[bytearray] = []
    closed = asyncio.Event()
    server = await asyncio.get_running_loop().create_server(lambda: _Sink(received, closed), "127.0.0.1", 0)
    return server, received, closed


async def _connect(server: asyncio.Server) -> _Counted:
    port = server.sockets[0].getsockname()[1]
    transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, "127.0.0.1", port)
    return _Counted(transport)


def test_a_run_of_writes_reaches_the_socket_as_one_write_in_order():
    async def scenario():
        loop = asyncio.get_running_loop()
        server, received, closed = await _loopback_server()
        a_out, b_out = await _connect(server), await _connect(server)
        a, b = CoalescingTransport(a_out, loop), CoalescingTransport(b_out, loop)

        a.write(b"one,")
        a.write(b"two,")
        assert a_out.writes == []  # held while the run goes on
        b.write(b"x")  # another socket's write ends the run
        assert a_out.writes == [b"one,two,"] and b_out.writes == []
        a.write(b"three,")
        assert b_out.writes == [b"x"]
        await asyncio.sleep(0)  # the end of the loop turn ends the run
        assert a_out.writes == [b"one,two,", b"three,"]
        assert a.get_write_buffer_size() == 0  # everything else goes to the real transport

        a.write(b"close-frame")
        a.close()  # flushes first: the last bytes still go out
        assert a_out.writes[-1] == b"close-frame"
        await asyncio.wait_for(closed.wait(), 5)
        b.close()
        server.close()
        await server.wait_closed()
        assert sorted(bytes(r) for r in received) == [b"one,two,three,close-frame", b"x"]

    asyncio.run(scenario())


def test_nothing_is_written_to_a_transport_that_is_already_closing():
    async def scenario():
        server, _, _ = await _loopback_server()
        out = await _connect(server)
        held = CoalescingTransport(out, asyncio.get_running_loop())
        held.write(b"late")
        out.transport.close()  # the peer went away meanwhile
        await asyncio.sleep(0)
        assert out.writes == []
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
