"""Front kinetics and electrochemistry log of an open-cell SnO2 nanowire lithiation.

The companion of :mod:`.lithiation_movie`: everything about *how fast* the reaction
front moves and *what current* the source-measure unit (SMU) records, with no imaging.

Physics
-------
Charge per unit length.  Full lithiation of SnO2 is a conversion followed by alloying::

    SnO2 + 4 Li -> Sn + 2 Li2O          (conversion)
    Sn + 4.4 Li -> Li4.4Sn               (alloying)

i.e. 8.4 Li per SnO2 formula unit.  With rho = 6.95 g/cm^3 and M = 150.71 g/mol the
number density of SnO2 is n = rho N_A / M = 27.77 nm^-3, so a pristine wire of
diameter d carries ``q = e * 8.4 * n * pi d^2 / 4`` of Faradaic charge per nm of
wire consumed: 1.88e-13 C/nm (0.188 pC/nm) for d = 80 nm.

Front kinetics.  The front position x_f (nm along the wire from the Li2O contact)
follows the linear-parabolic (Deal-Grove) law of a reaction that is limited first
by the interface reaction and later by Li transport through the growing lithiated
section::

    (x_f - x_0)^2 + A (x_f - x_0) = B tau,    B = 2 D_eff,  A = 2 D_eff / k

so the front starts at the interface velocity ``k`` and becomes diffusion-limited,
``x_f ~ sqrt(2 D_eff tau)``, once ``x_f - x_0 >> A``.  ``x_0`` is the segment that
lithiated when the wire was pushed into the Li2O, before logging began.  ``tau`` is
the reaction time: zero before the bias is switched on, and not advancing during a
brief stall (front pinned, e.g. at a defect), so x_f(t) is continuous and
non-decreasing.  Defaults: D_eff = 1800 nm^2/s (1.8e-11 cm^2/s), k = 40 nm/s,
x_0 = 30 nm, bias on at 1.0 s and a 4 s stall from 26 s (camera clock), giving ~400
nm of travel in a 60 s movie: front speeds of 40 -> ~4 nm/s, i.e. Faradaic currents
of 7.5 -> ~0.8 pA (pA order, as in open-cell experiments).

Current and charge.  ``current_A`` is the cathodic (lithiation) current, positive
when electrons flow into the nanowire (minus the SMU reading with the wire on HI):
``I = q dx_f/dt + I_dl + I_leak + noise`` with a double-layer/stray-capacitance
transient ``I_dl = C |dV| / tau_RC exp(-(t - t_on) / tau_RC)`` (C = 0.1 pF,
tau_RC = 0.25 s: 0.35 pC in all), an ohmic leakage ``|V| / R_leak`` through the holder
insulation (R_leak = 200 TOhm: 17.5 fA at -3.5 V) and white reading noise of 30 fA rms
at 10 Hz.  The bias is 0 V until ``t_on`` and -3.5 V (wire vs Li) after it; the
potential read-back has 0.3 mV rms noise.  ``charge_C`` is the SMU's running charge
(coulomb-meter mode, integrated continuously rather than from the 10 Hz readings),
so its noise-free part is exact: ``q (x_f(t) - x_f(t_log=0)) + Q_dl(t) + Q_leak(t)``;
its noise is the trapezoidal integral of the reading noise (~0.1 pC over a minute,
~0.1 % of the total).

Clocks.  The kinetics are written on the camera clock (t = 0 at the start of the
first exposure).  The log has its own clock, started ``clock_offset_s`` before the
camera: ``t_log = t_camera + clock_offset_s``.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict

import numpy as np

E_CHARGE_C = 1.602176634e-19
AVOGADRO_PER_MOL = 6.02214076e23
SNO2_DENSITY_G_CM3 = 6.95
SNO2_MOLAR_MASS_G_MOL = 150.71
LI_MOLAR_MASS_G_MOL = 6.94
#: Li per SnO2 for conversion (4) plus alloying to Li4.4Sn (4.4).
LI_PER_SNO2 = 8.4


def sno2_number_density_per_nm3() -> float:
    """SnO2 formula units per nm^3 from its density and molar mass (27.77 nm^-3)."""
    per_cm3 = SNO2_DENSITY_G_CM3 / SNO2_MOLAR_MASS_G_MOL * AVOGADRO_PER_MOL
    return per_cm3 * 1e-21


def lithiation_charge_per_length(diameter_nm: float) -> float:
    """Faradaic charge to lithiate one nm of a pristine cylindrical SnO2 wire fully.

    Parameters
    ----------
    diameter_nm : float
        Pristine wire diameter in nm.

    Returns
    -------
    float
        Charge in C per nm of pristine wire (``e * 8.4 * n_SnO2 * pi d^2 / 4``).
    """
    if not np.isfinite(diameter_nm) or diameter_nm <= 0:
        raise ValueError(f"diameter_nm must be finite and > 0, got {diameter_nm}")
    area_nm2 = np.pi * diameter_nm ** 2 / 4.0
    return float(E_CHARGE_C * LI_PER_SNO2 * sno2_number_density_per_nm3() * area_nm2)


def lithiated_density_g_cm3(diameter_swelling: float) -> float:
    """Density of the Li8.4SnO2 (Li4.4Sn + 2 Li2O) composite for radial-only swelling.

    Parameters
    ----------
    diameter_swelling : float
        Relative diameter increase (0.45 for +45 %); the length is taken as unchanged.

    Returns
    -------
    float
        ``rho_SnO2 (M_l / M_SnO2) / (1 + swelling)^2`` in g/cm^3 (mass conserved per unit
        length): 4.58 g/cm^3 for 0.45.
    """
    if not 0 <= diameter_swelling <= 2:
        raise ValueError(f"diameter_swelling must be in [0, 2], got {diameter_swelling}")
    molar = SNO2_MOLAR_MASS_G_MOL + LI_PER_SNO2 * LI_MOLAR_MASS_G_MOL
    return float(SNO2_DENSITY_G_CM3 * molar / SNO2_MOLAR_MASS_G_MOL / (1.0 + diameter_swelling) ** 2)


@dataclass(frozen=True)
class FrontKinetics:
    """Linear-parabolic front law on the camera clock, with a bias onset and one stall.

    Parameters
    ----------
    x0_nm : float
        Front position before the bias (lithiated at contact), nm from the contact.
    diffusivity_nm2_per_s : float
        Effective parabolic constant D_eff (``B = 2 D_eff``), nm^2/s.
    interface_velocity_nm_per_s : float
        Interface-limited initial front velocity k, nm/s.
    onset_s : float
        Camera time at which the bias is switched on, s.
    stall_start_s, stall_duration_s : float
        Camera time and duration of the stall (front pinned), s; duration 0 for none.
    """

    x0_nm: float = 30.0
    diffusivity_nm2_per_s: float = 1800.0
    interface_velocity_nm_per_s: float = 40.0
    onset_s: float = 1.0
    stall_start_s: float = 26.0
    stall_duration_s: float = 4.0

    def __post_init__(self):
        if self.x0_nm < 0 or self.diffusivity_nm2_per_s <= 0 or self.interface_velocity_nm_per_s <= 0:
            raise ValueError("FrontKinetics: x0_nm must be >= 0, diffusivity and interface velocity > 0")
        if self.stall_duration_s < 0 or self.stall_start_s < self.onset_s:
            raise ValueError("FrontKinetics: the stall must start at or after the onset "
                             "and have a duration >= 0")

    @property
    def parabolic_B_nm2_per_s(self) -> float:
        """B = 2 D_eff in nm^2/s."""
        return 2.0 * self.diffusivity_nm2_per_s

    @property
    def linear_A_nm(self) -> float:
        """A = 2 D_eff / k in nm: the travel at which diffusion takes over."""
        return 2.0 * self.diffusivity_nm2_per_s / self.interface_velocity_nm_per_s

    def reaction_time(self, t_s) -> np.ndarray:
        """Reaction time tau (s) at camera times ``t_s``: time biased, minus stalled time."""
        t = np.asarray(t_s, dtype=np.float64)
        biased = np.clip(t - self.onset_s, 0.0, None)
        stall_end = self.stall_start_s + self.stall_duration_s
        stalled = np.clip(np.minimum(t, stall_end) - self.stall_start_s, 0.0, None)
        return biased - stalled

    def position(self, t_s) -> np.ndarray:
        """Front position x_f (nm from the contact) at camera times ``t_s``."""
        tau = self.reaction_time(t_s)
        a = self.linear_A_nm
        travel = 0.5 * a * (np.sqrt(1.0 + 4.0 * self.parabolic_B_nm2_per_s * tau / a ** 2) - 1.0)
        return self.x0_nm + travel

    def velocity(self, t_s) -> np.ndarray:
        """Front velocity dx_f/dt (nm/s) at camera times ``t_s`` (0 before onset, in the stall)."""
        t = np.asarray(t_s, dtype=np.float64)
        travel = self.position(t) - self.x0_nm
        moving = (t >= self.onset_s) & ~((t >= self.stall_start_s)
                                          & (t < self.stall_start_s + self.stall_duration_s))
        return np.where(moving, self.parabolic_B_nm2_per_s / (2.0 * travel + self.linear_A_nm), 0.0)

    def to_dict(self) -> dict:
        """JSON-serialisable parameters, with the law spelled out."""
        d = {k: float(v) for k, v in asdict(self).items()}
        d.update(law="linear-parabolic (Deal-Grove) in reaction time",
                 equation="(x_f - x0)^2 + A (x_f - x0) = B tau; B = 2 D_eff; A = 2 D_eff / k; "
                          "tau = max(t - onset, 0) - time stalled in [stall_start, stall_start + "
                          "stall_duration]; t on the camera clock",
                 parabolic_B_nm2_per_s=self.parabolic_B_nm2_per_s, linear_A_nm=self.linear_A_nm)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FrontKinetics":
        """Rebuild from :meth:`to_dict` output (extra keys ignored)."""
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class BiasCircuit:
    """The SMU side of the open cell: applied bias, non-Faradaic currents and noise.

    Parameters
    ----------
    bias_V : float
        Potential of the wire vs the Li counter electrode after the onset, V (< 0).
    capacitance_F : float
        Double-layer plus stray capacitance charged at the bias step, F.
    time_constant_s : float
        RC time constant of that charging transient, s.
    leakage_resistance_ohm : float
        Ohmic leakage across the holder insulation, Ohm.
    current_noise_A, potential_noise_V : float
        RMS white noise of each current / potential reading.
    """

    bias_V: float = -3.5
    capacitance_F: float = 0.1e-12
    time_constant_s: float = 0.25
    leakage_resistance_ohm: float = 2e14
    current_noise_A: float = 30e-15
    potential_noise_V: float = 0.3e-3

    def __post_init__(self):
        if not self.bias_V < 0:
            raise ValueError(f"BiasCircuit: lithiation needs a negative bias, got {self.bias_V} V")
        if min(self.capacitance_F, self.current_noise_A, self.potential_noise_V) < 0 \
                or self.time_constant_s <= 0 or self.leakage_resistance_ohm <= 0:
            raise ValueError("BiasCircuit: capacitance and noises must be >= 0, "
                             "time constant and leakage resistance > 0")

    def nonfaradaic_current(self, t_s, onset_s: float) -> np.ndarray:
        """Charging transient plus leakage (A, cathodic positive) at camera times ``t_s``."""
        dt = np.asarray(t_s, dtype=np.float64) - onset_s
        on = dt >= 0
        v = abs(self.bias_V)
        decay = np.exp(-np.where(on, dt, 0.0) / self.time_constant_s)
        i_dl = self.capacitance_F * v / self.time_constant_s * decay
        return np.where(on, i_dl + v / self.leakage_resistance_ohm, 0.0)

    def nonfaradaic_charge(self, t_s, onset_s: float) -> np.ndarray:
        """Integral of :meth:`nonfaradaic_current` from before the onset to ``t_s`` (C)."""
        dt = np.clip(np.asarray(t_s, dtype=np.float64) - onset_s, 0.0, None)
        v = abs(self.bias_V)
        q_dl = self.capacitance_F * v * (1.0 - np.exp(-dt / self.time_constant_s))
        return q_dl + v / self.leakage_resistance_ohm * dt

    def to_dict(self) -> dict:
        """JSON-serialisable parameters."""
        return {k: float(v) for k, v in asdict(self).items()}


def electrochemistry_log(kinetics: FrontKinetics, circuit: BiasCircuit, *, charge_per_nm_C: float,
                         clock_offset_s: float, duration_s: float, rate_Hz: float,
                         rng: np.random.Generator) -> dict:
    """Sample the SMU log of a lithiating wire on the log's own clock.

    Parameters
    ----------
    kinetics : FrontKinetics
        Front law (camera clock).
    circuit : BiasCircuit
        Bias, non-Faradaic currents and noise.
    charge_per_nm_C : float
        Faradaic charge per nm of front travel, C/nm.
    clock_offset_s : float
        How long logging ran before the camera started: ``t_log = t_camera + offset``.
    duration_s : float
        Length of the log, s (log clock).
    rate_Hz : float
        Sampling rate, Hz.
    rng : numpy.random.Generator
        Source of the reading noise.

    Returns
    -------
    dict
        ``{"time_s", "potential_V", "current_A", "charge_C"}``, float64 1-D arrays.
    """
    if rate_Hz <= 0 or duration_s <= 0 or charge_per_nm_C <= 0:
        raise ValueError("electrochemistry_log: rate_Hz, duration_s and charge_per_nm_C must be > 0")
    n = int(np.floor(duration_s * rate_Hz + 1e-9)) + 1
    t_log = np.arange(n) / rate_Hz
    t_cam = t_log - clock_offset_s
    on = kinetics.onset_s
    current_clean = (charge_per_nm_C * kinetics.velocity(t_cam)
                     + circuit.nonfaradaic_current(t_cam, on))
    charge_clean = (charge_per_nm_C * (kinetics.position(t_cam) - kinetics.position(t_cam[0]))
                    + circuit.nonfaradaic_charge(t_cam, on) - circuit.nonfaradaic_charge(t_cam[0], on))
    noise = circuit.current_noise_A * rng.standard_normal(n)
    noise_charge = np.concatenate([[0.0], np.cumsum(0.5 * (noise[1:] + noise[:-1]) / rate_Hz)])
    potential = np.where(t_cam >= on, circuit.bias_V, 0.0)
    potential = potential + circuit.potential_noise_V * rng.standard_normal(n)
    return {"time_s": t_log, "potential_V": potential,
            "current_A": current_clean + noise, "charge_C": charge_clean + noise_charge}


def log_truth(kinetics: FrontKinetics, circuit: BiasCircuit, *, log: dict, charge_per_nm_C: float,
              clock_offset_s: float, rate_Hz: float) -> dict:
    """Ground truth of an :func:`electrochemistry_log`: the charge relation and its terms.

    Parameters
    ----------
    kinetics, circuit, charge_per_nm_C, clock_offset_s, rate_Hz
        As given to :func:`electrochemistry_log`.
    log : dict
        Its output.

    Returns
    -------
    dict
        JSON-serialisable: charge per nm, the relation in words, the sign convention,
        the circuit, and the front and the Faradaic / non-Faradaic charge at the log's end.
    """
    t0, t1 = -clock_offset_s, float(log["time_s"][-1]) - clock_offset_s
    x0, x1 = float(kinetics.position(t0)), float(kinetics.position(t1))
    on = kinetics.onset_s
    return {"charge_per_nm_C": float(charge_per_nm_C), "li_per_sno2": LI_PER_SNO2,
            "sno2_number_density_per_nm3": sno2_number_density_per_nm3(),
            "charge_relation": "charge_C(t_log) = charge_per_nm_C * (front_nm(t) - front_nm_at_log_start) "
                               "+ nonfaradaic charge (circuit) + integrated reading noise",
            "current_sign": "positive = cathodic: electrons into the nanowire (lithiation)",
            "circuit": circuit.to_dict(), "log_rate_Hz": float(rate_Hz),
            "front_nm_at_log_start": x0, "front_nm_at_log_end": x1,
            "faradaic_charge_at_log_end_C": float(charge_per_nm_C * (x1 - x0)),
            "nonfaradaic_charge_at_log_end_C": float(circuit.nonfaradaic_charge(t1, on)
                                                     - circuit.nonfaradaic_charge(t0, on))}
