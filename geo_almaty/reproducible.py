"""Identical inputs give byte-identical files: fixed timestamps in what GDAL writes.

GeoPackages record when each table last changed (``gpkg_contents.last_change``);
GDAL takes that time from the ``OGR_CURRENT_DATE`` option when it is set. Output
files take :func:`output_timestamp`: ``SOURCE_DATE_EPOCH`` (the
reproducible-builds convention, seconds since 1970) or
:data:`settings.OUTPUT_TIMESTAMP_DEFAULT`.
"""
from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pyogrio

from . import settings
from .errors import InputError


def output_timestamp() -> str:
    """The timestamp written into output files, ISO 8601 UTC with milliseconds ('1970-01-01T00:00:00.000Z')."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return settings.OUTPUT_TIMESTAMP_DEFAULT
    try:
        moment = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise InputError(f"SOURCE_DATE_EPOCH={epoch!r}", column="SOURCE_DATE_EPOCH", expected="whole seconds since 1970-01-01 UTC") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@contextmanager
def fixed_gdal_timestamp() -> Iterator[None]:
    """Within the block, GDAL (through pyogrio) stamps what it writes with :func:`output_timestamp`."""
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": output_timestamp()})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
