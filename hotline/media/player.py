"""What a stream plays: a playlist of prompts, tones and silence, one payload per tick.

`Player.tick()` is called once per packet time by the media clock and returns
the payload to send, or None when nothing should be sent (the stream then
lets RTP time run on, and the sender sets the marker bit on the next
packet). Between items, and when the playlist is empty, it sends silence
packets (unless told not to), because some PBXs end a call whose RTP stops.

`barge_in()` is what a DTMF digit does: it stops the current item if that
item allows it, and the following items that allow it, up to the first that
does not (so "menu prompt, then wait tone" can both be skipped while a
"please hold" after them cannot). Each item that ends is reported once as a
`PlaybackEnded` event; the adapter collects them with `pop_events()`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hotline.media.codecs import Codec
from hotline.media.compact import CompactState
from hotline.media.events import PlaybackEnded
from hotline.media.prompt import Prompt
from hotline.media.tones import ToneGenerator, ToneSpec


@dataclass(frozen=True, slots=True)
class PromptItem:
    """Play a prompt (its codec and ptime must match the player's)."""

    prompt: Prompt
    barge_in: bool = True
    loop: bool = False
    """Start again at the end (music on hold) until stopped."""

    @property
    def name(self) -> str:
        """The prompt's name."""
        return self.prompt.name


@dataclass(frozen=True, slots=True)
class ToneItem:
    """Play a tone, for `duration_ms` or until stopped."""

    spec: ToneSpec
    duration_ms: int | None = None
    barge_in: bool = False

    @property
    def name(self) -> str:
        """The tone's name."""
        return self.spec.name


@dataclass(frozen=True, slots=True)
class SilenceItem:
    """Send silence for `duration_ms` (a pause in a playlist)."""

    duration_ms: int
    barge_in: bool = True

    @property
    def name(self) -> str:
        """Always "silence"."""
        return "silence"


Item = PromptItem | ToneItem | SilenceItem


class Player(CompactState):
    """Playlist state for one outgoing stream."""

    def __init__(
        self,
        codec: Codec,
        *,
        samples_per_packet: int = 160,
        gap_ms: int = 0,
        idle_silence: bool = True,
        on_ended: Callable[[PlaybackEnded], None] | None = None,
    ) -> None:
        """With `on_ended`, each item's end goes there instead of to `pop_events` (a
        session passes its own outbox's `append`, so one list says whether anything
        happened: that is checked after every packet received)."""
        self.codec = codec
        self.samples_per_packet = samples_per_packet
        self.gap_ticks = self._ticks(gap_ms)
        self.idle_silence = idle_silence
        self._silence = codec.silence(samples_per_packet)
        self._queue: deque[Item] = deque()
        self._current: Item | None = None
        self._position = 0  # frames (prompt) or ticks (tone, silence) into the item
        self._tone: ToneGenerator | None = None
        self._gap = 0
        self._events: list[PlaybackEnded] = []
        self._ended = on_ended or self._events.append

    def _ticks(self, ms: int) -> int:
        return -(-ms * self.codec.clock_rate // 1000 // self.samples_per_packet)

    def play(self, items: Iterable[Item], *, replace: bool = True) -> None:
        """Play these items, after stopping what is playing (or after it, with replace=False)."""
        items = list(items)
        for item in items:
            if isinstance(item, PromptItem) and (
                item.prompt.codec != self.codec
                or item.prompt.samples_per_packet != self.samples_per_packet
            ):
                raise ValueError(
                    f"{item.prompt!r} is encoded for {item.prompt.codec.name}/"
                    f"{item.prompt.samples_per_packet}, the stream sends "
                    f"{self.codec.name}/{self.samples_per_packet}"
                )
        if replace:
            self.stop()
        self._queue.extend(items)

    @property
    def playing(self) -> bool:
        """Whether an item is playing or queued."""
        return self._current is not None or bool(self._queue)

    @property
    def current(self) -> Item | None:
        """The item playing now."""
        return self._current

    def stop(self) -> None:
        """Stop everything (each item still queued is reported as interrupted)."""
        self._gap = 0
        while self._current is not None or self._queue:
            if self._current is None:
                self._start_next()
            self._end(interrupted=True)

    def barge_in(self) -> bool:
        """A digit arrived: stop the items that allow barge-in; True if anything stopped."""
        stopped = False
        while True:
            if self._current is None:
                if not self._queue or not self._queue[0].barge_in:
                    return stopped
                self._start_next()
            assert self._current is not None
            if not self._current.barge_in:
                return stopped
            self._end(interrupted=True)
            self._gap = 0
            stopped = True

    def _start_next(self) -> None:
        self._current = self._queue.popleft()
        self._position = 0
        self._tone = None
        if isinstance(self._current, ToneItem):
            self._tone = ToneGenerator(
                self._current.spec, samples_per_packet=self.samples_per_packet
            )

    def _end(self, *, interrupted: bool) -> None:
        assert self._current is not None
        item = self._current
        self._current = None
        self._tone = None
        self._ended(PlaybackEnded(item.name, interrupted, not self._queue))
        if self._queue and not interrupted:
            self._gap = self.gap_ticks

    def tick(self) -> bytes | None:
        """The payload for this packet time, or None to send nothing."""
        if self._gap:
            self._gap -= 1
            return self._silence
        while self._current is not None or self._queue:
            if self._current is None:
                self._start_next()
            payload = self._next_of_current()
            if payload is not None:
                return payload
            self._end(interrupted=False)
            if self._gap:
                self._gap -= 1
                return self._silence
        return self._silence if self.idle_silence else None

    def _next_of_current(self) -> bytes | None:
        item = self._current
        if isinstance(item, PromptItem):
            frames = item.prompt.frames
            if self._position >= len(frames):
                if not item.loop or not frames:
                    return None
                self._position = 0
            self._position += 1
            return frames[self._position - 1]
        if isinstance(item, ToneItem):
            if item.duration_ms is not None and self._position >= self._ticks(item.duration_ms):
                return None
            self._position += 1
            assert self._tone is not None
            return self._tone.next_payload(self.codec)
        if isinstance(item, SilenceItem):
            if self._position >= self._ticks(item.duration_ms):
                return None
            self._position += 1
            return self._silence
        return None

    def pop_events(self) -> list[PlaybackEnded]:
        """Items that ended since the last call."""
        events = self._events[:]
        self._events.clear()  # in place: `_ended` appends to this very list
        return events
