"""Partition neighbourhood-watch registrations into capped, compact groups.

The package is a pure library over (Geo)DataFrames in RD New (EPSG:28992) metres.
Reading and writing files lives in :mod:`partition.io`; everything else takes and
returns frames and never touches the network, the disk or logging handlers.
"""

__version__ = "0.1.0"
