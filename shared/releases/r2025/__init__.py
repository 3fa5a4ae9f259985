"""The 2025 education release (``2025e-13tev-beta``, ``exactly4lep`` skim, 36.6 fb⁻¹) and its notebook.

The release has no infofile: every MC file carries its cross-section, filter efficiency,
k-factor and sum of weights per event. What the pipeline needs from outside the files is the
list of files, kept here as a table of the release's file names so that everything works
without the internet. :func:`refresh_from_metadata` rebuilds the table from the release's own
metadata service (the ``atlasopenmagic`` package) where the internet is reachable.

A sample's name is the ``<name>`` part of the release's file name
``ODEO_FEB2025_v0_exactly4lep_<name>.exactly4lep.root``: ``data15_periodD``, or
``mc_<DSID>.<physics short name>``; the files sit flat in one folder. The tree ``analysis``
stores GeV. The selection (six cuts, the mass, the absolute-value weight, the significance) is
:mod:`hzz.shared.releases.r2025.selection`.
"""

from __future__ import annotations

from collections.abc import Iterable

from hzz.shared.releases.base import DATA_GROUP, BranchType, PlotStyle, Release, SampleGroup

__all__ = [
    "BASE_URL",
    "BRANCH_TYPES",
    "DATA_BRANCHES",
    "DATA_SAMPLES",
    "MC_BRANCHES",
    "MC_SAMPLES",
    "RELEASE",
    "TREE_NAME",
    "WEIGHT_FACTORS",
    "file_name",
    "refresh_from_metadata",
]

#: The TTree of the 2025 release.
TREE_NAME = "analysis"

#: What the cuts and the mass read.
DATA_BRANCHES: tuple[str, ...] = (
    "lep_pt", "lep_eta", "lep_phi", "lep_e", "lep_charge", "lep_type",
    "lep_isTrigMatched", "lep_isLooseID", "lep_isMediumID", "lep_isLooseIso", "trigE", "trigM",
)  # fmt: skip

#: The weight's factors, each taken as its absolute value, multiplied in the notebook's order.
WEIGHT_FACTORS: tuple[str, ...] = (
    "filteff", "kfac", "xsec", "mcWeight",
    "ScaleFactor_PILEUP", "ScaleFactor_ELE", "ScaleFactor_MUON", "ScaleFactor_LepTRIGGER",
)  # fmt: skip

#: What an MC chunk reads.
MC_BRANCHES: tuple[str, ...] = (*DATA_BRANCHES, *WEIGHT_FACTORS, "sum_of_weights")

#: What each branch read holds. The yes/no branches are flags (bool, or 0/1 as an integer): the
#: selection only adds and combines them, which gives the same for both.
BRANCH_TYPES: dict[str, BranchType] = {
    **dict.fromkeys(("lep_pt", "lep_eta", "lep_phi", "lep_e"), BranchType("float", jagged=True)),
    "lep_charge": BranchType("signed integer", jagged=True),
    "lep_type": BranchType("integer", jagged=True),
    **dict.fromkeys(
        ("lep_isTrigMatched", "lep_isLooseID", "lep_isMediumID", "lep_isLooseIso"), BranchType("flag", jagged=True)
    ),
    "trigE": BranchType("flag"),
    "trigM": BranchType("flag"),
    **dict.fromkeys((*WEIGHT_FACTORS, "sum_of_weights"), BranchType("float", finite=True)),
}

#: Where the release's files are served over HTTPS.
BASE_URL = "https://opendata.cern.ch/eos/opendata/atlas/rucio/opendata/"

#: The data-taking periods of 2015 and 2016 (36.6 fb⁻¹ in all).
DATA_SAMPLES: tuple[str, ...] = tuple(
    [f"data15_period{p}" for p in "DEFGHJ"] + [f"data16_period{p}" for p in "ABCDEFGIKL"]
)

#: Physics short name of every MC sample the analysis uses, by DSID. The names of 410155,
#: 410218, 410219, 410470, 345060, 700320–700325, 700600 and 346310–346312 were checked against
#: published file lists; the others follow the ATLAS naming of those samples and are the ones
#: to check first should a file be reported missing (:func:`refresh_from_metadata` gives the current names).
MC_SHORT_NAMES: dict[int, str] = {
    # Z+jets, tt̄, tt̄+V, VVV
    410470: "PhPy8EG_A14_ttbar_hdamp258p75_nonallhad",
    410155: "aMcAtNloPythia8EvtGen_MEN30NLO_A14N23LO_ttW",
    410218: "aMcAtNloPythia8EvtGen_MEN30NLO_A14N23LO_ttee",
    410219: "aMcAtNloPythia8EvtGen_MEN30NLO_A14N23LO_ttmumu",
    412043: "aMcAtNloPythia8EvtGen_A14NNPDF31_SM4topsNLO",
    364243: "Sherpa_222_NNPDF30NNLO_WWZ_4l2v_EW6",
    364242: "Sherpa_222_NNPDF30NNLO_WWW_3l3v_EW6",
    364246: "Sherpa_222_NNPDF30NNLO_WZZ_5l1v_EW6",
    364248: "Sherpa_222_NNPDF30NNLO_ZZZ_4l2v_EW6",
    700320: "Sh_2211_Zee_maxHTpTV2_BFilter",
    700321: "Sh_2211_Zee_maxHTpTV2_CFilterBVeto",
    700322: "Sh_2211_Zee_maxHTpTV2_CVetoBVeto",
    700323: "Sh_2211_Zmumu_maxHTpTV2_BFilter",
    700324: "Sh_2211_Zmumu_maxHTpTV2_CFilterBVeto",
    700325: "Sh_2211_Zmumu_maxHTpTV2_CVetoBVeto",
    # ZZ*
    700600: "Sh_2212_llll",
    # Signal
    345060: "PowhegPythia8EvtGen_NNLOPS_nnlo_30_ggH125_ZZ4l",
    346228: "PowhegPy8EG_NNPDF30_AZNLOCTEQ6L1_VBFH125_ZZ4lep_notau",
    346310: "PowhegPythia8EvtGen_NNPDF30_AZNLO_ZH125J_Zincl_H_incl_MINLO",
    346311: "PowhegPythia8EvtGen_NNPDF30_AZNLO_WpH125J_Wincl_H_incl_MINLO",
    346312: "PowhegPythia8EvtGen_NNPDF30_AZNLO_WmH125J_Wincl_H_incl_MINLO",
    346340: "PhPy8EG_A14NNPDF23_NNPDF30ME_ttH125_ZZ4l_allhad",
    346341: "PhPy8EG_A14NNPDF23_NNPDF30ME_ttH125_ZZ4l_semilep",
    346342: "PhPy8EG_A14NNPDF23_NNPDF30ME_ttH125_ZZ4l_dilep",
}

#: The notebook's MC groups, in its stacking order: DSIDs per legend label.
MC_GROUP_DSIDS: dict[str, tuple[int, ...]] = {
    r"Background $Z,t\bar{t},t\bar{t}+V,VVV$": (
        410470, 410155, 410218, 410219, 412043, 364243, 364242, 364246, 364248,
        700320, 700321, 700322, 700323, 700324, 700325,
    ),
    r"Background $ZZ^{*}$": (700600,),
    r"Signal ($m_H$ = 125 GeV)": (345060, 346228, 346310, 346311, 346312, 346340, 346341, 346342),
}  # fmt: skip


def mc_sample(dsid: int) -> str:
    """The sample name of an MC DSID: ``mc_<DSID>.<short name>``."""
    return f"mc_{dsid}.{MC_SHORT_NAMES[dsid]}"


#: Every MC sample name, by group label.
MC_SAMPLES: dict[str, tuple[str, ...]] = {
    label: tuple(mc_sample(dsid) for dsid in dsids) for label, dsids in MC_GROUP_DSIDS.items()
}


def file_name(sample: str) -> str:
    """The release's file name of a sample."""
    return f"ODEO_FEB2025_v0_exactly4lep_{sample}.exactly4lep.root"


def refresh_from_metadata(dsids: Iterable[int] | None = None) -> dict[int, str]:
    """Ask the release's metadata service for the current short names (needs the internet).

    Returns:
        dict[int, str]: DSID → physics short name, for the DSIDs asked (all of the analysis').

    Raises:
        ImportError: ``atlasopenmagic`` is not installed (``pip install atlasopenmagic``).
    """
    import atlasopenmagic as atom  # optional: only this refresh needs it

    atom.set_release("2025e-13tev-beta")
    names = {}
    for dsid in dsids or MC_SHORT_NAMES:
        [url, *_] = atom.get_urls(str(dsid), skim="exactly4lep", protocol="https")
        names[dsid] = url.rsplit(f"mc_{dsid}.", 1)[1].removesuffix(".exactly4lep.root")
    return names


#: The plot's groups (the 2025 notebook's labels and colours), data first, then stacking order.
GROUPS: tuple[SampleGroup, ...] = (
    SampleGroup(DATA_GROUP, "black", DATA_SAMPLES, is_data=True),
    *(
        SampleGroup(label, color, MC_SAMPLES[label], is_signal=label.startswith("Signal"))
        for label, color in zip(MC_SAMPLES, ("#6b59d3", "#ff0000", "#00cdff"), strict=True)
    ),
)

RELEASE = Release(
    name="2025",
    description="the exactly4lep education release, 36.6 fb⁻¹, with trigger, ID and isolation cuts",
    lumi=36.6,
    public_location=BASE_URL,
    file_name=file_name,
    tree=TREE_NAME,
    data_branches=DATA_BRANCHES,
    mc_branches=MC_BRANCHES,
    groups=GROUPS,
    bins=(68, 80.0, 250.0),
    # The notebook's 12 × 8 in figure is shown about 800 px wide on the page: its axis titles and
    # tick labels are drawn as large as its texts, or they would be a few pixels tall there.
    style=PlotStyle(
        figsize=(12, 8),
        text_x=0.1,
        title_size=16,
        education_size=12,
        text_size=16,
        y_headroom=2.0,
        label_size=18,
        tick_size=16,
    ),
    selection="hzz.shared.releases.r2025.selection",
    sample_generator="hzz.devtools.samplegen.r2025",
    notebook="hzz.devtools.notebook",
    significance_window=(122.5, 130.0),
    branch_types=BRANCH_TYPES,
)
