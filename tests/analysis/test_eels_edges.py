"""EELS edge table and look-ups (batteryscope.analysis.eels.edges)."""
import subprocess
import sys
import warnings

import pytest

from batteryscope.analysis.eels import edge_table
from batteryscope.analysis.eels.edges import (
    EdgeWindows, default_windows, edge, edges_in_range, edges_near, edges_of,
    quantification_edge,
)


@pytest.mark.parametrize("element, shell, onset", [
    ("O", "K", 532.0), ("Mn", "L3", 640.0), ("Fe", "L3", 708.0), ("Co", "L3", 779.0),
    ("Ni", "L3", 855.0), ("Li", "K", 55.0), ("Ti", "L3", 456.0), ("La", "M5", 832.0),
    ("C", "K", 284.0),
])
def test_known_onsets(element, shell, onset):
    e = edge(element, shell)
    assert e.onset_eV == onset
    assert e.relevance == "Major" and e.major


@pytest.fixture(scope="module")
def exspy_db():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exspy_material = pytest.importorskip("exspy.material")
    db = exspy_material.elements.as_dictionary()
    return {el: props for el, props in db.items() if isinstance(props, dict)}


def test_table_equals_installed_exspy(exspy_db):
    """The generated table must not go stale: rerun scripts/generate_eels_edge_table.py."""
    expected_edges = {
        el: {shell: (float(info["onset_energy (eV)"]), info["relevance"])
             for shell, info in props["Atomic_properties"].get("Binding_energies", {}).items()}
        for el, props in exspy_db.items()
    }
    expected_z = {el: props["General_properties"]["Z"] for el, props in exspy_db.items()}
    assert edge_table.EDGES == expected_edges
    assert edge_table.ATOMIC_NUMBER == expected_z


def test_table_records_installed_exspy_version(exspy_db):
    from importlib.metadata import version
    assert edge_table.SOURCE == {"package": "exspy", "version": version("exspy")}


def test_edge_is_case_insensitive_and_labelled():
    assert edge("mn", "l3") == edge("Mn", "L3") == edge(" MN ", "L3")
    assert edge("Mn", "L3").label == "Mn L₃"
    assert edge("O", "K").label == "O K"
    assert edge("P", "L2,3").label == "P L₂,₃"


@pytest.mark.parametrize("element, shell, family", [
    ("Mn", "L3", "L2,3"), ("Mn", "L2", "L2,3"), ("P", "L2,3", "L2,3"), ("La", "M5", "M4,5"),
    ("La", "M4", "M4,5"), ("Mn", "M3", "M2,3"), ("O", "K", "K"), ("C", "K1a", "K"),
    ("Mn", "L1", "L1"), ("La", "N5", "N4,5"),
])
def test_family(element, shell, family):
    assert edge(element, shell).family == family


def test_edge_errors():
    with pytest.raises(ValueError, match=r"M2, M3, L3, L2, L1"):
        edge("Mn", "K")
    with pytest.raises(ValueError, match="unknown element"):
        edge("Xx", "K")


def test_edge_is_frozen():
    with pytest.raises(AttributeError):
        edge("O", "K").onset_eV = 1.0


def test_edges_of_sorted_and_major_filter():
    fe = edges_of("fe")
    assert [e.onset_eV for e in fe] == sorted(e.onset_eV for e in fe)
    assert {e.shell for e in fe} == {"M2", "M3", "L3", "L2", "L1", "K"}
    assert {e.shell for e in edges_of("Fe", major_only=True)} == {"M2", "M3", "L3", "L2"}
    with pytest.raises(ValueError):
        edges_of("Qq")


def test_edges_near():
    assert edges_near(640)[0] == edge("Mn", "L3")
    # La M4 is at 849 eV in exspy: 6 eV from 855, so outside a 5 eV tolerance.
    assert edges_near(855, tolerance_eV=5) == [edge("Ni", "L3")]
    near = edges_near(855, tolerance_eV=6)
    assert near[0] == edge("Ni", "L3") and edge("La", "M4") in near
    distances = [abs(e.onset_eV - 700) for e in edges_near(700, tolerance_eV=30)]
    assert distances == sorted(distances)
    assert all(e.major for e in edges_near(855, tolerance_eV=50))
    assert any(not e.major for e in edges_near(855, tolerance_eV=50, major_only=False))
    with pytest.raises(ValueError):
        edges_near(640, tolerance_eV=-1)


def test_edges_in_range():
    found = edges_in_range(630, 720)
    assert [e.onset_eV for e in found] == sorted(e.onset_eV for e in found)
    assert edge("Mn", "L3") in found and edge("Fe", "L3") in found
    assert all(630 <= e.onset_eV <= 720 and e.major for e in found)
    assert edge("O", "K") in edges_in_range(531, 533)
    with pytest.raises(ValueError):
        edges_in_range(700, 600)


@pytest.mark.parametrize("element, shell", [
    ("Li", "K"), ("C", "K"), ("O", "K"), ("Si", "K"), ("P", "L2,3"), ("S", "L2,3"),
    ("Ti", "L3"), ("Mn", "L3"), ("Fe", "L3"), ("Co", "L3"), ("Ni", "L3"), ("Cu", "L3"),
    ("La", "M5"), ("Ce", "M5"),
])
def test_quantification_edge(element, shell):
    assert quantification_edge(element) == shell
    assert quantification_edge(element.lower()) == shell


def test_quantification_edge_exists_for_every_element():
    for element in edge_table.EDGES:
        edge(element, quantification_edge(element))


def test_default_windows_microscopist_defaults():
    w = default_windows(edge("Mn", "L3"))
    assert isinstance(w, EdgeWindows) and not w.clipped
    assert w.background == (585.0, 635.0)
    assert w.integration == (640.0, 690.0)
    li = default_windows(edge("Li", "K"))  # narrowed: 0.4 * 55 = 22 eV wide
    assert li.background == pytest.approx((28.0, 50.0))
    assert li.background[0] >= 15.0


def test_default_windows_for_every_quantification_edge_above_helium():
    for element, z in edge_table.ATOMIC_NUMBER.items():
        if z <= 2:
            continue
        e = edge(element, quantification_edge(element))
        w = default_windows(e)
        assert 15.0 <= w.background[0] < w.background[1] < e.onset_eV
        assert w.integration[0] == e.onset_eV < w.integration[1]


def test_default_windows_errors():
    with pytest.raises(ValueError, match="zero-loss"):
        default_windows(edge("H", "K"))
    with pytest.raises(ValueError, match="Mn L₃"):  # L2 background would hold L3
        default_windows(edge("Mn", "L2"))
    with pytest.raises(ValueError, match="outside the spectrum"):
        default_windows(edge("O", "K"), spectrum_lo=600, spectrum_hi=900)
    with pytest.raises(ValueError, match="outside the spectrum"):
        default_windows(edge("Ni", "L3"), spectrum_lo=100, spectrum_hi=800)
    with pytest.raises(ValueError, match="pre-edge"):
        default_windows(edge("Mn", "L3"), spectrum_lo=632, spectrum_hi=900)
    with pytest.raises(ValueError, match="integrate"):
        default_windows(edge("Mn", "L3"), spectrum_lo=500, spectrum_hi=645)
    with pytest.raises(ValueError, match="empty spectrum"):
        default_windows(edge("Mn", "L3"), spectrum_lo=900, spectrum_hi=500)


def test_default_windows_clipped_to_spectrum():
    w = default_windows(edge("Mn", "L3"), spectrum_lo=600, spectrum_hi=670)
    assert w.clipped
    assert w.background == (600.0, 635.0)
    assert w.integration == (640.0, 670.0)
    inside = default_windows(edge("Mn", "L3"), spectrum_lo=400, spectrum_hi=1000)
    assert inside == EdgeWindows(edge("Mn", "L3"), (585.0, 635.0), (640.0, 690.0), False)
    only_hi = default_windows(edge("O", "K"), spectrum_hi=560)
    assert only_hi.integration == (532.0, 560.0) and only_hi.clipped


def test_imports_without_exspy_or_hyperspy():
    code = ("import batteryscope.analysis.eels.edges, sys; "
            "assert 'exspy' not in sys.modules and 'hyperspy' not in sys.modules")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr


def test_generator_check_passes():
    """scripts/generate_eels_edge_table.py --check: the committed file is byte-identical."""
    pytest.importorskip("exspy")
    from pathlib import Path
    script = Path(__file__).resolve().parents[2] / "scripts" / "generate_eels_edge_table.py"
    run = subprocess.run([sys.executable, str(script), "--check"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
