"""Predictions for people and programs: a CSV of recipes (:mod:`~model.serving.batch`) and
one recipe looked at closely (:mod:`~model.serving.explore`)."""
