"""Retraining over the JSON API: upload measurements, start a challenger, follow its job, read its comparison.

``POST /api/v1/measurements`` calls :func:`upload_measurements`: the files and the review of
the Retrain page (:func:`model.store.intake.review_upload`, with its row caps), stored only
when the request says ``"commit": true``, so that instrument software can feed Huecast
without a browser.

``POST /api/v1/retrain`` and the old ``POST /api/retrain`` call :func:`start_retrain`;
``GET /api/v1/jobs/{id}`` calls :func:`job_report`. They start the same job as the Retrain
page's "Train a challenger" (:func:`model.jobs.retrain.start_challenger` on
:func:`model.store.intake.store_snapshot`, in the one job queue), and they never promote:
an admin decides on the Retrain page or with ``POST /api/v1/model/promote``, after the
comparison on the same folds. The caller has checked that the key is an admin's; the
job checks it again (:func:`model.auth.access.require_admin`).
"""

from __future__ import annotations

from typing import Any

from model.serving.api import ApiError

__all__ = ["DECISION", "MAX_FILES", "start_retrain", "job_report", "upload_measurements"]

#: The most files one upload may carry: an export, its recipe table and a fluorescence table, or tidy CSVs.
MAX_FILES = 8
_UPLOAD_FIELDS = ("files", "accept_suggestions", "replace_demo", "commit")

#: What happens to a finished challenger, said in every report.
DECISION = ("A challenger is never promoted by itself: an admin reads its verdict against the champion and promotes or discards it "
            "on the Retrain page, or with POST /api/v1/model/promote {\"version\": <challenger_version>}: that answers with the verdict "
            "and asks for \"confirm\": true, and a challenger that predicts worse also needs an \"override_reason\".")


def start_retrain(user) -> tuple[str, tuple[str, ...]]:
    """Start training a challenger from the stored measurements; ``(job id, the data's colorants)``.

    Raises
    ------
    ApiError
        409 with the running job named when the job queue is busy (a training, a search
        or a promotion); 422 when the store holds no measurement to train on; 503 when
        the models folder cannot be written (the message says what to change); 403 when
        ``user`` is not an admin.
    """
    from model.auth.access import PermissionDenied
    from model.core.files import StorageError
    from model.jobs import retrain
    from model.store import intake
    from model.store.measurements import open_store
    from model.store.records import StoreError

    try:
        store = open_store()
        snapshot = intake.store_snapshot(store)
        job_id = retrain.start_challenger(snapshot.dataset, user=user, store=store, store_version=snapshot.store_version)
    except PermissionDenied as error:
        raise ApiError(403, str(error)) from None
    except retrain.RetrainBusy as error:
        follow = f" Over the API, follow it with GET /api/v1/jobs/{error.job_id}." if error.job_id else ""
        raise ApiError(409, f"{error}{follow}") from None
    except StoreError as error:
        raise ApiError(422, f"Nothing to train on: {error}") from None
    except StorageError as error:
        raise ApiError(503, str(error)) from None
    return job_id, tuple(snapshot.dataset.colorants)


def job_report(job_id: str) -> dict[str, Any]:
    """``GET /api/v1/jobs/{id}``: where a job is and, for a finished challenger, its comparison with the champion.

    Returns
    -------
    dict
        ``job_id``, ``kind`` (``training`` or ``search``), ``state`` (``running``,
        ``done``, ``failed``, ``cancelled``), ``fraction`` (0–1), ``message``, ``started_by``,
        ``started_at``, ``updated_at``; for a training job also ``challenger_version``,
        ``champion_version``, ``decision`` and, once done, ``comparison``: ``champion_version``,
        ``challenger_version``, ``protocol``, ``challenger_wins``, ``summary`` (one object per
        metric: ``metric``, ``champion``, ``challenger``, ``better``) and ``warnings``; null
        when there was no champion to compare with, or it has other colorants. A finished
        challenger's ``verdict`` (:meth:`model.registry.promotion.Verdict.to_dict`) is what
        ``POST /api/v1/model/promote`` will answer with.

    Raises
    ------
    ApiError
        404 when there is no such job.
    """
    from model.jobs import retrain

    try:
        status = retrain.job_status(job_id)
    except (FileNotFoundError, ValueError, TypeError):  # no such folder, or no status this code wrote
        raise ApiError(404, f"There is no job {job_id[:80]!r}; POST /api/v1/retrain answers with the id of the job it starts.") from None
    report: dict[str, Any] = {
        "job_id": status.job_id, "kind": status.kind, "state": status.state, "fraction": float(status.fraction), "message": status.message,
        "started_by": status.started_by, "started_at": status.started_at, "updated_at": status.updated_at,
    }
    if status.kind != retrain.TRAINING_JOB:
        return report
    report |= {"challenger_version": status.challenger_version, "champion_version": status.champion_version, "decision": DECISION}
    if status.state == "done":
        report["verdict"] = _verdict(status.challenger_version)
        try:
            comparison = retrain.load_comparison(job_id)
        except FileNotFoundError:  # there was no champion to compare with
            report["comparison"] = None
        else:
            summary = comparison.summary.reset_index()
            report["comparison"] = {
                "champion_version": comparison.champion_version, "challenger_version": comparison.challenger_version,
                "protocol": comparison.protocol, "challenger_wins": bool(comparison.challenger_wins),
                "summary": [{key: _plain(value) for key, value in row.items()} for row in summary.to_dict(orient="records")],
                "warnings": list(comparison.warnings),
            }
    return report


def _verdict(version: str | None) -> dict | None:
    """The door's verdict on a finished challenger; None when it was discarded or cannot be read."""
    from model.registry import promotion, registry

    try:
        return promotion.verdict(version).to_dict() if version else None
    except (registry.IntegrityError, ValueError):
        return None


def _plain(value):
    """A JSON value of a summary cell (numpy numbers unwrapped, NaN to None)."""
    from model.serving.api import _clean

    return _clean(value.item() if hasattr(value, "item") else value)


def _upload_files(payload: Any) -> list[tuple[str, bytes]]:
    """The ``files`` of an upload request as (name, bytes), checked: 1 to :data:`MAX_FILES` objects of name and text content."""
    from model.serving import api

    if not isinstance(payload, dict):
        raise ApiError(422, "The body is not an object; expected {\"files\": [{\"name\": \"Spectra.csv\", \"content\": \"<the file's text>\"}, …], \"commit\": false}.")
    api._refuse_unknown(payload, _UPLOAD_FIELDS, "", "a field of a measurements upload")
    files = payload.get("files")
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES:
        raise ApiError(422, f"files: expected 1 to {MAX_FILES} files, each {{\"name\": …, \"content\": <text>}}, got {api._shown(files)}.", "files")
    read = []
    for index, file in enumerate(files):
        where = f"files[{index}]"
        if not isinstance(file, dict):
            raise ApiError(422, f"{where}: expected {{\"name\": …, \"content\": <text>}}, got {api._shown(file)}.", where)
        api._refuse_unknown(file, ("name", "content"), where, "a field of a file")
        name, content = file.get("name"), file.get("content")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ApiError(422, f"{where}.name: expected the file's name (at most 200 characters), got {api._shown(name)}.", f"{where}.name")
        if not isinstance(content, str):
            raise ApiError(422, f"{where}.content: expected the file's text, got {api._shown(content)}.", f"{where}.content")
        read.append((name.strip(), content.encode("utf-8")))
    return read


def upload_measurements(payload: Any, user) -> dict[str, Any]:
    """``POST /api/v1/measurements``: review measurement files as the Retrain page does, and store them on ``commit``.

    Parameters
    ----------
    payload : ``{"files": [{"name": str, "content": str}, …], "accept_suggestions": [measured names],
        "replace_demo": bool, "commit": bool}``
        The files of the Retrain page (an instrument export with its recipe table and,
        optionally, a fluorescence table; or tidy CSVs) as text. ``accept_suggestions``
        names the near-miss names to accept (default none); ``commit`` (default false)
        stores the reviewed measurements; ``replace_demo`` also leaves the shipped demo
        data out of training, as the Retrain page offers.
    user : the admin key's user.

    Returns
    -------
    dict
        The review: ``n_new``, ``n_already_stored``, ``n_recipes``, ``n_duplicates``,
        ``suggestions`` (near misses: ``measured_name``, ``recipe_id``, ``reason``),
        ``left_out`` and ``suspect`` (one sentence each), ``clashes``, ``fluorescence``
        (its headline, or null), ``notes`` (what reading assumed, one sentence each: a
        colorant column empty in every row, read as 0 wt %); ``committed`` and, when committed, ``n_added``,
        ``message`` and ``store_version``.

    Raises
    ------
    ApiError
        422 naming the field for a malformed request, or with the reader's message for
        files that cannot be used (the same rows and caps as the Retrain page:
        :data:`model.io.upload.MAX_UPLOAD_ROWS` rows per file); 409 on ``commit`` when
        recipe ids clash with stored ones (with the demo data only: send ``replace_demo``).
    """
    from model.auth.access import PermissionDenied
    from model.io.problems import IngestError
    from model.serving import api
    from model.store import intake
    from model.store.measurements import open_store
    from model.store.records import StoreError

    files = _upload_files(payload)
    accepted = payload.get("accept_suggestions", [])
    if not isinstance(accepted, list) or not all(isinstance(name, str) for name in accepted):
        raise ApiError(422, f"accept_suggestions: expected a list of measured names, got {api._shown(accepted)}.", "accept_suggestions")
    flags = {name: payload.get(name, False) for name in ("replace_demo", "commit")}
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise ApiError(422, f"{name}: expected true or false, got {api._shown(value)}.", name)
    store = open_store()
    try:
        review = intake.review_upload(files, store, choose=lambda suggestions: [e.measured_name for e in suggestions if e.measured_name in accepted])
    except IngestError as error:
        raise ApiError(422, f"These files cannot be used yet: {error}") from None
    offered = {entry.measured_name for entry in review.suggestions}
    unknown = [name for name in accepted if name not in offered]
    if unknown:  # a name the review does not suggest would be dropped without a word
        offers = ", ".join(sorted(offered)) or "none (send an empty list)"
        raise ApiError(
            422, f"accept_suggestions: {', '.join(repr(name) for name in unknown[:5])} is not a near-miss name of these files; "
            f"the suggestions are: {offers}. Send the review first (\"commit\": false) to see them.", "accept_suggestions",
        )
    answer: dict[str, Any] = {
        "n_new": review.n_new, "n_already_stored": review.n_already_stored, "n_recipes": review.n_recipes, "n_duplicates": review.n_duplicates,
        "suggestions": [{"measured_name": e.measured_name, "recipe_id": e.recipe_id, "reason": e.reason} for e in review.suggestions],
        "left_out": [entry.describe() for entry in review.left_out], "suspect": [entry.describe() for entry in review.suspect],
        "clashes": [clash.describe() for clash in review.clashes],
        "fluorescence": review.fluorescence.headline if review.fluorescence is not None else None,
        "notes": list(review.prepared.notes),
        "committed": False,
    }
    if not flags["commit"]:
        return answer
    if review.clashes and not (review.clashes_only_with_demo and flags["replace_demo"]):
        hint = (" They clash only with the synthetic demo data: send \"replace_demo\": true to leave it out of training and store these."
                if review.clashes_only_with_demo else " Rename those recipes in the recipe table, or exclude the earlier upload on the Retrain page.")
        raise ApiError(409, f"{review.clash_summary[:1].upper()}{review.clash_summary[1:]} are already stored with other concentrations.{hint}")
    try:
        result = store.add(review.prepared, user=user, replace_demo=flags["replace_demo"])
    except PermissionDenied as error:
        raise ApiError(403, str(error)) from None
    except StoreError as error:
        raise ApiError(409, str(error)) from None
    return answer | {"committed": True, "n_added": result.n_added, "message": result.message, "store_version": store.version()}
