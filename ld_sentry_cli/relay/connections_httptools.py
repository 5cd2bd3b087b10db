"""uvicorn's httptools protocol with the relay's connection limits (relay/connections.py says which and why).

Apart because importing it needs httptools, a dependency that `bench/relay.py --plain` hides to
measure uvicorn without it; connections.py then falls back to h11.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ld_sentry_cli.relay.connections import GuardedConnection


class GuardedHttpToolsProtocol(GuardedConnection, HttpToolsProtocol):
    """uvicorn's httptools protocol, its request boundaries told to the limits through the parser's callbacks."""

    def data_received(self, data: bytes) -> None:
        """Feed the parser; refuse a head that grew past the limit."""
        if self.transport.is_closing():
            return
        self._head_bytes_in(len(data))
        super().data_received(data)
        if self._head_too_large() and not self.transport.is_closing():
            self._refuse_head()

    def on_message_begin(self) -> None:
        """A request's first byte."""
        super().on_message_begin()
        self._request_started()

    def on_headers_complete(self) -> None:
        """The head is in."""
        self._head_complete()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The body is in."""
        super().on_message_complete()
        self._request_complete()

    def on_response_complete(self) -> None:
        """Answered (unless a pipelined request started meanwhile)."""
        super().on_response_complete()
        if self.cycle is None or self.cycle.response_complete:
            self._answered()
