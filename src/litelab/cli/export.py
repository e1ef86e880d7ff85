"""``litelab export``: one model to every format, with a size/accuracy/latency comparison.

The logic is in :mod:`litelab.export.exporter`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from litelab.cli.common import add_data_flags, data_values, float_value, int_value
from litelab.export.exporter import FORMATS


def add_parsers(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``export SOURCE [data flags] [--formats ...] ...`` on ``subparsers``."""
    p = subparsers.add_parser(
        "export",
        help="export a model to .keras/.h5/SavedModel/TFLite and compare the formats",
        description="Export a run folder or any Keras model to every format and compare "
        "size, test accuracy (measured through each format), agreement with Keras and "
        "host latency. Writes the files, comparison.csv/.json/.png and labels.txt.",
    )
    p.add_argument(
        "export_source",  # not "source": that is --data's dest
        metavar="SOURCE",
        help="a run folder (runs/<run>: its model.keras, labels and data) or a .keras, "
        ".h5 or SavedModel folder (then pass --data for accuracy and int8)",
    )
    add_data_flags(p)
    p.add_argument(
        "--formats",
        default="all",
        metavar="LIST",
        help=f"comma list of: {', '.join(FORMATS)} (default: all)",
    )
    p.add_argument(
        "--representative",
        type=int_value,
        default=500,
        metavar="N",
        help="training images used to calibrate int8 (default 500)",
    )
    p.add_argument(
        "--float-io",
        action="store_true",
        help="keep the int8 model's input and output float32 (default: int8, for MCUs)",
    )
    p.add_argument(
        "--input-scale",
        type=float_value,
        default=None,
        metavar="S",
        help="pixels are fed as value/255*S: 1 (default) for 0..1 models, 255 for raw "
        "0..255 ones such as the MLPerf Tiny ResNet-8",
    )
    p.add_argument("--seed", type=int_value, default=42, help="data subset and int8 draw")
    p.add_argument(
        "--out", metavar="DIR", help="export folder (default: <run>/export or export-<model>)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def cmd_export(args: argparse.Namespace) -> int:
    """Run the export, print the comparison table and where the files went."""
    from litelab.export.exporter import data_config_for, export_model, parse_formats

    formats = parse_formats(args.formats)  # a bad name fails before any data is loaded
    data_config = data_config_for(args.export_source, data_values(args))
    result = export_model(
        args.export_source,
        data_config=data_config,
        formats=formats,
        out_dir=args.out,
        representative=args.representative,
        int8_io=not args.float_io,
        input_scale=args.input_scale,
        seed=args.seed,
        progress=not args.quiet,
    )
    s = result.summary
    if s["data_source"]:
        print(f"test set: {s['num_test']:,} images, {s['data_source']}")
        ref = s["keras_reference"]["test_accuracy"]
        print(f"in-memory Keras model: test accuracy {ref:.4f}")
    else:
        print("no data given: accuracy columns are empty (pass --data to measure them)")
    print(result.table)
    out = Path(result.out_dir)
    print(f"files: {out}/ ({', '.join(r['file'] for r in result.rows)})")
    print(f"comparison: {out / 'comparison.csv'}, comparison.json, comparison.png")
    return 0


COMMANDS = {"export": cmd_export}
