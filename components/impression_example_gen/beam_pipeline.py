"""The Beam graph of the ExampleGen: read, validate, join, label, write, count.

Nothing here keeps state beyond a bundle or a group: files are parsed per
element, both tables are grouped by impression id with one GroupByKey, each
split is written in hash order, one group per file, by a second one
(``WriteInHashOrder``), counts are summed per bundle and then by a combiner,
and the report is written by the pipeline itself.  The graph is therefore
correct on distributed runners (Dataflow, Flink), not only on the in-process
DirectRunner used in tests.
"""

from __future__ import annotations

import collections
import os
import hashlib
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
)

import apache_beam as beam
import tensorflow as tf
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
            yield beam.pvalue.TaggedOutput(result.split, _pack_example(result.example))


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
    unread_event_days: Sequence[str],
) -> None:
    """Runs once, on a worker, with all counts of the run."""
    report = quality.DataQualityReport.from_counts(
        counts, input_base, days_per_split, max_reject_rate, unread_event_days
    )
    quality.write_report(report, examples_uri)


def split_uri(examples_uri: str, split: str) -> str:
    """TFX's layout of a split inside an Examples artifact."""
    return os.path.join(examples_uri, _SPLIT_DIR_PREFIX + split)


# Examples per written file.  Each file is sorted in memory by its writer:
# ~100,000 serialized examples are ~50 MB.
EXAMPLES_PER_SHARD = 100_000


def _order_key(serialized: bytes) -> int:
    """A uniform, deterministic 64-bit hash of an example (its bytes hold its id).

    A cryptographic hash, not CRC32: a CRC is affine in the input bits, so
    over ids that differ in a few digits its value can correlate with the
    label bytes.
    """
    return int.from_bytes(hashlib.blake2b(serialized, digest_size=8).digest(), "big")


def _num_shards(num_examples: int) -> int:
    return max(1, -(-num_examples // EXAMPLES_PER_SHARD))


def _with_order(record: bytes, payload: bytes) -> bytes:
    """What ``WriteInHashOrder`` carries: the record's 8-byte big-endian order
    key, then a payload from which its ``to_record`` rebuilds the record."""
    return _order_key(record).to_bytes(8, "big") + payload


def _keyed(record: bytes) -> bytes:
    """A record written as it is (``to_record`` the identity), with its key."""
    return _with_order(record, record)


def _pack_example(example: Dict[str, Any]) -> bytes:
    """The example as the join emits it: its serialised form's order key,
    then its values packed (``tf_example.pack``).

    On the local runner each split is held whole several times between the
    join and the files: once for the shard count (a side input), as the
    GroupByKey's input, and as about four copies of its grouped output
    (Beam 2.60's in-memory data channel). Packed values are a quarter of a
    serialised Example, which took the ExampleGen from 2.5 to 0.7 KB of
    peak memory per impression (BENCHMARKS.md section 6); the writer
    serialises each example again, one shard at a time.
    """
    return _with_order(tf_example.serialize(example), tf_example.pack(example))


def _identity(payload: bytes) -> bytes:
    return payload


def _key_by_shard(keyed: bytes, num_shards: int) -> Tuple[int, bytes]:
    return int.from_bytes(keyed[:8], "big") % num_shards, keyed


class WriteShardFn(beam.DoFn):
    """Writes one shard's examples to one gzipped TFRecord file, in hash order.

    The file name follows Beam's ``<prefix>-SSSSS-of-NNNNN<suffix>`` as TFX's
    ExampleGen writes it.  The file is written in place, without a temporary
    name that readers of ``Split-*/*`` could pick up: its content is
    deterministic, so a retried bundle rewrites the same file whole, and a
    failed run publishes no artifact.
    """

    def __init__(
        self, prefix: str, suffix: str, to_record: Callable[[bytes], bytes]
    ):
        self._prefix = prefix
        self._suffix = suffix
        self._to_record = to_record

    def process(
        self, shard: Tuple[int, Iterable[bytes]], num_shards: int
    ) -> Iterator[Tuple[str, int]]:
        """Yields (path, records written): the report checks the total."""
        index, keyed_examples = shard
        path = f"{self._prefix}-{index:05d}-of-{num_shards:05d}{self._suffix}"
        tf.io.gfile.makedirs(os.path.dirname(path))
        to_record = self._to_record
        records = sorted(
            (int.from_bytes(keyed[:8], "big"), to_record(keyed[8:]))
            for keyed in keyed_examples
        )
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for _, serialized in records:
                writer.write(serialized)
        yield path, len(records)


class WriteInHashOrder(beam.PTransform):
    """Writes a split as gzipped TFRecord shards, each in hash order.

    The Trainer shuffles within a buffer of records only, so the file order
    must not follow anything the model learns from.  The order in which a
    runner emits a GroupByKey's groups cannot be relied on for that: the
    in-process runners emit them in the order their keys first arrived, and
    after the join by impression id that put every clicked impression
    (first seen through its events) ahead of all unclicked ones.  Hash
    buckets do not help either, as buckets holding a click still arrive
    first.  So each shard is one group, and the order inside a file is set
    here, by a hash of each example: independent of labels, time and user,
    and the same on every run and runner.
    """

    def __init__(
        self,
        prefix: str,
        suffix: str = ".gz",
        to_record: Optional[Callable[[bytes], bytes]] = None,
    ):
        """Without ``to_record`` the input is the records (bytes) to write;
        with it, ``_with_order`` values whose payload it turns into records
        (the pipeline's compact examples)."""
        super().__init__()
        self._prefix = prefix
        self._suffix = suffix
        self._to_record = to_record

    def expand(self, examples: beam.PCollection) -> beam.PCollection:
        """(path, records written) per shard."""
        to_record = self._to_record
        if to_record is None:
            examples = examples | "KeyByOrder" >> beam.Map(_keyed)
            to_record = _identity
        num_shards = beam.pvalue.AsSingleton(
            examples
            | "Count" >> beam.combiners.Count.Globally()
            | "NumShards" >> beam.Map(_num_shards)
        )
        return (
            examples
            | "KeyByShard" >> beam.Map(_key_by_shard, num_shards)
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard"
            >> beam.ParDo(
                WriteShardFn(self._prefix, self._suffix, to_record), num_shards
            )
        )


def _write_split(
    examples: beam.PCollection, examples_uri: str, split: str
) -> beam.PCollection:
    """Gzipped TFRecords named as TFX's ExampleGen names them, in hash order.

    Returns the (count key, records written) of each shard: the report checks
    that every joined example reached a file.
    """
    return (
        examples
        | f"WriteSplit[{split}]"
        >> WriteInHashOrder(
            os.path.join(
                split_uri(examples_uri, split), write_split.DEFAULT_TF_RECORD_FILE_NAME
            ),
            to_record=tf_example.serialize_packed,
        )
        | f"CountWritten[{split}]"
        >> beam.Map(lambda shard: (quality.examples_written_key(split), shard[1]))
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
    written = [
        _write_split(joined[split], examples_uri, split)
        for split in config.SPLIT_NAMES
    ]
    days_per_split = {
        config.TRAIN_SPLIT: list(plan.train_days),
        config.EVAL_SPLIT: list(plan.eval_days),
    }
    _ = (
        (impressions[COUNTS_TAG], events[COUNTS_TAG], joined[COUNTS_TAG], *written)
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
            list(plan.unread_event_days),
        )
    )
