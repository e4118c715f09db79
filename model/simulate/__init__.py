"""Synthetic data from physics: the film simulator (spectra and fluorescence readings in ct/s) and the shipped demo data it writes."""

from model.simulate.demo import demo_measurement_plan, demo_recipes, write_demo
from model.simulate.film import (
    BACKING_REFLECTANCE,
    BAND_NOISE_SD,
    BINDER_ABSORPTION,
    BINDER_SCATTERING,
    DEMO_COLORANTS,
    GAIN_NOISE_SD,
    THICK_FILM_UM,
    THIN_FILM_UM,
    Colorant,
    measure,
    measure_fluorescence,
    repeatability_delta_e00,
    simulate_dataset,
    simulate_fluorescence_cts,
    simulate_reflectance,
)

__all__ = [
    "BACKING_REFLECTANCE",
    "BAND_NOISE_SD",
    "BINDER_ABSORPTION",
    "BINDER_SCATTERING",
    "DEMO_COLORANTS",
    "GAIN_NOISE_SD",
    "THICK_FILM_UM",
    "THIN_FILM_UM",
    "Colorant",
    "demo_measurement_plan",
    "demo_recipes",
    "measure",
    "measure_fluorescence",
    "repeatability_delta_e00",
    "simulate_dataset",
    "simulate_fluorescence_cts",
    "simulate_reflectance",
    "write_demo",
]
