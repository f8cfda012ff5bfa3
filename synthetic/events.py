"""Timestamped events of the behaviour graph for a batch of impressions.

Every event is strictly after the impression, a DAction (cart and/or
wishlist) after its click, and a purchase after both and still inside the
attribution window, so the labels the pipeline derives from these events are
exactly the sampled outcomes.  ``share`` and ``review`` are other events a
reader must count but never turn into labels.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

import numpy as np

from synthetic.behaviour import Outcomes
from transform import features

EVENT_SHARE = "share"
EVENT_REVIEW = "review"
EVENT_NAMES = (
    features.EVENT_CLICK,
    features.EVENT_CART,
    features.EVENT_WISHLIST,
    features.EVENT_PURCHASE,
    EVENT_SHARE,
    EVENT_REVIEW,
)
CLICK, CART, WISHLIST, PURCHASE, SHARE, REVIEW = range(len(EVENT_NAMES))

# Which deterministic actions a DAction consists of.
CART_ONLY_SHARE, WISHLIST_ONLY_SHARE = 0.6, 0.25  # the rest: both
SHARE_PER_CLICK = 0.03
REVIEW_PER_PURCHASE = 0.2
SECOND_MS, MINUTE_MS, HOUR_MS, DAY_MS = 1_000, 60_000, 3_600_000, 86_400_000
WINDOW_MS = features.DEFAULT_ATTRIBUTION_WINDOW_DAYS * DAY_MS


@dataclasses.dataclass
class EventRows:
    """Events of a batch: the impression row each belongs to, ts, kind."""

    row: np.ndarray
    ts: np.ndarray
    kind: np.ndarray  # index into EVENT_NAMES

    def __len__(self) -> int:
        return len(self.row)


def concat_events(parts: Sequence[EventRows]) -> EventRows:
    """One EventRows from several (in order)."""
    return EventRows(
        *(
            np.concatenate([getattr(p, f.name) for p in parts])
            for f in dataclasses.fields(EventRows)
        )
    )


def _event(rows: np.ndarray, ts: np.ndarray, kind: int) -> EventRows:
    """EventRows of one kind."""
    return EventRows(rows, ts, np.full(len(rows), kind, dtype=np.int64))


def delayed(
    start: np.ndarray,
    median_ms: float,
    sigma: float,
    rng: np.random.Generator,
    deadline: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Times strictly after ``start``: a log-normal delay of the given median.

    With a ``deadline`` (inclusive), delays that would pass it are redrawn
    uniformly between ``start`` and the deadline instead, which keeps every
    purchase inside the attribution window without piling them on its edge.
    """
    delay = 1 + np.floor(median_ms * rng.lognormal(0.0, sigma, len(start)))
    ts = start + delay.astype(np.int64)
    if deadline is not None:
        late = ts > deadline
        room = np.maximum(deadline - start, 1)
        uniform = start + 1 + np.floor(rng.random(len(start)) * room).astype(np.int64)
        ts = np.where(late, np.minimum(uniform, deadline), ts)
    return ts


def daction_events(
    rows: np.ndarray, after: np.ndarray, rng: np.random.Generator
) -> List[EventRows]:
    """Cart and/or wishlist events for DAction rows, after ``after``."""
    draw = rng.random(len(rows))
    cart = draw < 1.0 - WISHLIST_ONLY_SHARE
    wishlist = draw >= CART_ONLY_SHARE
    return [
        _event(rows[mask], delayed(after[mask], 3 * MINUTE_MS, 1.0, rng), kind)
        for mask, kind in ((cart, CART), (wishlist, WISHLIST))
    ]


def latest_per_row(base: np.ndarray, parts: Sequence[EventRows]) -> np.ndarray:
    """Per impression row: the latest of ``base`` and its events' ts."""
    latest = base.copy()
    for part in parts:
        np.maximum.at(latest, part.row, part.ts)
    return latest


def purchase_events(
    rows: np.ndarray,
    after: np.ndarray,
    impression_ts: np.ndarray,
    rng: np.random.Generator,
) -> EventRows:
    """Purchases after ``after``, at most the window after the impression."""
    deadline = impression_ts + WINDOW_MS - 1
    return _event(rows, delayed(after, HOUR_MS, 1.8, rng, deadline), PURCHASE)


def journey_events(
    impression_ts: np.ndarray, outcomes: Outcomes, rng: np.random.Generator
) -> EventRows:
    """All events of a batch of clean impressions, in sampling order."""
    n = len(impression_ts)
    clicked = np.flatnonzero(outcomes.click)
    click_ts = delayed(impression_ts[clicked], 20 * SECOND_MS, 1.0, rng)
    clicks = _event(clicked, click_ts, CLICK)
    after_click = np.zeros(n, dtype=np.int64)
    after_click[clicked] = click_ts
    dactions = daction_events(
        np.flatnonzero(outcomes.daction), after_click[outcomes.daction], rng
    )
    latest = latest_per_row(after_click, dactions)
    bought = np.flatnonzero(outcomes.purchase)
    purchases = purchase_events(bought, latest[bought], impression_ts[bought], rng)
    return concat_events(
        [clicks, *dactions, purchases, *other_events(clicks, purchases, rng)]
    )


def other_events(
    clicks: EventRows, purchases: EventRows, rng: np.random.Generator
) -> List[EventRows]:
    """Shares after some clicks, reviews days after some purchases."""
    shared = rng.random(len(clicks)) < SHARE_PER_CLICK
    reviewed = rng.random(len(purchases)) < REVIEW_PER_PURCHASE
    return [
        _event(
            clicks.row[shared],
            delayed(clicks.ts[shared], 2 * MINUTE_MS, 1.0, rng),
            SHARE,
        ),
        _event(
            purchases.row[reviewed],
            delayed(purchases.ts[reviewed], 2 * DAY_MS, 0.7, rng),
            REVIEW,
        ),
    ]


def unclicked_journey_events(
    impression_ts: np.ndarray, rng: np.random.Generator
) -> EventRows:
    """Cart and/or purchase events with no click: an inconsistent journey.

    Each impression gets a cart, a purchase, or both, so every one of them is
    inconsistent whichever of the two a reader checks first.
    """
    rows = np.arange(len(impression_ts))
    draw = rng.random(len(rows))
    has_cart, has_purchase = draw < 0.6, draw >= 0.3
    carts = _event(
        rows[has_cart], delayed(impression_ts[has_cart], 3 * MINUTE_MS, 1.0, rng), CART
    )
    after = latest_per_row(impression_ts, [carts])
    purchases = purchase_events(
        rows[has_purchase], after[has_purchase], impression_ts[has_purchase], rng
    )
    return concat_events([carts, purchases])


def orphan_events(
    n: int, start_ts: int, end_ts: int, rng: np.random.Generator
) -> EventRows:
    """``n`` click/cart/purchase events at times in [start_ts, end_ts]."""
    ts = start_ts + np.floor(rng.random(n) * (end_ts - start_ts + 1)).astype(np.int64)
    kinds = rng.choice(np.array([CLICK, CART, PURCHASE]), size=n)
    return EventRows(np.arange(n), ts, kinds.astype(np.int64))
