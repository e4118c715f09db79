"""Load on the JSON API: 1, 8 and 32 concurrent clients on loopback while an admin retrains and promotes.

Starts ``streamlit run dashboard/app.py`` (tmp copies of the models; an admin API key in
a tmp secrets file) and measures, per level of concurrency:

- **single-recipe** ``POST /api/v1/predict``: p50, p99 and max latency, requests per second;
- **1,000-recipe batches**: recipes per second (and latency per batch).

Meanwhile an admin process (niceness 10, as the Retrain page's worker) trains a small
model on the demo data, saves it, and promotes it **through the API with its admin key**,
again and again. Every response is then checked against the model it names: the bench
loads that version itself and predicts the same recipes, and every number (L*, a*, b*,
C*, h°, R400 … R700) must be equal to the last bit. A response computed partly by one
model and partly by another, or by a half-written one, would fail this check.

Errors: any status other than 200, a connection error, a response that does not match
its model, an admin failure, or a traceback in the server log. The goal is 0.

``--hostile`` measures instead the single-recipe predictions of 8 clients while other
clients attack the server (no admin loop): a **formulate flood** (back to back, ignoring
``Retry-After``; plain requests, requests at every cap, and clients that leave before the
answer), **large bodies** (a 10,000-recipe batch padded to just under ``MAX_BODY_BYTES``,
a formulate body of that size, and one byte over the cap) and **malformed bodies** (JSON
nested 100,000 deep, broken JSON, 10^400, duplicate keys, unknown fields). It reports the
predictions' p50/p99, every status per kind of attack, and the server's peak memory
(VmRSS sampled every 50 ms from /proc, and the kernel's VmHWM). A 429 or a 503 "stopped"
for a formulation is expected, as is the 4xx each bad body is built to get; an error is a
prediction that is not 200 or not the model's numbers, any 500, a connection error
(except while sending a body over the cap), or a traceback in the server log. Goals:
p99 ≤ 100 ms, 0 errors, peak RSS ≤ 1 GB.

Usage::

    python3 bench/api_load.py                                  # 1, 8, 32 clients; 20 s per level
    python3 bench/api_load.py --server-cpus 1 --client-cpus 0  # pinned (taskset), as the README's figures
    python3 bench/api_load.py --hostile --seconds 30           # the hostile mix
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import orjson

from dashboard.server import start_dashboard, stop_dashboard, wait_until_healthy

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT = REPO_ROOT / "bench" / "out"
CHECKED = ["L", "a", "b", "C", "h", *[f"R{w}" for w in range(400, 701, 10)]]
BATCH = 1000


def _recipes(model, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    trained = model.training_range_
    recipes = []
    for _ in range(n):
        recipe = {c: round(float(rng.uniform(0, trained.maximum[c])), 3) for c in model.colorants_}
        recipe["thickness_um"] = float(rng.choice([trained.minimum["thickness_um"], trained.maximum["thickness_um"]]))
        recipes.append(recipe)
    return recipes


def admin_loop(url: str, key: str, models_dir: str, every_s: float, stop, promotions, errors) -> None:
    """In its own process: retrain on the demo data, save, promote through the API; repeat."""
    os.nice(10)
    from model import FormulationModel, load_dataset
    from model.registry.registry import ModelRegistry

    dataset, _ = load_dataset(REPO_ROOT / "data" / "demo")
    info = {"fingerprint": dataset.fingerprint(), "n_samples": len(dataset), "n_recipes": dataset.n_recipes, "name": "demo (API load bench)"}
    where = urlparse(url)
    seed = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            model = FormulationModel(hidden_layer_sizes=(16,), max_iter=200, n_ensemble=1, alpha=0.1, random_state=seed).fit(dataset)
            card = ModelRegistry(models_dir).save_model(model, metrics={"delta_e00_mean_headline": 1.0}, dataset_info=info)
            connection = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
            connection.request("POST", "/api/v1/model/promote", json.dumps({"version": card.version, "confirm": True, "override_reason": "API load bench: a retrain of the demo every few seconds"}),
                               {"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
            answer = connection.getresponse()
            body = answer.read()
            connection.close()
            if answer.status != 200:
                errors.append(f"promote {card.version}: {answer.status} {body[:200]!r}")
            else:
                promotions.append(card.version)
        except Exception as error:  # noqa: BLE001 - the bench reports every failure
            errors.append(f"admin: {type(error).__name__}: {error}")
        seed += 1
        stop.wait(max(0.0, every_s - (time.monotonic() - started)))


class Client(threading.Thread):
    """One API client on a keep-alive connection: sends ``payloads`` in turn until ``deadline``."""

    def __init__(self, url: str, payloads: list[tuple[int, bytes]], deadline: float, max_requests: int) -> None:
        super().__init__(daemon=True)
        self.where = urlparse(url)
        self.payloads = payloads
        self.deadline = deadline
        self.max_requests = max_requests
        self.latencies: list[float] = []
        self.responses: list[tuple[int, dict]] = []  # (payload index, parsed body)
        self.errors: list[str] = []

    def run(self) -> None:
        connection = http.client.HTTPConnection(self.where.hostname, self.where.port, timeout=120)
        sent = 0
        while time.monotonic() < self.deadline and sent < self.max_requests:
            index, body = self.payloads[sent % len(self.payloads)]
            sent += 1
            started = time.perf_counter()
            try:
                connection.request("POST", "/api/v1/predict", body, {"Content-Type": "application/json"})
                answer = connection.getresponse()
                content = answer.read()
            except Exception as error:  # noqa: BLE001
                self.errors.append(f"{type(error).__name__}: {error}")
                connection.close()
                connection = http.client.HTTPConnection(self.where.hostname, self.where.port, timeout=120)
                continue
            self.latencies.append(time.perf_counter() - started)
            if answer.status != 200:
                self.errors.append(f"status {answer.status}: {content[:200]!r}")
                continue
            self.responses.append((index, orjson.loads(content)))
        connection.close()


def run_level(url: str, payloads: list[tuple[int, bytes]], clients: int, seconds: float, max_requests: int) -> tuple[dict, list]:
    deadline = time.monotonic() + seconds
    threads = [Client(url, payloads[i::clients] or payloads, deadline, max_requests) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies = [x for t in threads for x in t.latencies]
    responses = [r for t in threads for r in t.responses]
    errors = [e for t in threads for e in t.errors]
    figures = {
        "clients": clients,
        "requests": len(latencies),
        "seconds": round(wall, 2),
        "requests_per_s": round(len(responses) / wall, 1),
        "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 1) if latencies else None,
        "p99_ms": round(1000 * float(np.percentile(latencies, 99)), 1) if latencies else None,
        "max_ms": round(1000 * max(latencies), 1) if latencies else None,
        "errors": errors,
    }
    return figures, responses


class Verifier:
    """Predicts the bench's recipes with each model version the responses name, once, and compares."""

    def __init__(self, models_dir: Path, recipes: dict[int, list[dict]]) -> None:
        self.models_dir = models_dir
        self.recipes = recipes
        self.expected: dict[tuple[str, int], np.ndarray] = {}
        self.models: dict[str, object] = {}

    def _expected(self, version: str, index: int) -> np.ndarray:
        import pandas as pd

        from model.registry.registry import ModelRegistry

        if (version, index) not in self.expected:
            if version not in self.models:
                self.models[version] = ModelRegistry(self.models_dir).load_model(version)[0]
            model = self.models[version]
            frame = pd.DataFrame(self.recipes[index])[list(model.input_columns)]
            self.expected[(version, index)] = model.predict(frame).to_frame()[CHECKED].to_numpy(dtype=float)
        return self.expected[(version, index)]

    def check(self, responses: list[tuple[int, dict]]) -> tuple[list[str], set[str]]:
        errors, versions = [], set()
        for index, body in responses:
            version = body["model_version"]
            versions.add(version)
            got = np.array([[row[c] if row[c] is not None else np.nan for c in CHECKED] for row in body["predictions"]], dtype=float)
            expected = self._expected(version, index)
            if got.shape != expected.shape or not np.array_equal(got, expected, equal_nan=True):
                errors.append(f"payload {index}: the numbers are not those of model {version}")
        return errors, versions


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=20.0, help="per level, single-recipe (default 20)")
    parser.add_argument("--batch-clients", type=int, nargs="+", default=[1, 8], help="concurrency of the 1,000-recipe batches")
    parser.add_argument("--batch-seconds", type=float, default=20.0)
    parser.add_argument("--promote-every", type=float, default=5.0, help="seconds between the admin's promotions (a retrain each time)")
    parser.add_argument("--hostile", action="store_true", help="the hostile mix instead of the levels (see above)")
    parser.add_argument("--predict-clients", type=int, default=8, help="--hostile: clients predicting single recipes (default 8)")
    parser.add_argument("--formulate-clients", type=int, default=4, help="--hostile: clients flooding formulate (default 4)")
    parser.add_argument("--honour-retry-after", action="store_true",
                        help="--hostile: formulate clients wait as a 429's Retry-After asks (default: they flood, sending again at once)")
    parser.add_argument("--attacks", nargs="*", choices=["formulate", "large", "malformed"], default=["formulate", "large", "malformed"],
                        help="--hostile: which attacks run (default all; one client each, formulate --formulate-clients; none: a baseline)")
    parser.add_argument("--server-cpus", help="pin the server with taskset, e.g. 1")
    parser.add_argument("--client-cpus", help="pin this process (the clients), e.g. 0")
    return parser.parse_args(argv)


def _isolated_install(root: Path) -> tuple[Path, str, Path]:
    """A copy of the shipped models and a secrets file with one admin API key: (models dir, the key, secrets file)."""
    from model.auth.api_keys import hash_key, new_key

    models_dir = root / "models"
    shutil.copytree(REPO_ROOT / "trained_models", models_dir)
    admin_key = new_key()
    secrets = root / "secrets.toml"
    secrets.write_text(f'[[api.keys]]\nname = "bench admin"\nrole = "admin"\nhash = "{hash_key(admin_key)}"\n')
    return models_dir, admin_key, secrets


def _run_levels(url, payloads, levels, seconds, promotions, recipes_per_request=None) -> list:
    """Each level of concurrency in turn: [(figures, responses)], printing each level's figures as it ends."""
    results = []
    for clients in levels:
        before = len(promotions)
        figures, responses = run_level(url, payloads, clients, seconds, 100_000)
        if recipes_per_request:
            figures["recipes_per_s"] = round(recipes_per_request * len(responses) / figures["seconds"])
        figures["promotions_during"] = len(promotions) - before
        results.append((figures, responses))
        print(json.dumps({k: v for k, v in figures.items() if k != "errors"} | {"errors": len(figures["errors"])}), flush=True)
    return results


def _print_summary(summary: dict, admin_errors) -> None:
    print("\nsingle-recipe predict")
    print(f"{'clients':>8} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7} {'models':>7} {'promotions':>11}")
    for f in summary["single"]:
        print(f"{f['clients']:>8} {f['requests']:>9} {f['requests_per_s']:>8} {f['p50_ms']:>8} {f['p99_ms']:>8} {f['max_ms']:>8} {len(f['errors']):>7} {f['model_versions_seen']:>7} {f['promotions_during']:>11}")
    print("\n1,000-recipe batches")
    print(f"{'clients':>8} {'batches':>9} {'recipes/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'models':>7} {'promotions':>11}")
    for f in summary["batch"]:
        print(f"{f['clients']:>8} {f['requests']:>9} {f['recipes_per_s']:>10} {f['p50_ms']:>8} {f['p99_ms']:>8} {len(f['errors']):>7} {f['model_versions_seen']:>7} {f['promotions_during']:>11}")
    print(f"\nadmin promotions through the API: {summary['admin_promotions']}; admin errors: {len(admin_errors)}; "
          f"server tracebacks: {summary['server_tracebacks']}; load average at end: {summary['load_average_at_end'][0]:.2f}")
    for figures in summary["single"] + summary["batch"]:
        for error in figures["errors"][:3]:
            print("  error:", error)
    for error in list(admin_errors)[:3]:
        print("  admin error:", error)


def main(argv=None) -> int:
    args = _arguments(argv)
    from model.registry.registry import ModelRegistry

    if args.client_cpus:
        os.sched_setaffinity(0, {int(c) for c in args.client_cpus.split(",")})
    if args.hostile:
        return hostile_main(args)
    shipped, _ = ModelRegistry(REPO_ROOT / "trained_models").load_champion()
    singles = {i: [recipe] for i, recipe in enumerate(_recipes(shipped, 64, seed=1))}
    batches = {1000 + i: _recipes(shipped, BATCH, seed=100 + i) for i in range(4)}
    root = Path(tempfile.mkdtemp(prefix="huecast-api-load-"))
    models_dir, admin_key, secrets = _isolated_install(root)
    log_path = root / "server.log"
    prefix = ("taskset", "-c", args.server_cpus) if args.server_cpus else ()
    server, url = start_dashboard(open(log_path, "w"), {"HUECAST_MODELS_DIR": str(models_dir), "HUECAST_DATA_DIR": str(root / "data")},
                                  secrets_file=secrets, command_prefix=prefix)
    manager = multiprocessing.get_context("spawn").Manager()
    stop, promotions, admin_errors = manager.Event(), manager.list(), manager.list()
    admin = multiprocessing.get_context("spawn").Process(target=admin_loop, args=(url, admin_key, str(models_dir), args.promote_every, stop, promotions, admin_errors))
    verifier = Verifier(models_dir, {**singles, **batches})
    try:
        wait_until_healthy(url)
        single_payloads = [(i, orjson.dumps({"recipes": r})) for i, r in singles.items()]
        batch_payloads = [(i, orjson.dumps({"recipes": r})) for i, r in batches.items()]
        run_level(url, single_payloads, 1, 2.0, 50)  # warm the connection path; not reported
        admin.start()
        time.sleep(1.0)
        results = {"single": _run_levels(url, single_payloads, args.clients, args.seconds, promotions),
                   "batch": _run_levels(url, batch_payloads, args.batch_clients, args.batch_seconds, promotions, BATCH)}
    finally:
        stop.set()
        if admin.is_alive() or admin.pid:
            admin.join(timeout=120)
        stop_dashboard(server, timeout_s=15)
    # Check every response against the model it names (after the run, so the check costs no client time).
    summary = {"single": [], "batch": [], "admin_promotions": len(promotions), "admin_errors": list(admin_errors),
               "cpu_count": os.cpu_count(), "load_average_at_end": os.getloadavg(),
               "server_cpus": args.server_cpus, "client_cpus": args.client_cpus}
    total_errors = len(admin_errors)
    for kind in ("single", "batch"):
        for figures, responses in results[kind]:
            mismatches, versions = verifier.check(responses)
            figures["responses_checked"] = len(responses)
            figures["model_versions_seen"] = len(versions)
            figures["responses_not_from_one_model"] = len(mismatches)
            figures["errors"] = figures["errors"] + mismatches
            total_errors += len(figures["errors"])
            summary[kind].append(figures)
    summary["server_tracebacks"] = log_path.read_text(encoding="utf-8", errors="replace").count("Traceback (most recent call last)")
    total_errors += summary["server_tracebacks"]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "api_load.json").write_text(json.dumps(summary, indent=2))
    _print_summary(summary, admin_errors)
    shutil.rmtree(root, ignore_errors=True)
    return 0 if total_errors == 0 else 1


# --------------------------------------------------------------------------------------
# --hostile: predictions while formulate floods, large and malformed bodies hit the server
# --------------------------------------------------------------------------------------


class Attack:
    """One kind of hostile request: where it goes, its body, the statuses it is built to get."""

    def __init__(self, kind: str, path: str, body: bytes, expected: set[int], *, leave_after_s: float | None = None, over_cap: bool = False) -> None:
        self.kind, self.path, self.body, self.expected = kind, path, body, expected
        self.leave_after_s = leave_after_s  # the client closes its connection this long after sending, unanswered
        self.over_cap = over_cap  # the server may answer 413 and close before the whole body is sent


def _attacks(model) -> dict[str, list[Attack]]:
    """The hostile requests, by the client group that sends them."""
    from model.serving import api

    trained = model.training_range_
    thicknesses = np.linspace(trained.minimum["thickness_um"], trained.maximum["thickness_um"], api.MAX_THICKNESSES).round(3).tolist()
    at_every_cap = orjson.dumps({"target": {"Lab": [62.0, -30.0, 45.0]}, "n_candidates": api.MAX_CANDIDATES,
                                 "constraints": {"colorants": list(model.colorants_), "thicknesses_um": thicknesses}})
    formulate = [
        Attack("formulate", "/api/v1/formulate", orjson.dumps({"target": {"hex": "#9fc24a"}}), {200, 429, 503}),
        Attack("formulate at every cap", "/api/v1/formulate", at_every_cap, {200, 429, 503}),
        Attack("formulate, client leaves", "/api/v1/formulate", at_every_cap, {200, 429, 503}, leave_after_s=0.3),
    ]
    batch = _recipes(model, api.MAX_RECIPES, seed=7)
    padded = orjson.dumps({"recipes": batch})
    padded = padded[:-1] + b" " * (api.MAX_BODY_BYTES - len(padded) - 1024) + b"}"  # JSON whitespace up to just under the cap
    spectrum = orjson.dumps({"target": {"spectrum": [0.5] * ((api.MAX_BODY_BYTES - 1024) // 4)}})
    large = [
        Attack("10,000 recipes near the body cap", "/api/v1/predict", padded, {200}),
        Attack("formulate body near the cap", "/api/v1/formulate", spectrum, {422, 429}),
        Attack("body over the cap", "/api/v1/predict", b"[" + b" " * api.MAX_BODY_BYTES + b"]", {413}, over_cap=True),
    ]
    recipe = _recipes(model, 1, seed=9)[0]
    first = model.colorants_[0]
    malformed = [
        Attack("nested 100,000 deep", "/api/v1/predict", b"[" * 100_000 + b"]" * 100_000, {400}),
        Attack("broken JSON", "/api/v1/predict", b'{"recipes": [{"' + first.encode() + b'": 1,', {400}),
        Attack("10^400", "/api/v1/predict", b'{"recipes": [{"' + first.encode() + b'": 1' + b"0" * 400 + b"}]}", {422}),
        Attack("duplicate keys", "/api/v1/predict", orjson.dumps({"recipes": [recipe]})[:-3] + b',"' + first.encode() + b'":95}]}', {422}),
        Attack("unknown colorant", "/api/v1/predict", orjson.dumps({"recipes": [{**recipe, "TitaniumWhite": 30}]}), {422}),
        Attack("formulate nested 100,000 deep", "/api/v1/formulate", b'{"target": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", {400}),
    ]
    return {"formulate": formulate, "large": large, "malformed": malformed}


class Attacker(threading.Thread):
    """Sends its attacks in turn, back to back, until ``deadline``; counts statuses per kind.

    With ``honour_retry_after`` it waits as long as a 429's ``Retry-After`` asks (a well-behaved
    client, as the old system's callers were); without, it sends again at once (a flood).
    """

    def __init__(self, url: str, attacks: list[Attack], deadline: float, offset: int = 0, honour_retry_after: bool = False) -> None:
        super().__init__(daemon=True)
        self.where = urlparse(url)
        self.attacks, self.deadline, self.offset = attacks, deadline, offset
        self.honour_retry_after = honour_retry_after
        self.statuses: dict[str, dict[str, int]] = {}
        self.errors: list[str] = []

    def _count(self, attack: Attack, outcome: str) -> None:
        counts = self.statuses.setdefault(attack.kind, {})
        counts[outcome] = counts.get(outcome, 0) + 1

    def _send(self, attack: Attack) -> None:
        connection = http.client.HTTPConnection(self.where.hostname, self.where.port, timeout=120)
        try:
            connection.request("POST", attack.path, attack.body, {"Content-Type": "application/json"})
            if attack.leave_after_s is not None:
                connection.sock.settimeout(attack.leave_after_s)
            answer = connection.getresponse()
            content = answer.read()
        except TimeoutError:
            self._count(attack, "left")  # the client gave up: the server must stop its work
            return
        except (ConnectionError, http.client.HTTPException) as error:
            self._count(attack, "connection closed")
            if not attack.over_cap:
                self.errors.append(f"{attack.kind}: {type(error).__name__}: {error}")
            return
        finally:
            connection.close()
        self._count(attack, str(answer.status))
        if answer.status == 429 and self.honour_retry_after:
            wait_s = float(answer.getheader("Retry-After") or 1)
            time.sleep(max(0.0, min(wait_s, self.deadline - time.monotonic())))
        if answer.status >= 500 and not (answer.status == 503 and b"stopped" in content):
            self.errors.append(f"{attack.kind}: {answer.status} {content[:200]!r}")

    def run(self) -> None:
        sent = self.offset
        while time.monotonic() < self.deadline:
            self._send(self.attacks[sent % len(self.attacks)])
            sent += 1


class MemorySampler(threading.Thread):
    """The server's resident memory (VmRSS, from /proc) every ``every_s``, until ``stop`` is set."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every_s = pid, every_s
        self.stop = threading.Event()
        self.peak_rss_kb = 0
        self.samples = 0

    def read(self, field: str) -> int:
        """``VmRSS`` or ``VmHWM`` (the kernel's peak) of the server, in kB (0 once it has ended)."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            self.peak_rss_kb = max(self.peak_rss_kb, self.read("VmRSS"))
            self.samples += 1


def attack(url: str, attacks: dict[str, list[Attack]], clients: dict[str, int], deadline: float, results, honour_retry_after: bool = False) -> None:
    """In its own process, so that its interpreter does not slow the predict clients' timing:
    ``clients[group]`` attackers per group until ``deadline`` (``time.monotonic``, one clock for
    every process); puts ``(statuses per kind, errors)`` on ``results``."""
    attackers = [
        Attacker(url, attacks[group], deadline, offset=i, honour_retry_after=honour_retry_after and group == "formulate")
        for group, count in clients.items() for i in range(count)
    ]
    for attacker in attackers:
        attacker.start()
    statuses: dict[str, dict[str, int]] = {}
    for attacker in attackers:
        attacker.join()
        for kind, counts in attacker.statuses.items():
            for outcome, count in counts.items():
                statuses.setdefault(kind, {})[outcome] = statuses.setdefault(kind, {}).get(outcome, 0) + count
    results.put((statuses, [e for attacker in attackers for e in attacker.errors]))


def run_hostile(url: str, pid: int, single_payloads, attacks: dict[str, list[Attack]], args) -> tuple[dict, list]:
    """``--predict-clients`` single-recipe clients while the attackers run: figures and the predictions' responses."""
    sampler = MemorySampler(pid)
    sampler.start()
    rss_before_kb = sampler.read("VmRSS")
    clients = {group: args.formulate_clients if group == "formulate" else 1 for group in args.attacks}
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    attacker = context.Process(target=attack, args=(url, attacks, clients, time.monotonic() + 3.0 + args.seconds, results, args.honour_retry_after))
    attacker.start()
    time.sleep(3.0)  # the attacker process starts (imports, sockets) before the clock does
    figures, responses = run_level(url, single_payloads, args.predict_clients, args.seconds, 10_000_000)
    statuses, attack_errors = results.get(timeout=300)
    attacker.join(timeout=60)
    sampler.stop.set()
    sampler.join()
    figures |= {
        "attacks": clients,
        "attack_statuses": statuses,
        "attack_errors": attack_errors,
        "server_rss_before_mb": round(rss_before_kb / 1024),
        "server_peak_rss_sampled_mb": round(sampler.peak_rss_kb / 1024),
        "server_vmhwm_mb": round(sampler.read("VmHWM") / 1024),
        "memory_samples": sampler.samples,
    }
    return figures, responses


def _warm_heavy(url: str) -> None:
    """One formulation before the clock starts, so that the full model is loaded (not measured)."""
    where = urlparse(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=300)
    connection.request("POST", "/api/v1/formulate", orjson.dumps({"target": {"hex": "#9fc24a"}}), {"Content-Type": "application/json"})
    connection.getresponse().read()
    connection.close()


def _print_hostile(figures: dict, expected: dict[str, set[int]]) -> None:
    print(f"\nsingle-recipe predict with {figures['clients']} clients under attack: {figures['requests']} requests, "
          f"{figures['requests_per_s']} req/s, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms, "
          f"errors {len(figures['errors'])}")
    print(f"\n{'attack':<36} {'expected':<16} outcomes")
    for kind, counts in figures["attack_statuses"].items():
        print(f"{kind:<36} {','.join(map(str, sorted(expected[kind]))):<16} {', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}")
    print(f"\nserver memory: {figures['server_rss_before_mb']} MB before, peak {figures['server_peak_rss_sampled_mb']} MB sampled "
          f"({figures['memory_samples']} samples), VmHWM {figures['server_vmhwm_mb']} MB (since start)")
    print(f"errors: {figures['total_errors']} (predict {len(figures['errors'])}, attacks {len(figures['attack_errors'])}, "
          f"server tracebacks {figures['server_tracebacks']}); load average at start {figures['load_average_at_start'][0]:.2f}, "
          f"at end {figures['load_average_at_end'][0]:.2f}")
    for error in (figures["errors"] + figures["attack_errors"])[:5]:
        print("  error:", error)


def hostile_main(args) -> int:
    """``--hostile``: start a server, warm it, run the mix once, check every prediction, report."""
    from model.registry.registry import ModelRegistry

    shipped, _ = ModelRegistry(REPO_ROOT / "trained_models").load_champion()
    singles = {i: [recipe] for i, recipe in enumerate(_recipes(shipped, 64, seed=1))}
    attacks = _attacks(shipped)
    root = Path(tempfile.mkdtemp(prefix="huecast-api-hostile-"))
    models_dir, _, secrets = _isolated_install(root)
    log_path = root / "server.log"
    prefix = ("taskset", "-c", args.server_cpus) if args.server_cpus else ()
    server, url = start_dashboard(open(log_path, "w"), {"HUECAST_MODELS_DIR": str(models_dir), "HUECAST_DATA_DIR": str(root / "data")},
                                  secrets_file=secrets, command_prefix=prefix)
    try:
        wait_until_healthy(url)
        single_payloads = [(i, orjson.dumps({"recipes": r})) for i, r in singles.items()]
        run_level(url, single_payloads, 1, 2.0, 50)  # warm the connection path; not reported
        _warm_heavy(url)
        load_at_start = os.getloadavg()
        figures, responses = run_hostile(url, server.pid, single_payloads, attacks, args)
    finally:
        stop_dashboard(server, timeout_s=15)
    mismatches, _ = Verifier(models_dir, singles).check(responses)
    figures["errors"] = figures["errors"] + mismatches
    log = log_path.read_text(encoding="utf-8", errors="replace")
    figures["server_tracebacks"] = log.count("Traceback (most recent call last)")
    if figures["server_tracebacks"]:  # the first one, to say what failed
        figures["first_traceback"] = log[log.index("Traceback (most recent call last)"):][:3000]
    figures["total_errors"] = len(figures["errors"]) + len(figures["attack_errors"]) + figures["server_tracebacks"]
    figures |= {"load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg(), "cpu_count": os.cpu_count(),
                "server_cpus": args.server_cpus, "client_cpus": args.client_cpus, "seconds": args.seconds}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "api_hostile.json").write_text(json.dumps(figures, indent=2))
    _print_hostile(figures, {attack.kind: attack.expected for group in attacks.values() for attack in group})
    shutil.rmtree(root, ignore_errors=True)
    goals_met = figures["total_errors"] == 0 and figures["p99_ms"] <= 100 and figures["server_peak_rss_sampled_mb"] <= 1024
    return 0 if goals_met else 1


if __name__ == "__main__":
    sys.exit(main())
