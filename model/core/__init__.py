"""The shared vocabulary, at the bottom of the layers: everything else speaks in these terms.

- :mod:`~model.core.schema`: the 31-band grid, column names and the :class:`~model.core.schema.Dataset`;
- :mod:`~model.core.colorimetry`: reflectance → XYZ → CIELAB/LCh (ASTM E308), ΔE00, sRGB;
- :mod:`~model.core.prediction`: what a prediction carries, whatever model made it;
- :mod:`~model.core.settings`: where models and measurements live;
- :mod:`~model.core.files`: atomic writes;
- :mod:`~model.core.tolerance`: the ΔE00 tolerance bands (green, amber, red).
- :mod:`~model.core.lazy`: a package's public names that import their module on first use.

Import the module you need; nothing is re-exported here, so importing one costs only that one.
"""
