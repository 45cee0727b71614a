"""OpenD's wire format: a 44-byte little-endian header, then a protobuf body.

The header, as futu-api packs it (`futu/common/utils.py::_joint_head`, `MESSAGE_HEAD_FMT`
"<1s1sI2B2I20s8s") and as the protocol reference describes it
(https://openapi.moomoo.com/moomoo-api-doc/en/ftapi/protocol.html)::

    "F" "T" | proto id u32 | body format u8 (0 protobuf, 1 JSON) | proto version u8 (0) |
    serial number u32 (a reply echoes the request's) | body length u32 |
    SHA-1 of the unencrypted body (20 bytes) | 8 reserved bytes

The bodies are the `Request`/`Response` messages of futu-api's own `_pb2` modules
(`futu/common/pb/`), so the simulator and the SDK can never disagree on a field.
"""

from __future__ import annotations

import hashlib
import importlib
import signal
import socket
import struct
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

from tests.simulators.base import recv_exact

HEADER_FORMAT = "<2sIBBII20s8s"
MAGIC = b"FT"
PROTOBUF = 0
PROTO_VERSION = 0

# The protocols the simulator serves (futu/common/constant.py ProtoId), by their pb module name.
PROTOS: dict[int, str] = {
    1001: "InitConnect",
    1004: "KeepAlive",
    2001: "Trd_GetAccList",
    2005: "Trd_UnlockTrade",
    2008: "Trd_SubAccPush",
    2101: "Trd_GetFunds",
    2102: "Trd_GetPositionList",
    2201: "Trd_GetOrderList",
    2202: "Trd_PlaceOrder",
    2205: "Trd_ModifyOrder",
    2208: "Trd_UpdateOrder",
    2218: "Trd_UpdateOrderFill",
    2221: "Trd_GetHistoryOrderList",
    2225: "Trd_GetOrderFee",
    3202: "Qot_GetStaticInfo",
    3203: "Qot_GetSecuritySnapshot",
}
PROTO_IDS = {name: proto_id for proto_id, name in PROTOS.items()}


class ProtocolError(Exception):
    """A frame OpenD refuses outright: the connection is closed without an answer."""


@dataclass(frozen=True)
class Frame:
    proto_id: int
    serial: int
    body: bytes

    @property
    def name(self) -> str:
        return PROTOS.get(self.proto_id, f"proto {self.proto_id}")


HEADER = struct.Struct(HEADER_FORMAT)
HEADER_SIZE = HEADER.size  # 44


def sha1(body: bytes) -> bytes:
    return hashlib.sha1(body, usedforsecurity=False).digest()


def read_frame(conn: socket.socket) -> Frame:
    """The next frame from a client, its header and SHA-1 checked as OpenD checks them."""
    magic, proto_id, fmt, version, serial, length, digest, _ = HEADER.unpack(recv_exact(conn, HEADER_SIZE))
    if magic != MAGIC:
        raise ProtocolError(f"bad header magic {magic!r}")
    body = recv_exact(conn, length) if length else b""
    if sha1(body) != digest:
        raise ProtocolError(f"SHA-1 of the body does not match the header (proto {proto_id}, serial {serial})")
    if fmt != PROTOBUF or version != PROTO_VERSION:
        raise ProtocolError(f"unsupported body format {fmt} / proto version {version}")
    return Frame(proto_id, serial, body)


def encode(proto_id: int, serial: int, message: Any) -> bytes:
    body = message.SerializeToString()
    head = HEADER.pack(MAGIC, proto_id, PROTOBUF, PROTO_VERSION, serial, len(body), sha1(body), bytes(8))
    return head + body


_IMPORT_LOCK = threading.Lock()


@cache
def pb_module(name: str) -> Any:
    """futu-api's generated module for `name`; importing futu must not take over Ctrl-C (it installs
    an `os._exit` SIGINT handler when imported from the main thread)."""
    with _IMPORT_LOCK:
        main = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGINT) if main else None
        module = importlib.import_module(f"futu.common.pb.{name}_pb2")
        if main:
            signal.signal(signal.SIGINT, previous)
        return module


def parse_request(frame: Frame) -> Any:
    request = pb_module(frame.name).Request()
    request.ParseFromString(frame.body)
    return request


def new_response(proto_id: int) -> Any:
    return pb_module(PROTOS[proto_id]).Response()
