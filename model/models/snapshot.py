"""The serving snapshot's file (``serving.npz``): a :class:`~model.models.serving_form.ServingSnapshot` on disk.

Why a file beside ``model.joblib``: unpickling the model needs scikit-learn (and SciPy)
imported first, about 0.6 s before anything can be predicted. The snapshot is one
``.npz`` file (the arrays and a JSON manifest stored as a string array) read with
``numpy.load(allow_pickle=False)``: it is never unpickled, so it is also safe to read.
The registry writes it beside ``model.joblib`` (``serving.npz``, its SHA-256 on the card)
from the model's own serving form (``HybridModel.serving_``), so the file predicts what
the model predicts. The in-memory form and its arithmetic are
:mod:`model.models.serving_form`; this module only writes and reads it.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from model.core.prediction import TrainingRange
from model.models.difficulty import DifficultyBand
from model.models.features import FUNCTIONS
from model.models.serving_form import ACTIVATIONS, HEAD_GROUPS, FilmPhysics, FluorescencePrograms, ServingSnapshot, Step

__all__ = ["FORMAT_VERSION", "ServingSnapshot", "load", "save", "to_bytes"]

#: The version of the file layout :func:`save` writes; :func:`load` refuses a file of another
#: version (rebuild it from the model instead).
FORMAT_VERSION = 1
_FORMAT_NAME = "huecast-serving-snapshot"
_MANIFEST_KEY = "manifest"


def save(snapshot: ServingSnapshot, path) -> None:
    """Write the snapshot as one ``.npz`` file (a path or a binary file object); no pickle inside.

    Raises ``ValueError`` when a step holds a function that has no name in :data:`FUNCTIONS`.
    """
    if not snapshot.savable:
        raise ValueError("This snapshot holds a function that is not in model.models.features.FUNCTIONS; it cannot be saved.")
    arrays: dict[str, np.ndarray] = {}

    def stored(value) -> str:
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(value)
        return key

    def program_entry(program) -> list[dict]:
        return [{"kind": step.kind, "name": step.name, "arrays": [stored(a) for a in step.arrays]} for step in program]

    physics = snapshot.physics
    manifest = {
        "format": _FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "colorants": list(snapshot.colorants_),
        "training_range": {"minimum": snapshot.training_range_.minimum, "maximum": snapshot.training_range_.maximum},
        "headline": snapshot.headline,
        "band_scale": float(snapshot.band_scale),
        "lab_weights": stored(snapshot.lab_weights),
        "spectral_weights": stored(snapshot.spectral_weights),
        "heads": {group: [program_entry(program) for program in programs] for group, programs in snapshot.heads.items()},
        "physics": {
            **{name: stored(getattr(physics, name)) for name in FilmPhysics._ARRAYS},
            "fluorescent_index": [int(j) for j in physics.fluorescent_index],
            "excitation_max_nm": float(physics.excitation_max_nm),
            "surface": [float(v) for v in physics.surface],
        },
        "fluorescence": None if snapshot.fluorescence is None else {
            "fluorescent_colorants": list(snapshot.fluorescence.fluorescent_colorants),
            "gate_index": [int(j) for j in snapshot.fluorescence.gate_index],
            "networks": [program_entry(program) for program in snapshot.fluorescence.networks],
            "constant_cts": float(snapshot.fluorescence.constant_cts),
        },
        "notes": snapshot.notes,
        # Optional (a file without it loads with bands None), so the format version stays.
        "bands": None if not snapshot.bands else {
            path: {name: stored(value) for name, value in band.to_arrays().items()} for path, band in snapshot.bands.items()
        },
    }
    arrays[_MANIFEST_KEY] = np.array(json.dumps(manifest))
    if hasattr(path, "write"):
        np.savez(path, **arrays)
        return
    with open(path, "wb") as handle:  # a file handle, so numpy does not append ".npz" to the name
        np.savez(handle, **arrays)


def to_bytes(snapshot: ServingSnapshot) -> bytes:
    """The file :func:`save` writes, in memory (to hash it before it is written)."""
    buffer = io.BytesIO()
    save(snapshot, buffer)
    return buffer.getvalue()


def load(path) -> ServingSnapshot:
    """Read a file :func:`save` wrote (``numpy.load(allow_pickle=False)``: nothing is unpickled).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a snapshot, is damaged, or has another format version; the
        message names the file and what to do.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        manifest = json.loads(str(arrays[_MANIFEST_KEY][()]))
        if manifest.get("format") != _FORMAT_NAME:
            raise ValueError("it is not a Huecast serving snapshot")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"it has format version {manifest.get('format_version')!r}; this Huecast reads version {FORMAT_VERSION}")
        return _from_manifest(manifest, arrays)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ValueError(
            f"The serving snapshot {path} cannot be read ({error}). Load the full model instead "
            "(model.registry.registry.ModelRegistry(models_dir).load_model(version)), or retrain (python -m model train --data <folder>): a saved model "
            "writes its snapshot beside it."
        ) from None


def _from_manifest(manifest: dict, arrays: dict[str, np.ndarray]) -> ServingSnapshot:
    def array(key: str) -> np.ndarray:
        return np.asarray(arrays[key], dtype=float)

    def program(entries: list[dict]) -> tuple[Step, ...]:
        steps = []
        for entry in entries:
            kind, name = entry["kind"], entry["name"]
            if kind == "function":
                if name not in FUNCTIONS:
                    raise ValueError(f"it names a function {name!r} this Huecast does not have")
                steps.append(Step(kind, name, (), FUNCTIONS[name]))
            elif kind in ("affine", "inverse_affine", "network"):
                if kind == "network" and name not in ACTIVATIONS:
                    raise ValueError(f"it names an activation {name!r} this Huecast does not have")
                steps.append(Step(kind, name, tuple(array(key) for key in entry["arrays"])))
            else:
                raise ValueError(f"it has a step of unknown kind {kind!r}")
        return tuple(steps)

    physics = manifest["physics"]
    fluorescence = manifest["fluorescence"]
    return ServingSnapshot(
        colorants_=tuple(manifest["colorants"]),
        training_range_=TrainingRange(dict(manifest["training_range"]["minimum"]), dict(manifest["training_range"]["maximum"])),
        headline=manifest["headline"],
        heads={group: tuple(program(entries) for entries in manifest["heads"][group]) for group in HEAD_GROUPS},
        lab_weights=array(manifest["lab_weights"]),
        spectral_weights=array(manifest["spectral_weights"]),
        physics=FilmPhysics(
            **{name: array(physics[name]) for name in FilmPhysics._ARRAYS},
            fluorescent_index=tuple(int(j) for j in physics["fluorescent_index"]),
            excitation_max_nm=float(physics["excitation_max_nm"]),
            surface=tuple(float(v) for v in physics["surface"]),
        ),
        band_scale=float(manifest["band_scale"]),
        fluorescence=None if fluorescence is None else FluorescencePrograms(
            fluorescent_colorants=tuple(fluorescence["fluorescent_colorants"]),
            gate_index=tuple(int(j) for j in fluorescence["gate_index"]),
            networks=tuple(program(entries) for entries in fluorescence["networks"]),
            constant_cts=float(fluorescence["constant_cts"]),
        ),
        notes=dict(manifest.get("notes") or {}),
        bands=None if not manifest.get("bands") else {
            path: DifficultyBand.from_arrays({name: arrays[key] for name, key in entries.items()})
            for path, entries in manifest["bands"].items()
        },
    )
