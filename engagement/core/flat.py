"""Small name -> time maps stored as flat tuples (name, time, name, time, ...).

A customer's maps hold one to a few entries; a tuple of them is a third of a dict's size, and
states are kept for every active customer.
"""

from __future__ import annotations

FlatTimes = tuple[str | float, ...]


def flat_get(flat: FlatTimes, name: str) -> float | None:
    for i in range(0, len(flat), 2):
        if flat[i] == name:
            return float(flat[i + 1])
    return None


def flat_as_dict(flat: FlatTimes) -> dict[str, float]:
    return {str(flat[i]): float(flat[i + 1]) for i in range(0, len(flat), 2)}


def dict_as_flat(times: dict[str, float]) -> FlatTimes:
    return tuple(item for pair in times.items() for item in pair)


def flat_set(flat: FlatTimes, name: str, at: float) -> FlatTimes:
    times = flat_as_dict(flat)
    times[name] = at
    return dict_as_flat(times)
