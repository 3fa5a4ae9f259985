"""The 2020 ATLAS Open Data release (13 TeV, 10 fb⁻¹, the ``4lep`` skim) and its HZZAnalysis notebook.

Files are served as ``Data/<period>.4lep.root`` and ``MC/mc_<DSID>.<sample>.4lep.root`` (the
DSIDs and cross-sections are in :mod:`hzz.shared.infofile`); the tree ``mini`` stores MeV. The
selection (two cuts, the mass, the weight) is :mod:`hzz.shared.releases.r2020.selection`.
"""

from __future__ import annotations

from hzz.shared.infofile import infos
from hzz.shared.releases.base import DATA_GROUP, BranchType, PlotStyle, Release, SampleGroup

__all__ = [
    "BRANCH_TYPES",
    "DATA_BRANCHES",
    "KINEMATIC_BRANCHES",
    "MC_BRANCHES",
    "RELEASE",
    "TREE_NAME",
    "WEIGHT_BRANCHES",
]

#: The TTree of the 2020 release.
TREE_NAME = "mini"

#: The lepton branches the selection and the mass need.
DATA_BRANCHES: tuple[str, ...] = ("lep_pt", "lep_eta", "lep_phi", "lep_E", "lep_charge", "lep_type")

#: The lepton branches the mass is computed from, in calc_mllll's argument order.
KINEMATIC_BRANCHES: tuple[str, ...] = ("lep_pt", "lep_eta", "lep_phi", "lep_E")

#: The per-event weight factors, multiplied in the notebook's order.
WEIGHT_BRANCHES: tuple[str, ...] = (
    "mcWeight",
    "scaleFactor_PILEUP",
    "scaleFactor_ELE",
    "scaleFactor_MUON",
    "scaleFactor_LepTRIGGER",
)

#: Everything an MC chunk reads.
MC_BRANCHES: tuple[str, ...] = DATA_BRANCHES + WEIGHT_BRANCHES

#: What the release's files hold in each branch read, as in the real files (``std::vector<float>``,
#: ``std::vector<int32_t>`` charges, ``std::vector<uint32_t>`` flavours, ``float`` weights). The
#: flavour may be signed or unsigned (its values are 11 and 13); a charge must be signed.
BRANCH_TYPES: dict[str, BranchType] = {
    **dict.fromkeys(KINEMATIC_BRANCHES, BranchType("float", jagged=True)),
    "lep_charge": BranchType("signed integer", jagged=True),
    "lep_type": BranchType("integer", jagged=True),
    **dict.fromkeys(WEIGHT_BRANCHES, BranchType("float", finite=True)),
}

#: The plot's groups, in the notebook's stacking order (backgrounds first, then the signal).
GROUPS: tuple[SampleGroup, ...] = (
    SampleGroup(DATA_GROUP, "black", ("data_A", "data_B", "data_C", "data_D"), is_data=True),
    SampleGroup(r"Background $Z,t\bar{t}$", "#6b59d3", ("Zee", "Zmumu", "ttbar_lep")),
    SampleGroup(r"Background $ZZ^*$", "#ff0000", ("llll",)),
    SampleGroup(
        r"Signal ($m_H$ = 125 GeV)",
        "#00cdff",
        ("ggH125_ZZ4lep", "VBFH125_ZZ4lep", "WH125_ZZ4lep", "ZH125_ZZ4lep"),
        is_signal=True,
    ),
)


def file_name(sample: str) -> str:
    """A sample's file under the release's folder: ``Data/…`` or ``MC/mc_<DSID>.…``."""
    if sample in GROUPS[0].samples:
        return f"Data/{sample}.4lep.root"
    return f"MC/mc_{infos[sample]['DSID']}.{sample}.4lep.root"


RELEASE = Release(
    name="2020",
    description="the 4lep release, 10 fb⁻¹, the default",
    lumi=10.0,
    public_location="https://atlas-opendata.web.cern.ch/atlas-opendata/samples/2020/4lep/",
    file_name=file_name,
    tree=TREE_NAME,
    data_branches=DATA_BRANCHES,
    mc_branches=MC_BRANCHES,
    groups=GROUPS,
    bins=(34, 80.0, 250.0),
    style=PlotStyle(),
    selection="hzz.shared.releases.r2020.selection",
    sample_generator="hzz.devtools.samplegen.r2020",
    notebook="hzz.devtools.notebook",
    first_branches=("lep_charge", "lep_type"),
    branch_types=BRANCH_TYPES,
)
