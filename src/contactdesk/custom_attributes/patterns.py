"""Custom attribute patterns on RE2: linear-time matching in bounded memory (issue 10).

A regex_pattern is compiled by RE2 with the memory budget limits().pattern_max_mem_bytes
(RE2's max_mem: the compiled program and the DFA's cache of states together) and must compile
to at most MAX_PROGRAM instructions. RE2 never backtracks: a match costs at most one step per
instruction per byte of the value (its NFA, when the DFA runs out of memory; a usual pattern
runs in the DFA, microseconds). One request may spend MATCH_BUDGET such steps (~0.15 s at worst):
a value that would go past it is refused as too long to check (validation.py).
Patterns RE2 cannot compile (backreferences, lookarounds, atomic groups, counts over 1000,
programs over the budget) are refused when a definition is written; one stored before, that
RE2 refuses, makes its values unverifiable (validation.py answers a 422, never a 500).

Compiled patterns are kept in a small LRU cache keyed by the pattern and the budget: each
entry holds at most max_mem bytes (docs/decisions.md, "Custom attribute patterns: RE2").
Compiling and matching release the GIL, so callers that may compile or match a lot run the
work in a thread (check_custom_attributes) and the event loop is never held by it.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import re2  # type: ignore[import-untyped]

from contactdesk.limits import limits

# A compiled program of at most this many instructions: it bounds the steps per byte of a
# match and the cost of compiling when the cache misses (measured 0.4-1.5 ms for accepted
# patterns of 1,200-5,000 instructions; 200 of them compiled cold took ~0.2 s, in a thread).
MAX_PROGRAM = 5000
# Steps (bytes x instructions) one request's values may cost: matching falls back from the
# DFA to the NFA when the DFA's share of max_mem cannot hold the states it needs, and the NFA
# takes one step per instruction per byte, 1.3-6 ns each (measured): at most ~0.15 s, in a
# thread. 16 KB against a 1464-instruction pattern (\p{L}+ is 1201) always fits.
MATCH_BUDGET = 24_000_000
# Distinct compiled patterns kept (each at most limits().pattern_max_mem_bytes of memory).
CACHE_SIZE = 256
# Below this many steps, cached patterns are matched on the loop (at worst ~5 ms, usually
# microseconds); more, or a pattern still to compile, and the work goes to a thread.
INLINE_WORK = 1_000_000
# {,n}: a repetition in Python ({0,n}), a literal in RE2. Refused rather than reinterpreted.
_OPEN_LOWER_BOUND = re.compile(r"\{,[0-9]*\}")
_SYNTAX_HINT = " (RE2 syntax: no lookarounds, backreferences, atomic groups or possessive repeats)"


@dataclass(frozen=True, slots=True)
class Pattern:
    """A pattern compiled within the bounds, or the reason it cannot be used (problem)."""

    text: str
    problem: str | None = None
    size: int = 0  # instructions of the compiled program
    regexp: Any = field(default=None, repr=False, compare=False)

    def cost(self, value: str) -> int:
        """The most steps matching value may take: its UTF-8 bytes x the instructions."""
        return len(value.encode("utf-8", "surrogatepass")) * self.size

    def fullmatch(self, value: str) -> bool:
        """Whether the pattern matches the whole value (the caller checked problem)."""
        try:
            return self.regexp.fullmatch(value) is not None
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8, nothing RE2 could match
            return False


class _Cache:
    """A thread-safe LRU of compiled patterns (failures included: they are as costly)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, int], Pattern] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> Pattern | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: tuple[str, int], pattern: Pattern) -> None:
        with self._lock:
            self._entries[key] = pattern
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_cache = _Cache(CACHE_SIZE)


def _kb(size: int) -> str:
    return f"{size // 1024} KB" if size % 1024 == 0 else f"{size} bytes"


def _error_text(error: Exception) -> str:
    detail = error.args[0] if error.args else ""
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return str(detail)


def _open_lower_bound(text: str) -> str | None:
    """The first {,n} outside a character class and a \\Q...\\E quote, if any."""
    i, in_class = 0, False
    while i < len(text):
        char = text[i]
        if char == "\\":
            if text.startswith("\\Q", i):
                end = text.find("\\E", i + 2)
                i = len(text) if end < 0 else end + 2
            else:
                i += 2
            continue
        if in_class:
            if text.startswith("[:", i):  # [:alpha:] inside a class
                end = text.find(":]", i + 2)
                i = len(text) if end < 0 else end + 2
                continue
            in_class = char != "]"
        elif char == "[":
            in_class = True
            i += 1
            if text.startswith("^", i):
                i += 1
            if text.startswith("]", i):  # a ] first in a class is literal
                i += 1
            continue
        elif char == "{":
            found = _OPEN_LOWER_BOUND.match(text, i)
            if found is not None:
                return found.group()
        i += 1
    return None


def _compile(text: str, max_mem: int) -> Pattern:
    bound = _open_lower_bound(text)
    if bound is not None:
        return Pattern(
            text,
            f"Regex pattern is invalid: write {{0,{bound[2:-1]}}} for {bound} "
            "(in RE2 syntax {,n} is not a repetition)",
        )
    options = re2.Options()
    options.max_mem = max_mem
    options.never_capture = True  # only whether it matches is asked: no submatch pass
    options.log_errors = False  # refusals are answered, not logged to stderr
    try:
        # re2.compile would also keep the pattern in re2's own cache of 128 (up to 8 MiB
        # each by default): _Regexp compiles without it, this module's cache is the only one.
        regexp = re2._Regexp(text, options)
    except re2.error as error:
        detail = _error_text(error)
        if "pattern too large" in detail:
            return Pattern(
                text,
                "Regex pattern is too complex "
                f"(it needs more than {_kb(max_mem)} of memory to compile)",
            )
        if "repetition" in detail:
            detail += " (at most 1000 repetitions, nested counts multiplied)"
        elif "invalid perl operator" in detail or "invalid escape" in detail:
            detail += _SYNTAX_HINT
        return Pattern(text, f"Regex pattern is invalid: {detail}")
    size = int(regexp._regexp.ProgramSize())
    if size > MAX_PROGRAM:
        return Pattern(
            text,
            f"Regex pattern is too complex (it compiles to {size} instructions, "
            f"maximum is {MAX_PROGRAM})",
            size,
        )
    return Pattern(text, None, size, regexp)


def cached(text: str) -> Pattern | None:
    """The pattern if it is compiled already, under the current budget; None otherwise."""
    return _cache.get((text, limits().pattern_max_mem_bytes))


def compile_pattern(text: str) -> Pattern:
    """The pattern compiled within the bounds (cached); may take a few ms when not cached."""
    key = (text, limits().pattern_max_mem_bytes)
    found = _cache.get(key)
    if found is None:
        found = _compile(*key)
        _cache.put(key, found)
    return found


async def prepare(text: Any) -> None:
    """Compile a pattern a request sent in a thread (RE2 releases the GIL while it compiles),
    so the synchronous check that follows finds it cached and holds the loop for no time."""
    if isinstance(text, str) and text and cached(text) is None:
        await asyncio.to_thread(compile_pattern, text)


def clear_cache() -> None:
    _cache.clear()


def cache_length() -> int:
    return len(_cache)
