"""The Beam graph of the ExampleGen: read, validate, join, label, write, count.

Nothing here keeps state beyond a bundle: files are parsed per element, both
tables are grouped by impression id with one GroupByKey, each split's order is
mixed by a second one (``MixOrder``), counts are summed per bundle and then by
a combiner, and the report is written by the pipeline
itself.  The graph is therefore correct on distributed runners (Dataflow,
Flink), not only on the in-process DirectRunner used in tests.
"""

from __future__ import annotations

import collections
import os
import zlib
from typing import Any, Callable, Dict, Iterable, Iterator, List, Tuple

import apache_beam as beam
from apache_beam.transforms import window
from apache_beam.utils import windowed_value
from tfx.components.example_gen import write_split

from components.impression_example_gen import (
    config,
    joining,
    layout,
    parsing,
    quality,
    tf_example,
)

COUNTS_TAG = "counts"
RECORDS_TAG = "records"
_SPLIT_DIR_PREFIX = "Split-"

FileParser = Callable[[str, str, collections.Counter], Iterator[Any]]


class _BundleCountsFn(beam.DoFn):
    """A DoFn that sums its counts per bundle and emits them at its end.

    Emitting one (key, count) pair per element would double the elements the
    runner moves; per-bundle sums keep the count stream tiny.  The state
    lives only for one bundle, so this is safe on any runner (the pipeline
    uses the global window only).
    """

    def start_bundle(self) -> None:
        self._counts: collections.Counter = collections.Counter()

    def finish_bundle(self) -> Iterator[beam.pvalue.TaggedOutput]:
        global_window = window.GlobalWindow()
        for item in self._counts.items():
            yield beam.pvalue.TaggedOutput(
                COUNTS_TAG,
                windowed_value.WindowedValue(
                    item, global_window.max_timestamp(), [global_window]
                ),
            )
        self._counts = collections.Counter()


class ParseFileFn(_BundleCountsFn):
    """Parses one (day, path) log file into keyed records."""

    def __init__(self, parse_file: FileParser):
        super().__init__()
        self._parse_file = parse_file

    def process(self, day_file: Tuple[str, str]) -> Iterator[Any]:
        yield from self._parse_file(day_file[0], day_file[1], self._counts)


class JoinFn(_BundleCountsFn):
    """Labels one impression id's records and routes its example to a split."""

    def __init__(self, settings: joining.JoinSettings):
        super().__init__()
        self._settings = settings

    def process(
        self, element: Tuple[str, Iterable[Any]]
    ) -> Iterator[beam.pvalue.TaggedOutput]:
        result = joining.join_impression(element[1], self._settings)
        self._counts.update(result.counts)
        if result.example is not None:
            yield beam.pvalue.TaggedOutput(
                result.split, tf_example.serialize(result.example)
            )


def _parse_files(
    pipeline: beam.Pipeline,
    name: str,
    day_files: Tuple[layout.DayFile, ...],
    parse_file: FileParser,
) -> beam.pvalue.DoOutputsTuple:
    """Reads a table's files; the Reshuffle spreads files over workers."""
    return (
        pipeline
        | f"List{name}Files" >> beam.Create(list(day_files))
        | f"Distribute{name}Files" >> beam.Reshuffle()
        | f"Parse{name}"
        >> beam.ParDo(ParseFileFn(parse_file)).with_outputs(
            COUNTS_TAG, main=RECORDS_TAG
        )
    )


def _write_report(
    counts: List[Tuple[quality.CountKey, int]],
    examples_uri: str,
    input_base: str,
    days_per_split: Dict[str, List[str]],
    max_reject_rate: float,
) -> None:
    """Runs once, on a worker, with all counts of the run."""
    report = quality.DataQualityReport.from_counts(
        counts, input_base, days_per_split, max_reject_rate
    )
    quality.write_report(report, examples_uri)


def split_uri(examples_uri: str, split: str) -> str:
    """TFX's layout of a split inside an Examples artifact."""
    return os.path.join(examples_uri, _SPLIT_DIR_PREFIX + split)


# Buckets of the order-mixing GroupByKey. Each bucket is held in memory once
# to be sorted: about 1,000 examples (~0.5 MB) per million examples of a split.
ORDER_BUCKETS = 1024


def _hash_key(serialized: bytes) -> Tuple[int, bytes]:
    """A uniform, deterministic hash: the example's bytes hold its impression id."""
    return zlib.crc32(serialized), serialized


def _in_hash_order(bucket: Tuple[int, Iterable[Tuple[int, bytes]]]) -> List[bytes]:
    return [serialized for _, serialized in sorted(bucket[1])]


class MixOrder(beam.PTransform):
    """Writes a split in hash order: independent of labels, time and user.

    The Trainer only shuffles within a buffer of records, so the file order
    must not be sorted by anything the model learns from.  A GroupByKey does
    not guarantee that: the in-process runners emit groups in the order their
    keys first arrived, and after the join by impression id that put every
    clicked impression (keys first seen through their events) ahead of all
    unclicked ones.  Here each example goes to one of ``ORDER_BUCKETS``
    buckets by a hash of its bytes, and each bucket is emitted sorted by that
    hash, so every bucket is a random sample of the split in random order,
    whatever order the runner emits the buckets in.
    """

    def expand(self, examples: beam.PCollection) -> beam.PCollection:
        return (
            examples
            | "Hash" >> beam.Map(_hash_key)
            | "KeyByBucket" >> beam.Map(lambda keyed: (keyed[0] % ORDER_BUCKETS, keyed))
            | "GroupByBucket" >> beam.GroupByKey()
            | "SortByHash" >> beam.FlatMap(_in_hash_order)
        )


def _write_split(examples: beam.PCollection, examples_uri: str, split: str) -> None:
    """Gzipped TFRecords named as TFX's ExampleGen names them, in mixed order."""
    _ = (
        examples
        | f"MixOrder[{split}]" >> MixOrder()
        | f"WriteSplit[{split}]"
        >> beam.io.WriteToTFRecord(
            os.path.join(
                split_uri(examples_uri, split), write_split.DEFAULT_TF_RECORD_FILE_NAME
            ),
            file_name_suffix=".gz",
        )
    )


def build(
    pipeline: beam.Pipeline,
    cfg: config.IngestConfig,
    plan: layout.IngestionPlan,
    examples_uri: str,
) -> None:
    """Adds the whole ExampleGen graph for ``plan`` to ``pipeline``."""
    impressions = _parse_files(
        pipeline, "Impressions", plan.impression_files, parsing.parse_impression_file
    )
    events = _parse_files(
        pipeline, "Events", plan.event_files, parsing.parse_event_file
    )
    settings = joining.JoinSettings.create(
        plan.split_of_day(),
        cfg.daction_events,
        cfg.attribution_window_days,
        plan.later_impression_days,
    )
    joined = (
        (impressions[RECORDS_TAG], events[RECORDS_TAG])
        | "FlattenRecords" >> beam.Flatten()
        | "GroupById" >> beam.GroupByKey()
        | "Join"
        >> beam.ParDo(JoinFn(settings)).with_outputs(COUNTS_TAG, *config.SPLIT_NAMES)
    )
    for split in config.SPLIT_NAMES:
        _write_split(joined[split], examples_uri, split)
    days_per_split = {
        config.TRAIN_SPLIT: list(plan.train_days),
        config.EVAL_SPLIT: list(plan.eval_days),
    }
    _ = (
        (impressions[COUNTS_TAG], events[COUNTS_TAG], joined[COUNTS_TAG])
        | "FlattenCounts" >> beam.Flatten()
        | "SumCounts" >> beam.CombinePerKey(sum)
        | "GatherCounts" >> beam.combiners.ToList()
        | "WriteReport"
        >> beam.Map(
            _write_report,
            examples_uri,
            plan.input_base,
            days_per_split,
            cfg.max_reject_rate,
        )
    )
