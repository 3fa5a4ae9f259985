"""Per-sample constants of the 2020 ATLAS Open Data 4lep release (the notebook's ``infofile.py``).

``xsec`` is in pb, ``sumw`` is the sum of generator weights of the full sample, ``events`` its
event count and ``red_eff`` a reduction efficiency (1 for every sample). The tiny ZH
cross-section is as published; keep it.
"""

from __future__ import annotations

__all__ = ["infos"]

#: DSID, event count, sum of weights, reduction efficiency and cross-section [pb] per MC sample.
infos: dict[str, dict[str, float]] = {
    "ZH125_ZZ4lep": {"DSID": 341947, "events": 150000, "red_eff": 1, "sumw": 150000, "xsec": 0.0000021424784},
    "WH125_ZZ4lep": {"DSID": 341964, "events": 149400, "red_eff": 1, "sumw": 149400, "xsec": 0.0003769},
    "VBFH125_ZZ4lep": {"DSID": 344235, "events": 985000, "red_eff": 1, "sumw": 3680490.83243, "xsec": 0.0004633012},
    "ggH125_ZZ4lep": {"DSID": 345060, "events": 985000, "red_eff": 1, "sumw": 27881776.6536, "xsec": 0.0060239},
    "llll": {"DSID": 363490, "events": 17825300, "red_eff": 1, "sumw": 7538705.8077, "xsec": 1.2578},
    "ttbar_lep": {"DSID": 410000, "events": 49386600, "red_eff": 1, "sumw": 49386600, "xsec": 452.693559},
    "Zee": {"DSID": 361106, "events": 79045597, "red_eff": 1, "sumw": 150277594200, "xsec": 1950.5295},
    "Zmumu": {"DSID": 361107, "events": 77497800, "red_eff": 1, "sumw": 147334691090, "xsec": 1950.6321},
}
