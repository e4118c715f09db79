"""Issue 15 in a real browser: state that survives, plain answers, every width.

One `streamlit run` server on tmp copies of the shipped models and store, a second one
whose champion is a small network (so a challenger trains in seconds, not minutes), and
one headless Chromium for the whole module; each test opens its own browser context, as
a person opens a window. The tests run in file order: the upload replaces the demo data
before the width walk, which comes last.
Screenshots of every page at 800 and 1400 px go to tests/artifacts/ (the README's copies
are in dashboard/screenshots/).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _browser import (
    ARTEFACTS,
    CHART_LABELS_OVERLAP_JS,
    REPO_ROOT,
    STEP_TIMEOUT_MS,
    TABLES_JS,
    cut_headers,
    fully_visible_columns,
    launch_chromium,
    open_app,
    playwright_or_skip,
    server_on_shipped_models,
    streamlit_server,
)

from model.serving import batch

pytestmark = pytest.mark.browser

WIDTHS = (800, 1400)
PAGES = ("predict", "batch", "formulate", "compare", "overview", "retrain", "plan")
# A quick challenger (see quick_server) takes about 20 s; allow for a loaded 2-core machine.
TRAINING_TIMEOUT_MS = 240_000

# Every element whose text must be whole: a metric's value and label, a widget's label, a
# button. Returns the ones whose content is wider than their box (cut off or ellipsed).
CUT_OFF_JS = """() => {
  const selector = '[data-testid="stMetricValue"], [data-testid="stMetricLabel"], [data-testid="stWidgetLabel"], '
                 + '[data-testid="stMain"] button, [data-testid="stHeading"]';
  const cut = [];
  for (const element of document.querySelectorAll(selector)) {
    if (element.getBoundingClientRect().width < 4) continue;  // visually hidden
    // (boxes under 4 px are screen-reader text, such as an uploader's spare icon label)
    for (const inner of [element, ...element.querySelectorAll('*')]) {
      const style = getComputedStyle(inner);
      if (inner.clientWidth > 3 && inner.scrollWidth > inner.clientWidth + 1 && !['auto', 'scroll'].includes(style.overflowX)) {
        cut.push(`${element.getAttribute('data-testid') || element.tagName}: "${(element.innerText || '').trim().slice(0, 40)}" `
                 + `(${inner.scrollWidth} px of content in ${inner.clientWidth} px)`);
        break;
      }
    }
  }
  return cut;
}"""
# Tables must stay inside the page (they scroll inside their own frame); so must the page.
WIDE_JS = """() => {
  const main = document.querySelector('[data-testid="stMainBlockContainer"]').getBoundingClientRect();
  const wide = [...document.querySelectorAll('[data-testid="stDataFrame"], [data-testid="stTable"], [data-testid="stPlotlyChart"]')]
    .filter(element => element.getBoundingClientRect().right > main.right + 1)
    .map(element => `${element.getAttribute('data-testid')} ends at ${Math.round(element.getBoundingClientRect().right)} px, page at ${Math.round(main.right)} px`);
  const scroller = document.querySelector('[data-testid="stMain"]');
  if (scroller && scroller.scrollWidth > scroller.clientWidth + 1) wide.push(`the page scrolls sideways (${scroller.scrollWidth} > ${scroller.clientWidth})`);
  return wide;
}"""


@pytest.fixture(scope="module")
def sync_api():
    return playwright_or_skip()


@pytest.fixture(scope="module")
def server(sync_api, tmp_path_factory):
    with server_on_shipped_models(tmp_path_factory.mktemp("browser-ux")) as served:
        yield served
    log = served["log"].read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
def quick_server(sync_api, tmp_path_factory):
    """A second install whose champion is a small network, so a challenger trains in about 20 s
    (the shipped champion takes minutes per fit): long enough to reload during it, short enough for CI."""
    from model import FormulationModel
    from model.auth.access import LOCAL_ADMIN
    from model.core import settings
    from model.io import load_dataset
    from model.registry.registry import ModelRegistry

    root = tmp_path_factory.mktemp("browser-ux-retrain")
    demo, _ = load_dataset(settings.demo_data_dir())
    model = FormulationModel(hidden_layer_sizes=(32,), max_iter=500, n_ensemble=2, alpha=0.1).fit(demo)
    info = {"name": demo.name, "fingerprint": demo.fingerprint(), "n_samples": len(demo), "n_recipes": demo.n_recipes, "colorants": list(demo.colorants)}
    card = ModelRegistry(root / "models").save_model(model, metrics={"delta_e00_mean_headline": 1.0}, dataset_info=info)
    ModelRegistry(root / "models").promote(card.version, user=LOCAL_ADMIN)
    env = {
        "HUECAST_MODELS_DIR": str(root / "models"),
        "HUECAST_DATA_DIR": str(root / "data"),
        "HUECAST_RETRAIN_CV": "5x3",  # 31 fits of about 0.5 s
        "HUECAST_RETRAIN_NICENESS": "0",
    }
    with streamlit_server(root / "streamlit.log", env) as (url, _):
        yield {"url": url, "root": root}
    log = (root / "streamlit.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
def browser(sync_api, server):
    with sync_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


def new_page(browser, width: int = 1400, height: int = 1000):
    return browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True).new_page()


def settle(page) -> None:
    """Wait until the script run ends (the status widget stops showing 'Running')."""
    page.wait_for_timeout(400)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=STEP_TIMEOUT_MS)


def metric(page, label: str):
    label_match = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    return page.get_by_test_id("stMetric").filter(has=label_match).get_by_test_id("stMetricValue").first


def type_into(page, label: str, text: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Enter")
    settle(page)


def go_by_sidebar(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    settle(page)


def colorants():
    from model.registry.registry import ModelRegistry

    model, _ = ModelRegistry(REPO_ROOT / "trained_models").load_champion()
    return list(model.colorants_)


def assert_no_traceback(page, where: str) -> None:
    assert page.get_by_test_id("stException").count() == 0, f"{where}: a traceback reached the page"


# ---- items 2 and 7: decimal comma, an entry out of range --------------------------------------


def test_typing_1_comma_5_gives_1_point_5_and_150_is_refused_visibly(browser, server, sync_api):
    first = colorants()[0]
    page = new_page(browser)
    open_app(sync_api, page, server["url"])
    L_star = metric(page, "L*")
    L_star.wait_for(timeout=STEP_TIMEOUT_MS)
    settle(page)
    before = L_star.inner_text()

    type_into(page, f"{first} (wt %)", "1,5")
    sync_api.expect(page.get_by_label(f"{first} (wt %)", exact=True)).to_have_value("1.5", timeout=STEP_TIMEOUT_MS)
    sync_api.expect(page.get_by_text("Read “1,5” as 1.5 wt %.")).to_be_visible()
    sync_api.expect(L_star).not_to_have_text(before, timeout=STEP_TIMEOUT_MS)
    assert f"{first}=1.5" in page.url  # the link now names 1.5, not 15
    at_1_5 = L_star.inner_text()

    type_into(page, f"{first} (wt %)", "150")
    refusal = page.get_by_test_id("stAlert").filter(has_text=f"{first}: 150 wt % is above the largest value this box accepts")
    sync_api.expect(refusal).to_be_visible(timeout=STEP_TIMEOUT_MS)
    sync_api.expect(refusal).to_contain_text("The prediction still uses 1.5 wt %.")
    sync_api.expect(page.get_by_text("Not the recipe you typed")).to_be_visible()
    assert L_star.inner_text() == at_1_5 and f"{first}=1.5" in page.url
    assert_no_traceback(page, "Predict")
    page.context.close()


# ---- item 3: the recipe in the URL; pins across pages ------------------------------------------


def test_a_recipe_survives_another_page_a_reload_and_a_new_browser(browser, server, sync_api):
    names = colorants()
    page = new_page(browser)
    open_app(sync_api, page, server["url"])
    metric(page, "L*").wait_for(timeout=STEP_TIMEOUT_MS)
    settle(page)
    type_into(page, f"{names[1]} (wt %)", "3,25")
    type_into(page, "Film thickness (µm)", "9")
    page.get_by_role("button", name="Pin this recipe").click()
    page.get_by_text("Pinned recipes (1 of 4)").wait_for(timeout=STEP_TIMEOUT_MS)
    settle(page)
    shown = metric(page, "L*").inner_text()
    link = page.url
    assert f"{names[1]}=3.25" in link and "thickness_um=9" in link and "pin=" in link

    go_by_sidebar(page, "Batch")
    page.get_by_text("Predict a batch of recipes").wait_for(timeout=STEP_TIMEOUT_MS)
    go_by_sidebar(page, "Predict")
    sync_api.expect(page.get_by_label(f"{names[1]} (wt %)", exact=True)).to_have_value("3.25", timeout=STEP_TIMEOUT_MS)
    sync_api.expect(page.get_by_text("Pinned recipes (1 of 4)")).to_be_visible()
    sync_api.expect(metric(page, "L*")).to_have_text(shown)
    assert f"{names[1]}=3.25" in page.url

    page.reload()
    metric(page, "L*").wait_for(timeout=STEP_TIMEOUT_MS)
    settle(page)
    sync_api.expect(page.get_by_label("Film thickness (µm)", exact=True)).to_have_value("9")
    sync_api.expect(page.get_by_text("Pinned recipes (1 of 4)")).to_be_visible()
    sync_api.expect(metric(page, "L*")).to_have_text(shown)
    page.context.close()

    colleague = new_page(browser)  # a colleague opens the shared link in their own browser
    open_app(sync_api, colleague, link)
    metric(colleague, "L*").wait_for(timeout=STEP_TIMEOUT_MS)
    settle(colleague)
    sync_api.expect(colleague.get_by_label(f"{names[1]} (wt %)", exact=True)).to_have_value("3.25")
    sync_api.expect(metric(colleague, "L*")).to_have_text(shown)
    sync_api.expect(colleague.get_by_text("Pinned recipes (1 of 4)")).to_be_visible()
    colleague.context.close()


# ---- item 1: reload while a challenger trains ---------------------------------------------------


# Retrain numbers only the steps it shows: without an upload this is step 4, after one step 6.
PROMOTE_STEP = re.compile(r"^\d\. Promote or discard$")


def test_after_a_reload_the_training_challenger_still_arrives_for_promote_or_discard(browser, quick_server, sync_api):
    url = quick_server["url"]
    page = new_page(browser)
    open_app(sync_api, page, f"{url}/retrain")
    page.get_by_role("button", name="Train a challenger").click()
    page.get_by_test_id("stProgress").first.wait_for(timeout=STEP_TIMEOUT_MS)
    page.reload()  # the session that started the job is gone
    open_app(sync_api, page, f"{url}/retrain")
    # The running job's progress, read from its status file, not from the session.
    sync_api.expect(page.get_by_test_id("stProgress").first).to_contain_text("started by", timeout=STEP_TIMEOUT_MS)
    sync_api.expect(page.get_by_role("button", name="Train a challenger")).to_be_disabled()
    page.get_by_role("heading", name=PROMOTE_STEP).wait_for(timeout=TRAINING_TIMEOUT_MS)
    settle(page)
    promote = page.get_by_role("button", name=re.compile(r"^Promote "))
    sync_api.expect(promote).to_be_visible()
    challenger = promote.inner_text().removeprefix("Promote ").strip()
    sync_api.expect(page.get_by_text("it waits for an admin to promote or discard it")).to_be_visible()
    sync_api.expect(page.get_by_role("heading", name=re.compile(r"^\d\. Champion and challenger on the same folds$"))).to_be_visible()

    other = new_page(browser)  # another admin, another machine
    open_app(sync_api, other, f"{url}/retrain")
    other.get_by_role("heading", name=PROMOTE_STEP).wait_for(timeout=STEP_TIMEOUT_MS)
    other.get_by_role("button", name=f"Discard {challenger}").click()
    other.get_by_text(f"{challenger} was discarded; the champion is unchanged.").wait_for(timeout=STEP_TIMEOUT_MS)
    other.context.close()

    page.reload()
    open_app(sync_api, page, f"{url}/retrain")
    page.get_by_role("heading", name="Model history").wait_for(timeout=STEP_TIMEOUT_MS)
    settle(page)
    assert page.get_by_role("heading", name=PROMOTE_STEP).count() == 0
    assert_no_traceback(page, "Retrain")
    page.context.close()


# ---- item 4: the first real upload over the demo -----------------------------------------------


def test_the_first_real_upload_over_the_demo_offers_to_replace_it(browser, server, sync_api):
    from test_store import renamed_demo_files

    page = new_page(browser)
    open_app(sync_api, page, f"{server['url']}/retrain")
    files = [{"name": name, "mimeType": "text/csv", "buffer": content} for name, content in renamed_demo_files()]
    page.locator("input[type=file]").first.set_input_files(files)
    page.get_by_role("heading", name="3. Commit to the store").wait_for(timeout=STEP_TIMEOUT_MS)
    settle(page)
    offer = page.get_by_test_id("stAlert").filter(has_text="also appear in the synthetic demo data")
    sync_api.expect(offer).to_be_visible()
    sync_api.expect(offer).to_contain_text("Replace it with your measurements")
    assert page.get_by_text("already in the store with different concentrations").count() == 0
    page.get_by_role("button", name="Replace the demo data with these measurements").click()
    page.get_by_text("The synthetic demo data is now left out of training.").wait_for(timeout=STEP_TIMEOUT_MS)
    sync_api.expect(page.get_by_text("Stored 105 measurements of 51 recipes as upload 2")).to_be_visible()
    sync_api.expect(page.get_by_text(re.compile(r"“Spectra\.csv \+ lab-recipes\.csv \(uploaded \d+ \w+ \d{4}\)”"))).to_be_visible()
    assert_no_traceback(page, "Retrain upload")
    page.context.close()


# ---- items 5 and 6: Compare's verdict, a candidate's risk ----------------------------------------


def test_compare_opens_with_a_one_sentence_verdict_before_any_table(browser, server, sync_api):
    page = new_page(browser)
    open_app(sync_api, page, f"{server['url']}/compare")
    # The verdict says whether the search found anything better than the served model, and by how much.
    verdict = page.get_by_test_id("stAlert").filter(has_text="recipes it never saw")
    verdict.wait_for(timeout=STEP_TIMEOUT_MS)
    settle(page)
    text = verdict.inner_text()
    best = r"the best configuration found, trial-\d+ \(.+\)"
    served_wins = rf"The served model's configuration predicts recipes it never saw (\d+ % closer than|as well as) {best}: \d+\.\d\d against \d+\.\d\d ΔE00 on average over \d+ test recipes\. Keep it\."
    search_wins = rf"{best[:1].upper()}{best[1:]}, predicts recipes it never saw \d+ % closer than the served model's configuration: .+ Train it as a challenger"
    assert re.search(served_wins, text) or re.search(search_wins, text), text
    first_table = page.get_by_test_id("stDataFrame").first
    assert verdict.bounding_box()["y"] < first_table.bounding_box()["y"]
    details = page.get_by_test_id("stExpander").filter(has_text="Engineering details")
    sync_api.expect(details).to_be_visible()
    page.context.close()


def test_a_formulate_candidate_shows_its_risk(browser, server, sync_api):
    page = new_page(browser)
    open_app(sync_api, page, f"{server['url']}/formulate")
    page.get_by_role("button", name="Find recipes").click()
    heading_pattern = r"^Recipe \d: ΔE00 \d+\.\d to target, band ±\d+\.\d \((risky|some risk|low risk)\)$"
    page.get_by_text(re.compile(heading_pattern.replace("\\d:", "1:"))).wait_for(timeout=STEP_TIMEOUT_MS)
    settle(page)
    headings = [text.strip() for text in page.get_by_text(re.compile(r"^Recipe \d: ΔE00 ")).all_inner_texts()]
    risky = [heading.endswith("(risky)") for heading in headings]
    assert headings and all(re.match(heading_pattern, text) for text in headings), headings
    assert risky == sorted(risky), f"a risky recipe is listed before a low-risk one: {headings}"
    # Each recipe says its risk in words: why it is risky, or that it is not (band, paths, range).
    warnings = page.get_by_test_id("stAlert").filter(has_text="Risk: ")
    assert warnings.count() == sum(risky)
    for index in range(warnings.count()):
        sync_api.expect(warnings.nth(index)).to_contain_text("Do not rely on this prediction without a drawdown.")
    # The others say their risk, the band in words and the expected ΔE00 to the target.
    plain = page.get_by_text(re.compile(r"^Risk: (low|some)\. 9 in 10 recipes like this come within ΔE00 \d+\.\d .*Expected ΔE00 to the target: \d+\.\d\."))
    assert plain.count() == len(headings) - sum(risky)
    page.context.close()


# ---- every page at 800 and 1400 px ---------------------------------------------------------------


def _show_main_task(page, name: str, tmp_path: Path) -> None:
    """Fill a page the way a person would before looking at it (results, not empty forms)."""
    if name == "predict":
        page.get_by_role("button", name="Pin this recipe").click()
        page.get_by_text("Pinned recipes (1 of 4)").wait_for(timeout=STEP_TIMEOUT_MS)
    elif name == "batch":
        recipes = tmp_path / "recipes.csv"
        names = colorants()
        recipes.write_text(
            "name," + ",".join(names) + ",thickness_um\nfirst," + ",".join(["1"] * len(names)) + ",10\n"
            "second," + ",".join(["0.5"] * len(names)) + ",8\nthird,abc" + ",0" * (len(names) - 1) + ",8\n",
            encoding="utf-8",
        )
        page.locator("input[type=file]").first.set_input_files(str(recipes))
        page.get_by_text("Download predictions (CSV)").wait_for(timeout=STEP_TIMEOUT_MS)
    elif name == "formulate":
        page.get_by_role("button", name="Find recipes").click()
        page.get_by_text(re.compile(r"^Recipe 1: ΔE00")).wait_for(timeout=STEP_TIMEOUT_MS)
    elif name == "plan":
        page.get_by_role("button", name="Plan experiments").click()
        page.get_by_text(re.compile(r"^\d+ recipes to make next")).wait_for(timeout=STEP_TIMEOUT_MS)


def test_every_page_is_readable_at_800_and_1400_px(browser, server, sync_api, tmp_path):
    problems, favicons = [], set()
    for width in WIDTHS:
        page = new_page(browser, width=width, height=1600)
        for name in PAGES:
            open_app(sync_api, page, f"{server['url']}/{'' if name == 'predict' else name}")
            page.get_by_test_id("stMainBlockContainer").get_by_role("heading").first.wait_for(timeout=STEP_TIMEOUT_MS)
            settle(page)
            _show_main_task(page, name, tmp_path)
            settle(page)
            page.wait_for_timeout(500)  # charts and tables draw after the run ends
            assert_no_traceback(page, f"{name} at {width} px")
            problems += [f"{name} at {width} px: {problem}" for problem in page.evaluate(CUT_OFF_JS) + page.evaluate(WIDE_JS)]
            tables = page.evaluate(TABLES_JS)
            problems += [f"{name} at {width} px: table header cut: {cut}" for cut in cut_headers(tables)]
            problems += [f"{name} at {width} px: chart labels overlap: {pair}" for pair in page.evaluate(CHART_LABELS_OVERLAP_JS)]
            if name == "batch" and width == 800:
                # The colour and how far to trust it show first, before any sideways scroll (not only the inputs).
                [results] = [table for table in tables if "uncertainty_delta_e00" in [column["name"] for column in table["columns"]]]
                visible = fully_visible_columns(results)
                missing = [column for column in batch.READER_FIRST_COLUMNS[:4] if column not in visible]
                if missing:
                    problems.append(f"batch at 800 px: {missing} not among the first visible columns {visible}")
            favicons.add(page.evaluate("() => document.querySelector('link[rel~=\"icon\"]')?.href || ''"))
            ARTEFACTS.mkdir(exist_ok=True)
            page.mouse.move(0, 0)  # no tooltip left over from the last click
            page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)")  # from the title down
            page.wait_for_timeout(300)
            page.screenshot(path=str(ARTEFACTS / f"ux-{name}-{width}.png"))
        page.context.close()
    assert not problems, "\n".join(problems)
    # Each page sets the local favicon; none is fetched from a font CDN.
    assert favicons and all(href.startswith(server["url"]) for href in favicons), favicons
