"""Logging, configured once for every service: one line per event, the service named."""

from __future__ import annotations

import logging
import os

__all__ = ["configure_logging"]


def configure_logging(service: str) -> None:
    """Log to stderr at ``HZZ_LOG_LEVEL`` (INFO by default), with time, service and module."""
    logging.basicConfig(
        level=os.environ.get("HZZ_LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s",
        force=True,
    )
    # pika narrates every connection step at INFO; its warnings are what matter.
    logging.getLogger("pika").setLevel(logging.WARNING)
