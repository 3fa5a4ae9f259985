"""The ATLAS Open Data releases the pipeline analyses, one module each, chosen by ``HZZ_PROFILE``.

Each release module (:mod:`~hzz.shared.releases.r2020`, :mod:`~hzz.shared.releases.r2025`)
defines one :class:`~hzz.shared.releases.base.Release`: its luminosity, public location, file
naming, tree and branches, groups and colours, binning, plot style, significance window, and
where its selection, sample generator and notebook reference live. Adding a release means adding
one such package and listing it in :data:`RELEASES`; nothing else asks which release it is.
"""

from __future__ import annotations

from hzz.shared.errors import ConfigError
from hzz.shared.releases import r2020, r2025
from hzz.shared.releases.base import DATA_GROUP, PlotStyle, Release, SampleGroup

__all__ = ["DATA_GROUP", "RELEASES", "PlotStyle", "Release", "SampleGroup", "get_release", "release_of_sample"]

#: Every release, by the name ``HZZ_PROFILE`` uses; the first is the default.
RELEASES: dict[str, Release] = {release.name: release for release in (r2020.RELEASE, r2025.RELEASE)}


def get_release(name: str) -> Release:
    """The release called ``name``.

    Raises:
        ConfigError: no such release.
    """
    try:
        return RELEASES[name]
    except KeyError:
        msg = f"unknown analysis profile {name!r}; set HZZ_PROFILE to one of {', '.join(RELEASES)}"
        raise ConfigError(msg) from None


def release_of_sample(sample: str) -> Release:
    """The release a sample belongs to (sample names differ between releases).

    Raises:
        ConfigError: the sample belongs to no release.
    """
    for release in RELEASES.values():
        if sample in release.samples:
            return release
    default = next(iter(RELEASES.values()))
    known = ", ".join(default.samples)
    msg = f"unknown sample {sample!r}; known samples: {known} ({default.name}), or another release's"
    raise ConfigError(msg)
