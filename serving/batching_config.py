"""TF Serving's ``--batching_parameters_file``: its proto and its options.

The file is a ``tensorflow.serving.BatchingParameters`` message in text
format. The tensorflow-serving-api wheel ships the API and config protos but
not ``session_bundle_config.proto`` where that message lives, so its
descriptor is declared here, field for field as in TF Serving
(``tensorflow_serving/servables/tensorflow/session_bundle_config.proto``:
fields 1-7; later additions such as large-batch splitting are not declared
and would be rejected). Parsing with it is what proves that a file, e.g. the
one in kubeflow/serving/, is one TF Serving accepts; the same file
configures this server's own batcher.
"""

from __future__ import annotations

import functools

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

from serving.batching import BatchingOptions

_PACKAGE = "tensorflow.serving"
_FILE_NAME = "esm2_serving/session_bundle_config_batching.proto"
_F = descriptor_pb2.FieldDescriptorProto
# (name, number, label, type, type_name) as in session_bundle_config.proto.
_FIELDS = (
    (
        "max_batch_size",
        1,
        _F.LABEL_OPTIONAL,
        _F.TYPE_MESSAGE,
        ".google.protobuf.Int64Value",
    ),
    (
        "batch_timeout_micros",
        2,
        _F.LABEL_OPTIONAL,
        _F.TYPE_MESSAGE,
        ".google.protobuf.Int64Value",
    ),
    (
        "max_enqueued_batches",
        3,
        _F.LABEL_OPTIONAL,
        _F.TYPE_MESSAGE,
        ".google.protobuf.Int64Value",
    ),
    (
        "num_batch_threads",
        4,
        _F.LABEL_OPTIONAL,
        _F.TYPE_MESSAGE,
        ".google.protobuf.Int64Value",
    ),
    (
        "thread_pool_name",
        5,
        _F.LABEL_OPTIONAL,
        _F.TYPE_MESSAGE,
        ".google.protobuf.StringValue",
    ),
    ("allowed_batch_sizes", 6, _F.LABEL_REPEATED, _F.TYPE_INT64, None),
    ("pad_variable_length_inputs", 7, _F.LABEL_OPTIONAL, _F.TYPE_BOOL, None),
)


@functools.lru_cache(maxsize=None)
def batching_parameters_class():
    """The ``tensorflow.serving.BatchingParameters`` message class."""
    pool = descriptor_pool.Default()
    full_name = f"{_PACKAGE}.BatchingParameters"
    try:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))
    except KeyError:
        pass
    file_proto = descriptor_pb2.FileDescriptorProto(
        name=_FILE_NAME,
        package=_PACKAGE,
        syntax="proto3",
        # Importing wrappers_pb2 is what puts wrappers.proto into the default
        # pool; without it pool.Add fails ("has not been loaded").
        dependency=[wrappers_pb2.DESCRIPTOR.name],
    )
    message = file_proto.message_type.add(name="BatchingParameters")
    for name, number, label, field_type, type_name in _FIELDS:
        field = message.field.add(
            name=name, number=number, label=label, type=field_type
        )
        if type_name:
            field.type_name = type_name
    pool.Add(file_proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))


def parse_batching_parameters(text: str):
    """A BatchingParameters message from text; raises ``text_format.ParseError``."""
    return text_format.Parse(text, batching_parameters_class()())


def options_from_parameters(parameters) -> BatchingOptions:
    """The options this server's batcher takes from TF Serving's parameters."""
    defaults = BatchingOptions()

    def value(field: str, default: int) -> int:
        return (
            getattr(parameters, field).value if parameters.HasField(field) else default
        )

    return BatchingOptions(
        max_batch_size=value("max_batch_size", defaults.max_batch_size),
        batch_timeout_micros=value(
            "batch_timeout_micros", defaults.batch_timeout_micros
        ),
        num_batch_threads=value("num_batch_threads", defaults.num_batch_threads),
        max_enqueued_batches=value(
            "max_enqueued_batches", defaults.max_enqueued_batches
        ),
    )


def read_batching_options(path: str) -> BatchingOptions:
    with open(path, encoding="utf-8") as handle:
        return options_from_parameters(parse_batching_parameters(handle.read()))
