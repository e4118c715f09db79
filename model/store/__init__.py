"""The measurement store: every uploaded measurement, in one SQLite file.

- :mod:`~model.store.measurements`: :class:`~model.store.measurements.MeasurementStore` (add, exclude,
  include, the dataset of a store version);
- :mod:`~model.store.schema`, :mod:`~model.store.records` and :mod:`~model.store.lookups`: its
  tables, its records as values, and look-ups of many values at once;
- :mod:`~model.store.intake`: an upload on its way into the store, and the store's data on its
  way into a job.

Above :mod:`model.auth` (an upload needs an admin), below the registry and the jobs.
Nothing is re-exported; import the module you need.
"""
