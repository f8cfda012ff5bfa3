"""How the pipeline computes data statistics: in memory bounded by the features.

TFDV's default top-k and unique-count generator counts every distinct value
of every string feature with a Beam ``CombinePerKey``, whose partial counts
the local runner holds in memory until the grouping: StatisticsGen took 602
MB above its process at 1M impressions and grew with the data (BENCHMARKS.md
section 6, the scaling table), against 170 MB, flat to 10M, with sketches.
The sketch-based generator keeps one Misra-Gries sketch (top values)
and one KMV sketch (distinct count) per feature and merges them, so its
memory is a constant per feature on any runner; TFDV plans to make it the
default. Top values with fewer distinct values than the sketch holds (the
schema's string domains: gender, purchase-frequency bucket) are exact, so
ExampleValidator's domain checks see every value; the distinct counts of
ID features become estimates, which nothing in the pipeline reads.
"""

from __future__ import annotations

import tensorflow_data_validation as tfdv


def statistics_options() -> tfdv.StatsOptions:
    """The StatsOptions the pipeline's StatisticsGen runs with."""
    return tfdv.StatsOptions(use_sketch_based_topk_uniques=True)
