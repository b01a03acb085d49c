"""Hypothesis strategies for hostile requests: text in every script and with control
characters, very long text, edge integers, random bytes, and command bodies that look valid
(known ids, sensible quantities) often enough that signed ones reach the domain rules."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from datetime import date
from functools import cache
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from registry.domain import commands as c
from registry.domain.exchange import OUTCOMES
from registry.domain.parties import Role
from registry.domain.pools import CATEGORIES
from registry.domain.rules import PURPOSES

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
JAPANESE = (
    "昭島市",
    "みどり東京・温暖化防止プロジェクト",
    "岩泉町の森林吸収",
    "事前算定と事後算定",
    "ﾊﾝｶｸｶﾀｶﾅ",
    "𠮷野家の会議",
    "令和㋿",
)
ODD = ("😀🌲🏯", "a\x00b", "\u202eevil", "' OR 1=1 --", "../../etc/passwd", "\ufeff", "\u200b")
CONTROL = "".join(chr(code) for code in range(0x20)) + "\x7f\u0085\u2028\u2029"
# Fields whose Avro type is int (32 bits); every other integer field is a long.
INT32_FIELDS = frozenset(
    {
        "reporting_year",
        "fiscal_year",
        "expected_participants",
        "actual_participants",
        "term_years",
        "buffer_share_permille",
    }
)


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Ids that exist in the fuzzed registry, so that drawn commands can be valid."""

    parties: tuple[str, ...]
    keys: tuple[str, ...]
    batches: tuple[str, ...]
    classes: tuple[str, ...] = ("JVER",)
    projects: tuple[str, ...] = ("IWAIZUMI01",)
    agreements: tuple[str, ...] = ("AKISHIMA-IWAIZUMI",)
    deliveries: tuple[str, ...] = ("DELIVERY-1", "DELIVERY-2", "DELIVERY-3")
    pools: tuple[str, ...] = ("TOKYO62-FY2011",)
    meetings: tuple[str, ...] = ("MEETING-1",)


def hostile_text(known: Sequence[str] = ()) -> SearchStrategy[str]:
    hostile = st.one_of(
        st.text(max_size=40),  # every code point hypothesis draws, control characters included
        st.text(st.characters(min_codepoint=0x3000, max_codepoint=0x9FFF), max_size=60),
        st.sampled_from(JAPANESE),
        st.sampled_from(ODD),
        st.text(st.sampled_from(CONTROL + "aあ"), max_size=20),
        st.integers(1_990, 60_000).map(lambda length: "長" * length),  # around and over limits
        st.just(""),
    )
    if not known:
        return hostile
    # Three draws in four name something that exists, so whole commands are often valid
    # and reach the rules; the fourth is hostile.
    return mostly(st.sampled_from(list(known)), hostile)


def mostly(usual: SearchStrategy[Any], rare: SearchStrategy[Any]) -> SearchStrategy[Any]:
    """Three draws in four from `usual`. (one_of would flatten and de-duplicate its branches,
    so repeating a branch there does not weight it.)"""
    return st.sampled_from((usual, usual, usual, rare)).flatmap(lambda chosen: chosen)


def hostile_int(bounds: tuple[int, int] = INT64, typical: tuple[int, int] = (1, 5_000)) -> Any:
    low, high = bounds
    edges = [low, high, 0, -1, 1, 2**31 - 1, -(2**31), 10**12, 10**12 + 1, 10**9 + 1]
    return st.one_of(
        st.integers(*typical),
        st.integers(*typical),
        st.integers(*typical),
        st.integers(low, high),
        st.sampled_from([edge for edge in edges if low <= edge <= high]),
    )


def hostile_bytes() -> SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=80), st.binary(min_size=32, max_size=32), st.binary(max_size=4_096)
    )


def _string_for(name: str, vocabulary: Vocabulary) -> SearchStrategy[str]:
    known: dict[str, Sequence[str]] = {
        "key_id": vocabulary.keys,
        "retired_key_id": vocabulary.keys,
        "batch_id": vocabulary.batches,
        "class_id": vocabulary.classes,
        "project_id": vocabulary.projects,
        "agreement_id": vocabulary.agreements,
        "delivery_id": vocabulary.deliveries,
        "pool_id": vocabulary.pools,
        "meeting_id": vocabulary.meetings,
        "role": [role.value for role in Role],
        "purpose": sorted(PURPOSES),
        "outcome": OUTCOMES,
        "category": sorted(CATEGORIES),
        "name": ("Akishima", "昭島市"),
        "label": ("ICVCM-CCP", "CORSIA", "JCREDIT-JCL"),
        "required_label": ("ICVCM-CCP", "CORSIA"),
        "location": ("132071", "JP-13", "JP-48"),
        "registry_id": ("JP-JVER", "JP-JCREDIT"),
    }
    if name in known:
        return hostile_text(known[name])
    if name.endswith(("party_id", "_id", "issuers", "members")):
        return hostile_text(vocabulary.parties)
    return hostile_text(("forest agreement 2011-12-20", "会議の記録", "Akishima city"))


def field_strategy(name: str, hint: Any, vocabulary: Vocabulary) -> SearchStrategy[Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arm for arm in typing.get_args(hint) if arm is not type(None)]
        return st.one_of(st.none(), field_strategy(name, inner, vocabulary))
    if origin is tuple:
        item = field_strategy(name, typing.get_args(hint)[0], vocabulary)
        return st.lists(item, max_size=6).map(tuple)
    if dataclasses.is_dataclass(hint):
        return body_strategy(hint, vocabulary)
    if hint is str:
        return _string_for(name, vocabulary)
    if hint is bytes:
        return hostile_bytes()
    if hint is date:
        return st.one_of(st.dates(date(2005, 1, 1), date(2030, 12, 31)), st.dates())
    if hint is int:
        if name in INT32_FIELDS:
            return hostile_int(INT32, (2_005, 2_030))
        return hostile_int(INT64)
    raise AssertionError(f"no strategy for {name}: {hint}")


def body_strategy(cls: type[Any], vocabulary: Vocabulary) -> SearchStrategy[Any]:
    hints = _hints(cls)
    fields = {
        field.name: field_strategy(field.name, hints[field.name], vocabulary)
        for field in dataclasses.fields(cls)
    }
    return st.builds(cls, **fields)


@cache
def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def any_body(vocabulary: Vocabulary) -> SearchStrategy[c.CommandBody]:
    return st.one_of(*(body_strategy(cls, vocabulary) for cls in c.COMMAND_TYPES))
